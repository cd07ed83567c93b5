"""What a registered component is: one spec type per kind, its parameters and documented facts.

A plugin's table registers a component thinly and lazily (name, a ``"module:attr"`` factory
string, a one-line summary, aliases, presets, tags and the few kind-specific fields below); the
facts about it live beside its code and are read only when asked for (``zoo info``, the docs):

* ``@describe(formula=..., citation=..., test=...)`` on the implementation (function or class);
* its docstring: the description, and parameter docs in an ``Args:`` section (Google style;
  NumPy and reST styles are read too);
* its signature: parameter names, defaults and types.

Spec types: :class:`LossSpec` (``inputs``, ``uses_encoder`` and the loss battery's sampling
hints), :class:`ModelSpec`, :class:`EncoderSpec`, :class:`DatasetSpec` (``items``),
:class:`MetricSpec` (``direction``, ``needs_mask``, ``parts``) and :class:`RecipeSpec` (a TOML
file whose ``description`` key is its summary).
"""
from __future__ import annotations

import inspect
import re
import warnings
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping, TypeVar

import docstring_parser

from .config import load_toml
from .errors import PluginError, ZooError
from .importing import import_object

KINDS = ("losses", "models", "encoders", "datasets", "metrics", "recipes")
SINGULAR = {"losses": "loss", "models": "model", "encoders": "encoder", "datasets": "dataset",
            "metrics": "metric", "recipes": "recipe"}
NAME_RE = re.compile(r"^[a-z0-9]+(?:[-+_][a-z0-9]+)*$")
PRESET_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")

T = TypeVar("T")


# ------------------------------------------------------------------------------------ facts
@dataclass(frozen=True)
class Facts:
    """What is known about an implementation beyond its code: formula, citation, reference test."""

    formula: str = ""
    citation: str = ""
    test: str = ""


FACTS_ATTR = "__zoo_facts__"


def describe(*, formula: str = "", citation: str = "", test: str = "") -> Callable[[T], T]:
    """Attach the facts of a component to its implementation (a function or a class)::

        @describe(formula="mean |pred - target|", citation="(classical)",
                  test="tests/losses/test_pixel.py::test_matches_torch")
        def l1_loss(pred, target, *, reduction="mean"): ...

    ``zoo info``, ``docs/losses.md`` and the registry read them from there; the plugin table
    does not repeat them.  :func:`zoo.losses.module.loss_module` hands a function's facts on to
    the module it generates.
    """
    facts = Facts(formula=formula, citation=citation, test=test)

    def mark(obj: T) -> T:
        setattr(obj, FACTS_ATTR, facts)
        return obj

    return mark


def facts_of(obj: Any) -> Facts:
    """The facts attached to ``obj`` itself by :func:`describe` (not inherited from a base)."""
    try:
        own = vars(obj)
    except TypeError:
        return Facts()
    found = own.get(FACTS_ATTR)
    return found if isinstance(found, Facts) else Facts()


@dataclass(frozen=True)
class Documentation:
    """A factory's docstring, split: the description and the documented parameters."""

    description: str = ""
    params: Mapping[str, str] = field(default_factory=dict)


def _docstrings(obj: Any) -> list[str]:
    """The docstrings that document ``obj``: its own, then (classes) its ``__init__``'s and its
    base classes' (for parameters they define, e.g. ``quantize`` of every metric)."""
    if not isinstance(obj, type):
        doc = getattr(obj, "__doc__", None) if callable(obj) else None
        return [inspect.cleandoc(doc)] if isinstance(doc, str) else []
    out = []
    for cls in obj.__mro__:
        if cls is object or cls.__module__ == "builtins":
            continue
        for doc in (vars(cls).get("__doc__"), getattr(vars(cls).get("__init__"), "__doc__", None)):
            if isinstance(doc, str):
                out.append(inspect.cleandoc(doc))
        if cls is obj and not out:
            out.append("")  # no own docstring: no description, whatever the bases say
    return out


