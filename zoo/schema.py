"""Declarative TOML tables: each key is a dataclass field whose metadata is a :class:`Setting`.

A :class:`Setting` says what a key holds (its kind: text, integer, number, flag, table, list of
names or integers, a pair of numbers, a nested table class, or a value its own ``check``
reads), its range or choices, its TOML name where that differs from the field name, and its
doc line.  One reader, :func:`read_table`, turns a TOML table into field values (an unknown key
refused with a did-you-mean, a wrong type or an out-of-range value refused naming the file and
the key); :class:`Schema`'s ``__post_init__`` runs the same :meth:`Setting.read` on every
construction, so ``dataclasses.replace`` cannot make an invalid object either.

The recipe tables (:mod:`zoo.engine.spec`), a loss :class:`~zoo.losses.term.Term`, the
``zoo compare`` settings and run options (:mod:`zoo.compare.settings`) and the registry
configuration's ``[plugins]`` table (:mod:`zoo.config`) are such classes; docs/recipes.md and
docs/compare.md document every key (``tests/test_schema.py`` checks both directions).

Fields without a :class:`Setting` are not TOML keys (a recipe's ``source``, a stage's name).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

from zoo.errors import ConfigError, suggestion

#: The largest integer a TOML file holds (TOML integers are 64-bit).
INT64 = 2**63 - 1
#: The metadata key of a field's :class:`Setting`.
KEY = "zoo.schema"

#: ``check(value, where, key) -> value to keep``: a check beyond the kind's.
Check = Callable[[Any, str, str], Any]


@dataclass(frozen=True)
class Setting:
    """What one TOML key holds; :meth:`read` is the one check of a value.

    ``kind``: ``text``, ``int``, ``number``, ``flag``, ``table`` (free keys), ``names``,
    ``ints``, ``pair`` (two numbers), ``nested`` (a :class:`Schema` table, ``nested`` its
    class) or ``custom`` (read by ``check`` alone, or, without one, by the owning class's
    ``parse``).  ``low`` / ``high`` bound integers and numbers, ``finite`` refuses infinities,
    ``choices`` lists a text's values, ``optional`` allows ``None`` (the key not given);
    ``check(value, where, key)`` runs after the kind's check and returns the value to keep."""

    kind: str
    doc: str
    low: float = -math.inf
    high: float = math.inf
    choices: tuple[str, ...] = ()
    toml: str | None = None
    optional: bool = False
    finite: bool = False
    nested: type | None = None
    check: Check | None = None

    def read(self, value: Any, where: str, key: str) -> Any:
        """``value`` checked and converted (lists to tuples, integers to floats for numbers);
        else a :class:`ConfigError` ``"<where>: <key> must be ..., got <value>"``."""
        if value is None and self.optional:
            return None
        out = self._kind(value, where, key)
        return self.check(out, where, key) if self.check is not None else out

    def _kind(self, value: Any, where: str, key: str) -> Any:
        kind, out, ok = self.kind, value, True
        if kind == "text":
            ok = isinstance(value, str)
            if ok and self.choices and value not in self.choices:
                raise error(where, key, value, f"must be one of {', '.join(self.choices)}")
            message = "must be a string"
        elif kind == "int":
            low, high = int(self.low), int(min(self.high, INT64))
            ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
            span = f"in [{low}, {high}]" if high != INT64 else \
                f">= {low} (and < 2**63)" if isinstance(value, int) and value > INT64 else \
                f">= {low}"
            message = f"must be an integer {span}"
        elif kind == "number":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
                and self.low <= value <= self.high and (math.isfinite(value) or not self.finite)
            span = f"in [{self.low:g}, {self.high:g}]" if math.isfinite(self.high) else \
                f">= {self.low:g}" if math.isfinite(self.low) else "finite"
            message = f"must be a {'finite ' if self.finite else ''}number {span}"
            out = float(value) if ok else value
        elif kind == "flag":
            ok = isinstance(value, bool)
            message = "must be true or false"
        elif kind == "table":
            ok = isinstance(value, Mapping)
            out = dict(value) if ok else value
            message = "must be a table"
        elif kind == "names":
            ok = not isinstance(value, str) and isinstance(value, (list, tuple)) \
                and all(isinstance(v, str) for v in value)
            out = tuple(value) if ok else value
            message = "must be a list of names"
        elif kind == "ints":
            ok = isinstance(value, (list, tuple)) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value)
            out = tuple(value) if ok else value
            message = "must be a list of integers"
        elif kind == "pair":
            ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            out = (float(value[0]), float(value[1])) if ok else value
            message = "must be two numbers [low, high]"
        elif kind == "nested":
            assert self.nested is not None
            return value if isinstance(value, self.nested) else \
                self.nested.parse(value, subtable(where, key))  # type: ignore[attr-defined]
        elif kind == "custom":
            return value
        else:
            raise AssertionError(f"unknown setting kind {kind!r}")
        if not ok:
            raise error(where, key, value, message)
        return out