def documentation(obj: Any) -> Documentation:
    """Description and ``Args:`` of a function or class.  The description is only ever the
    object's own docstring (never an inherited one); parameter docs are gathered from the
    class, its ``__init__`` and its bases, the nearest first."""
    description, params = "", {}
    for i, text in enumerate(_docstrings(obj)):
        parsed = docstring_parser.parse(text)
        if i == 0:
            description = "\n\n".join(p for p in (parsed.short_description,
                                                  parsed.long_description) if p)
        for p in parsed.params:  # "a, b: shared doc" documents both
            for arg in (a.strip() for a in p.arg_name.split(",")):
                if p.description and arg and arg not in params:
                    params[arg] = " ".join(p.description.split())
    return Documentation(description, params)


# ------------------------------------------------------------------------------------ params
@dataclass(frozen=True)
class Param:
    """One keyword argument of a component: name, default, type name and a short description;
    ``required``: the factory's signature gives it no default (``default`` is then None)."""

    name: str
    default: Any = None
    type: str = "any"
    doc: str = ""
    required: bool = False


def _type_name(annotation: Any, default: Any) -> str:
    if annotation is not inspect.Parameter.empty:
        return annotation if isinstance(annotation, str) else getattr(
            annotation, "__name__", str(annotation))
    return type(default).__name__ if default is not None else "any"


def signature_params(factory: Any) -> tuple[Param, ...]:
    """Keyword parameters read from a factory's signature (``*args``/``**kwargs`` skipped)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return ()
    out = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "self":
            continue
        required = p.default is inspect.Parameter.empty
        default = None if required else p.default
        out.append(Param(p.name, default, _type_name(p.annotation, default), required=required))
    return tuple(out)


# ------------------------------------------------------------------------------------ legacy extra
class LegacyExtra(dict):
    """``spec.extra``: plugin-private data, plus read access to the keys that became typed fields.

    ``register(..., extra={"needs_mask": True})`` still works (the key is moved onto the typed
    field, with a DeprecationWarning), and so does reading ``spec.extra["needs_mask"]``: the
    typed field's value is returned, with a DeprecationWarning naming the field to use.
    """

    def __init__(self, spec: "Spec", data: Mapping[str, Any]):
        super().__init__(data)
        self._spec = spec

    def _typed(self, key: object) -> tuple[bool, Any]:
        mapping = type(self._spec).LEGACY_EXTRA
        if isinstance(key, str) and key in mapping and not dict.__contains__(self, key):
            attr = mapping[key]
            where = "facts().test" if attr == "test" else attr
            warnings.warn(f"spec.extra[{key!r}] is deprecated: read spec.{where}",
                          DeprecationWarning, stacklevel=3)
            if attr == "test":  # a fact: on the implementation unless registered
                return True, self._spec.facts().test
            return True, getattr(self._spec, attr)
        return False, None

    def __getitem__(self, key: Any) -> Any:
        found, value = self._typed(key)
        return value if found else dict.__getitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        found, value = self._typed(key)
        return value if found else dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        return self._typed(key)[0] or dict.__contains__(self, key)


# ------------------------------------------------------------------------------------ specs
@dataclass(kw_only=True, eq=False)
class Spec:
    """A registered component (the fields every kind shares).

    Attributes:
        name: canonical lowercase-hyphenated name.
        factory: a callable, or a lazy ``"package.module:attr"`` / ``"file.py:attr"`` string
            imported on first use (a file path is relative to the registering plugin's folder).
        doc: one-line summary shown by ``zoo list`` (so listing imports nothing); the long
            description is the factory's docstring.
        formula, citation, test: facts normally given on the implementation with
            :func:`describe`; a value given here wins.
        params: parameters, when the signature cannot tell them (``**kwargs`` factories); by
            default read from the factory's signature, their docs from its ``Args:`` section.
        aliases: other names resolving to this spec.
        presets: ``{"t": {...kwargs}}`` makes ``name.t`` build with those arguments.
        tags: free-form labels (``"pixel"``, ``"perceptual"``, ``"low-light"`` ...).
        extra: plugin-private data the zoo does not read (see :class:`LegacyExtra`).
        plugin: the plugin that registered it (filled in by the registry).
        origin: the registering plugin's folder (filled in by the registry).
        overrides: plugins whose spec of the same name this one replaces (``[override]``).
    """

    kind: ClassVar[str] = ""
    #: legacy ``extra`` keys -> typed field names
    LEGACY_EXTRA: ClassVar[dict[str, str]] = {"test": "test"}

    name: str
    factory: Any
    doc: str = ""
    formula: str = ""
    citation: str = ""
    test: str = ""
    params: tuple[Param, ...] | None = None
    aliases: tuple[str, ...] = ()
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    plugin: str = ""
    origin: Path | None = None
    overrides: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.extra = LegacyExtra(self, self.extra)

    # ----------------------------------------------------------------------------- construction
    @classmethod
    def registration_fields(cls) -> tuple[str, ...]:
        """The keyword fields ``register(name, factory, **fields)`` accepts for this kind."""
        internal = {"name", "factory", "plugin", "origin", "overrides"}
        return tuple(f.name for f in fields(cls) if f.name not in internal)

    @classmethod
    def from_registration(cls, name: str, factory: Any, meta: Mapping[str, Any], *,
                          plugin: str, origin: Path | None) -> "Spec":
        """Build a spec from ``register(name, factory, **meta)``, mapping a legacy ``extra``
        dict onto the typed fields; raises :class:`PluginError` on unknown fields."""
        meta = dict(meta)
        allowed = cls.registration_fields()
        unknown = sorted(set(meta) - set(allowed))
        if unknown:
            raise PluginError(f"plugin {plugin!r}: register({name!r}) got unknown field(s) "
                              f"{unknown}; {cls.kind} take: {', '.join(allowed)}")
        if factory is None:
            raise PluginError(f"plugin {plugin!r}: register({name!r}) needs a factory")
        extra = dict(meta.pop("extra", None) or {})
        for key, attr in cls.LEGACY_EXTRA.items():
            if key in extra:
                value = extra.pop(key)
                if attr not in meta:
                    meta[attr] = value
                warnings.warn(f"plugin {plugin!r}: register({name!r}, extra={{{key!r}: ...}}) is "
                              f"deprecated: pass {attr}=... instead", DeprecationWarning,
                              stacklevel=3)  # the plugin's hook
        for key in ("aliases", "inputs", "tags", "parts", "items"):
            if meta.get(key) is not None:
                meta[key] = tuple(meta[key])
        if meta.get("params") is not None:
            meta["params"] = tuple(p if isinstance(p, Param) else Param(**p)
                                   for p in meta["params"])
        spec = cls(name=name, factory=factory, extra=extra, plugin=plugin, origin=origin, **meta)
        spec.validate()
        return spec

    def validate(self) -> None:
        """Raise :class:`PluginError` if the registration is malformed."""
        if not isinstance(self.name, str) or not NAME_RE.match(self.name):
            raise PluginError(f"plugin {self.plugin!r}: invalid {SINGULAR[self.kind]} name "
                              f"{self.name!r} (lowercase letters, digits and '-', '+', '_')")
        for alias in self.aliases:
            if not NAME_RE.match(alias):
                raise PluginError(f"plugin {self.plugin!r}: invalid alias {alias!r} of "
                                  f"{self.name!r}")
        for preset in self.presets:
            if not PRESET_RE.match(preset):
                raise PluginError(f"plugin {self.plugin!r}: invalid preset name "
                                  f"{self.name}.{preset}")

    # ----------------------------------------------------------------------------- resolution
    def is_lazy(self) -> bool:
        return isinstance(self.factory, str)

    def resolve(self) -> Any:
        """The factory itself, importing it if it was registered lazily."""
        if isinstance(self.factory, str):
            try:
                self.factory = import_object(self.factory, self.origin)
            except Exception as e:  # ImportError, AttributeError, or the module raising
                raise PluginError(f"{SINGULAR[self.kind]} {self.name!r} from plugin "
                                  f"{self.plugin!r}: cannot import {self.factory!r}: "
                                  f"{type(e).__name__}: {e}") from e
        return self.factory

    def build(self, kwargs: Mapping[str, Any]) -> Any:
        """Call the factory with the merged keyword arguments."""
        return self.resolve()(**kwargs)

    # ----------------------------------------------------------------------------- documentation
    def documentation(self) -> Documentation:
        return documentation(self.resolve())

    def facts(self) -> Facts:
        """Formula, citation and reference test: the registration's, else the implementation's."""
        impl = facts_of(self.resolve())
        return Facts(formula=self.formula or impl.formula, citation=self.citation or impl.citation,
                     test=self.test or impl.test)

    def description(self) -> str:
        """The long description: the factory's docstring, else the registered summary."""
        return self.documentation().description or self.doc.strip()

    def summary(self) -> str:
        """One line for ``zoo list``; never imports a lazily registered factory."""
        if self.doc:
            return self.doc.strip().splitlines()[0]
        if self.is_lazy():
            return ""
        return (self.description().splitlines() or [""])[0]

    def parameters(self) -> tuple[Param, ...]:
        """Keyword parameters with defaults, types and the docs of the factory's docstring."""
        docs = self.documentation().params
        params = self.params if self.params is not None else signature_params(self.resolve())
        return tuple(p if p.doc or p.name not in docs else
                     Param(p.name, p.default, p.type, docs[p.name], p.required) for p in params)

    def accepts_any_kwargs(self) -> bool:
        try:
            sig = inspect.signature(self.resolve())
        except (TypeError, ValueError):
            return True
        return any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())

    def info_fields(self) -> Iterator[tuple[str, str]]:
        """Kind-specific ``label: value`` lines that ``zoo info`` shows."""
        return iter(())