def error(where: str, key: str, value: Any, message: str) -> ConfigError:
    """The one shape of a bad value: ``<where>: <key> <message>, got <value>``."""
    return ConfigError(f"{where}: {key} {message}, got {value!r}")


def subtable(where: str, key: str) -> str:
    """How errors name table ``key`` inside ``where``: ``file: key`` at the top of a file,
    ``file: a.b.key`` below."""
    return f"{where}.{key}" if ": " in where else f"{where}: {key}"


# ------------------------------------------------------------------------------ declaring
def _field(kind: str, doc: str, default: Any = dataclasses.MISSING, *,
           factory: Any = dataclasses.MISSING, **facts: Any) -> Any:
    meta = {KEY: Setting(kind, doc, **facts)}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def text(default: Any = dataclasses.MISSING, doc: str = "", *, choices: Iterable[str] = (),
         optional: bool = False, check: Check | None = None, toml: str | None = None) -> Any:
    """A string key (one of ``choices`` when given)."""
    return _field("text", doc, default, choices=tuple(choices), optional=optional, check=check,
                  toml=toml)


def integer(default: Any = dataclasses.MISSING, doc: str = "", *, low: int = 0,
            high: int = INT64, optional: bool = False, toml: str | None = None) -> Any:
    """An integer key in ``[low, high]``."""
    return _field("int", doc, default, low=low, high=high, optional=optional, toml=toml)


def number(default: Any = dataclasses.MISSING, doc: str = "", *, low: float = -math.inf,
           high: float = math.inf, finite: bool = False, optional: bool = False,
           toml: str | None = None) -> Any:
    """A number key (an integer is read as a float) in ``[low, high]``."""
    return _field("number", doc, default, low=low, high=high, finite=finite,
                  optional=optional, toml=toml)


def flag(default: Any = dataclasses.MISSING, doc: str = "", *, toml: str | None = None) -> Any:
    """A true / false key."""
    return _field("flag", doc, default, toml=toml)


def table(doc: str = "", *, check: Check | None = None, toml: str | None = None) -> Any:
    """A table of free keys (a component's keyword arguments); default empty."""
    return _field("table", doc, factory=dict, check=check, toml=toml)


def names(default: tuple[str, ...] = (), doc: str = "", *, toml: str | None = None) -> Any:
    """A list of names (kept as a tuple)."""
    return _field("names", doc, default, toml=toml)


def ints(doc: str = "", *, toml: str | None = None) -> Any:
    """A list of integers (kept as a tuple); default empty."""
    return _field("ints", doc, (), toml=toml)


def pair(default: tuple[float, float], doc: str = "", *, toml: str | None = None) -> Any:
    """Two numbers ``[low, high]``."""
    return _field("pair", doc, default, toml=toml)