#: the loss convention for ``reduction`` (zoo/losses/base.py), documented once
REDUCTION_DOC = "mean (a scalar), sum, or none (one value per image, shape (B,))."


@dataclass(kw_only=True, eq=False)
class LossSpec(Spec):
    """A loss: an ``nn.Module`` factory whose ``forward(*inputs)`` returns a value to minimise.

    Attributes:
        inputs: names of the forward arguments, in order (a recipe's loss term maps tensors
            onto them).
        uses_encoder: the loss compares features of a perceptual encoder.
        sample_inputs: ``"module:function"`` building the loss battery's inputs when they are
            not images (see :mod:`zoo.losses.samples`).
        sample_kwargs: options the battery builds the loss with (e.g. a small SSIM window).
        sample_size: the smallest image side the battery may use with ``sample_kwargs``.
    """

    kind: ClassVar[str] = "losses"
    LEGACY_EXTRA: ClassVar[dict[str, str]] = {
        **Spec.LEGACY_EXTRA, "uses_encoder": "uses_encoder", "sample_inputs": "sample_inputs",
        "sample_kwargs": "sample_kwargs", "min_size": "sample_size"}

    inputs: tuple[str, ...] = ("pred", "target")
    uses_encoder: bool = False
    sample_inputs: str = ""
    sample_kwargs: dict[str, Any] = field(default_factory=dict)
    sample_size: int = 0

    def parameters(self) -> tuple[Param, ...]:
        return tuple(Param(p.name, p.default, p.type, REDUCTION_DOC, p.required)
                     if p.name == "reduction" and not p.doc else p for p in super().parameters())

    def info_fields(self) -> Iterator[tuple[str, str]]:
        yield "inputs", ", ".join(self.inputs)
        if self.uses_encoder:
            yield "encoder", "compares perceptual-encoder features"


@dataclass(kw_only=True, eq=False)
class ModelSpec(Spec):
    """A restoration network (or discriminator): an ``nn.Module`` factory."""

    kind: ClassVar[str] = "models"


@dataclass(kw_only=True, eq=False)
class EncoderSpec(Spec):
    """A perceptual encoder: images in [0, 1] -> list of feature maps."""

    kind: ClassVar[str] = "encoders"


@dataclass(kw_only=True, eq=False)
class DatasetSpec(Spec):
    """A ``torch.utils.data.Dataset`` factory of dict samples.

    Attributes:
        items: the keys of every sample (``("input", "gt", "name")``).
    """

    kind: ClassVar[str] = "datasets"
    LEGACY_EXTRA: ClassVar[dict[str, str]] = {**Spec.LEGACY_EXTRA, "items": "items"}

    items: tuple[str, ...] = ()

    def info_fields(self) -> Iterator[tuple[str, str]]:
        if self.items:
            yield "items", ", ".join(self.items)


DIRECTIONS = ("higher", "lower")


@dataclass(kw_only=True, eq=False)
class MetricSpec(Spec):
    """A metric: ``metric(pred, gt, mask=None)`` gives one value per image.

    Attributes:
        direction: ``"higher"`` or ``"lower"``: which is better (required).
        needs_mask: the metric needs the batch's ``mask`` (Flare7K colour-code mask).
        parts: names of the metrics this one combines (``flare-score``: the three region PSNRs).
    """

    kind: ClassVar[str] = "metrics"
    LEGACY_EXTRA: ClassVar[dict[str, str]] = {**Spec.LEGACY_EXTRA, "needs_mask": "needs_mask",
                                              "parts": "parts"}

    direction: str = ""
    needs_mask: bool = False
    parts: tuple[str, ...] = ()

    def validate(self) -> None:
        super().validate()
        if self.direction not in DIRECTIONS:
            raise PluginError(f"plugin {self.plugin!r}: metric {self.name!r} needs "
                              f"direction='higher' or 'lower'")

    def info_fields(self) -> Iterator[tuple[str, str]]:
        yield "better", self.direction
        if self.needs_mask:
            yield "needs", "the batch's mask"
        if self.parts:
            yield "parts", ", ".join(self.parts)


@dataclass(kw_only=True, eq=False)
class RecipeSpec(Spec):
    """A recipe: a TOML file of training stages (or a callable returning the same dict).

    A relative path is relative to the registering plugin's folder.  Its summary is the file's
    ``description`` key.
    """

    kind: ClassVar[str] = "recipes"

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.factory, (str, Path)):
            path = Path(self.factory)
            if not path.is_absolute() and self.origin is not None:
                path = self.origin / path
            self.factory = path

    def is_lazy(self) -> bool:
        return False

    def resolve(self) -> Any:
        return self.factory

    def build(self, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(self.factory, Path):
            return load_toml(self.factory)
        return self.factory(**kwargs)

    @cached_property
    def _file_description(self) -> str:
        try:
            value = load_toml(self.factory).get("description", "")
        except ZooError:
            return ""
        return value if isinstance(value, str) else ""

    def description(self) -> str:
        if isinstance(self.factory, Path):
            return self._file_description or self.doc.strip()
        return super().description()

    def summary(self) -> str:
        if self.doc:
            return self.doc.strip().splitlines()[0]
        return (self.description().splitlines() or [""])[0]

    def parameters(self) -> tuple[Param, ...]:
        return () if isinstance(self.factory, Path) else super().parameters()

    def facts(self) -> Facts:
        if isinstance(self.factory, Path):
            return Facts(self.formula, self.citation, self.test)
        return super().facts()

    def info_fields(self) -> Iterator[tuple[str, str]]:
        if isinstance(self.factory, Path):
            yield "file", str(self.factory)


SPEC_TYPES: dict[str, type[Spec]] = {cls.kind: cls for cls in (
    LossSpec, ModelSpec, EncoderSpec, DatasetSpec, MetricSpec, RecipeSpec)}