def nested(cls: type, doc: str = "", *, optional: bool = False,
           toml: str | None = None) -> Any:
    """A sub-table read by ``cls.parse``: default ``cls()``, or ``None`` when ``optional``."""
    if optional:
        return _field("nested", doc, None, nested=cls, optional=True, toml=toml)
    return _field("nested", doc, factory=cls, nested=cls, toml=toml)


def custom(default: Any = dataclasses.MISSING, doc: str = "", *, factory: Any = dataclasses.MISSING,
           check: Check | None = None, toml: str | None = None) -> Any:
    """A key read by ``check(value, where, key)`` (a plan, loss terms, a union of types), or,
    without ``check``, by its class's ``parse`` alone; named and documented here."""
    return _field("custom", doc, default, factory=factory, check=check, toml=toml)


# ------------------------------------------------------------------------------ reading
def settings(cls: Any) -> Iterator[tuple[dataclasses.Field, Setting]]:
    """(field, setting) of every TOML key of a dataclass (or instance), in declaration order."""
    for f in dataclasses.fields(cls):
        setting = f.metadata.get(KEY)
        if setting is not None:
            yield f, setting


def toml_name(f: dataclasses.Field, setting: Setting) -> str:
    return setting.toml or f.name


def keys(cls: Any) -> tuple[str, ...]:
    """The TOML keys of a schema class, in declaration order."""
    return tuple(toml_name(f, s) for f, s in settings(cls))


def setting_of(cls: Any, key: str) -> Setting | None:
    """The setting of TOML key ``key`` of ``cls`` (``None``: not one of its keys)."""
    for f, s in settings(cls):
        if toml_name(f, s) == key:
            return s
    return None


def check_keys(data: Any, where: str, known: Iterable[str]) -> Mapping[str, Any]:
    """``data`` if it is a table whose keys are all ``known``; else the one-line error."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    known = tuple(known)
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}{suggestion(str(key), known)}")
    return data


def _readable(s: Setting) -> bool:
    return s.kind != "custom" or s.check is not None


def read_table(cls: Any, data: Any, where: str, *, extra: Iterable[str] = ()) -> dict[str, Any]:
    """The field values of ``cls`` read from TOML table ``data``: keys checked (``extra`` ones
    are accepted too, for the caller to read), each given key read by its :class:`Setting`
    (``custom`` keys without a ``check`` are left to the caller); keys not given are left out,
    so the field's default applies."""
    check_keys(data, where, (*keys(cls), *extra))
    out: dict[str, Any] = {}
    for f, s in settings(cls):
        name = toml_name(f, s)
        if name in data and _readable(s):
            out[f.name] = s.read(data[name], where, name)
    return out


def validate(obj: Any) -> None:
    """Check (and convert in place) every readable field of a schema object; the error names
    the class and the key.  :class:`Schema` calls it on every construction."""
    where = type(obj).__name__
    for f, s in settings(obj):
        if not _readable(s):
            continue
        value = getattr(obj, f.name)
        converted = s.read(value, where, toml_name(f, s))
        if converted is not value:
            object.__setattr__(obj, f.name, converted)


def dump(value: Any) -> Any:
    """A field value as TOML data: schema objects as tables, tuples as lists."""
    if isinstance(value, Schema):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [dump(v) for v in value]
    if isinstance(value, Mapping):
        return {k: dump(v) for k, v in value.items()}
    return value


class Schema:
    """Base of a schema dataclass: every construction (``replace`` included) is validated;
    :meth:`parse` reads a TOML table; :meth:`to_dict` writes one (``None`` values left out)."""

    def __post_init__(self) -> None:
        validate(self)

    @classmethod
    def parse(cls, data: Any, where: str) -> Any:
        return cls(**read_table(cls, data, where))

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f, s in settings(self):
            value = getattr(self, f.name)
            if value is not None:
                out[toml_name(f, s)] = dump(value)
        return out
