"""TOML configuration: loading with one-line errors, ``--set key=value`` overrides, and the
registry configuration (``registry.toml``).

Every error raised here is a :class:`zoo.errors.ConfigError` whose message names the file, the
line (where known) and the key, so the CLI can print it on one line.
"""
from __future__ import annotations

import copy
import difflib
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, TypeVar

from .errors import ConfigError

__all__ = [
    "load_toml",
    "locate_key",
    "apply_overrides",
    "parse_override",
    "parse_overrides",
    "with_context",
    "RegistryConfig",
    "load_registry_config",
    "PACKAGED_REGISTRY",
]

PACKAGED_REGISTRY = "default_registry.toml"


def load_toml(path: str | Path) -> dict:
    """Read a TOML file; a missing or malformed file raises ConfigError naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read ({e})") from None
    return loads_toml(text, path)


def loads_toml(text: str, path: str | Path = "<string>") -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib puts "(at line L, column C)" at the end of its message.
        raise ConfigError(f"{path}: invalid TOML: {e}") from None


def locate_key(path: str | Path | None, dotted: str) -> str:
    """Return ``"file:line"`` for a dotted key, best effort (the line of its table or assignment)."""
    if path is None:
        return "<config>"
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return str(path)
    parts = dotted.split(".")
    last = re.escape(parts[-1])
    table = re.escape(".".join(parts[:-1]))
    pats = [
        rf"^\s*\[\[?\s*{re.escape(dotted)}\s*\]\]?\s*(#.*)?$",  # [a.b.c]
        rf"^\s*[\"']?{last}[\"']?\s*=",  # c = ...
        rf"^\s*\[\[?\s*{table}\s*\]\]?" if table else r"(?!)",
    ]
    for pat in pats:
        for i, line in enumerate(lines, 1):
            if re.search(pat, line):
                return f"{path}:{i}"
    return str(path)


# --------------------------------------------------------------------------------------- overrides
def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key.path=value``; the value is read as a TOML value, else kept as a plain string.

    The one parser of ``KEY=VALUE`` options: ``zoo run recipe --set``, ``zoo compare --set`` and
    ``zoo infer --set`` all read their values this way (``true``, ``3``, ``0.5``, ``[1, 2]``,
    ``{a = 1}``, or a bare string such as ``some/path.pt``)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE")
    key, raw = text.split("=", 1)
    key, raw = key.strip(), raw.strip()
    if not key:
        raise ConfigError(f"--set {text!r}: empty key")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def parse_overrides(items: Iterable[str], *, source: str = "--set") -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (keyword arguments given as ``--set``)."""
    out: dict[str, Any] = {}
    for item in items:
        try:
            key, value = parse_override(item)
        except ConfigError as e:
            raise ConfigError(str(e).replace("--set", source, 1)) from None
        out[key] = value
    return out


_E = TypeVar("_E", bound=BaseException)


def with_context(error: _E, where: str) -> _E:
    """The same exception, its message prefixed by where it happened (a file, a key, a
    component), for re-raising: ``raise with_context(e, "data.train") from None``.  The type is
    kept (an :class:`~zoo.errors.UnknownNameError` stays one)."""
    error.args = (f"{where}: {error}",) + tuple(error.args[1:])
    error.__suppress_context__ = True
    return error


def _type_ok(old: Any, new: Any) -> tuple[bool, Any]:
    if old is None:
        return True, new
    if isinstance(old, bool):
        return isinstance(new, bool), new
    if isinstance(old, float) and isinstance(new, int) and not isinstance(new, bool):
        return True, float(new)
    if isinstance(old, int) and not isinstance(old, bool):
        return isinstance(new, int) and not isinstance(new, bool), new
    if isinstance(old, str):
        return True, str(new) if isinstance(new, (int, float)) and not isinstance(new, bool) else new
    if isinstance(old, list):
        return isinstance(new, list), new
    if isinstance(old, dict):
        return isinstance(new, dict), new
    return type(old) is type(new), new


def apply_overrides(cfg: dict, overrides: Iterable[str | tuple[str, Any]], *,
                    source: str = "--set", allow_new: Iterable[str] = ()) -> dict:
    """Return a deep copy of ``cfg`` with ``key.path=value`` overrides applied.

    Only existing keys may be overridden (prefixes listed in ``allow_new`` excepted), and the new
    value must have the old value's type (an int is accepted where a float was).  Errors name the
    key and suggest close matches.
    """
    out = copy.deepcopy(cfg)
    allow_new = tuple(allow_new)
    for item in overrides:
        key, value = parse_override(item) if isinstance(item, str) else item
        parts = key.split(".")
        node = out
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node, dict):
                raise ConfigError(f"{source} {key}: {'.'.join(parts[:depth])} is not a table")
            if part not in node:
                if any(key.startswith(p) for p in allow_new):
                    node[part] = {}
                else:
                    raise ConfigError(f"{source} {key}: unknown key {'.'.join(parts[:depth + 1])!r}"
                                      + _suggest(part, node))
            node = node[part]
        leaf = parts[-1]
        if not isinstance(node, dict):
            raise ConfigError(f"{source} {key}: {'.'.join(parts[:-1])} is not a table")
        if leaf not in node:
            if any(key.startswith(p) for p in allow_new):
                node[leaf] = value
                continue
            raise ConfigError(f"{source} {key}: unknown key" + _suggest(leaf, node))
        ok, coerced = _type_ok(node[leaf], value)
        if not ok:
            raise ConfigError(f"{source} {key}={value!r}: expected {type(node[leaf]).__name__} "
                              f"like the current value {node[leaf]!r}, got {type(value).__name__}")
        node[leaf] = coerced
    return out


def _suggest(word: str, node: Mapping) -> str:
    close = difflib.get_close_matches(word, [str(k) for k in node], n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(map(str, node)) or 'none'})"


# ------------------------------------------------------------------------------- registry.toml
_REGISTRY_KEYS = {"plugins", "aliases", "defaults"}
_PLUGIN_KEYS = {"disabled", "local"}


@dataclass
class RegistryConfig:
    """The merged registry configuration: packaged default, then the project's ``registry.toml``.

    * ``[plugins] disabled = [...]`` plugin names not to load (built-ins included);
    * ``[plugins] local = [...]`` python files (relative to the TOML file) or dotted module names
      holding ``@hookimpl`` functions, loaded as plugins without packaging;
    * ``[aliases.<kind>] alias = "name"`` extra names;
    * ``[defaults.<kind>.<name>] arg = value`` default keyword arguments.
    """

    disabled: set[str] = field(default_factory=set)
    local: list[tuple[str, Path]] = field(default_factory=list)  # (spec, base dir)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def merge(self, data: dict, path: Path | None) -> None:
        where = str(path) if path else "<registry>"
        for key in data:
            if key not in _REGISTRY_KEYS:
                raise ConfigError(f"{locate_key(path, key)}: unknown section [{key}] in registry "
                                  f"configuration{_suggest(key, dict.fromkeys(_REGISTRY_KEYS))}")
        plugins = data.get("plugins", {})
        if not isinstance(plugins, dict):
            raise ConfigError(f"{locate_key(path, 'plugins')}: 'plugins' must be a table")
        for key in plugins:
            if key not in _PLUGIN_KEYS:
                raise ConfigError(f"{locate_key(path, 'plugins.' + key)}: unknown key plugins.{key}"
                                  f"{_suggest(key, dict.fromkeys(_PLUGIN_KEYS))}")
        for key in ("disabled", "local"):
            val = plugins.get(key, [])
            if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
                raise ConfigError(f"{locate_key(path, 'plugins.' + key)}: plugins.{key} must be a "
                                  f"list of strings")
        self.disabled |= set(plugins.get("disabled", []))
        base = path.parent if path else Path.cwd()
        self.local += [(m, base) for m in plugins.get("local", [])]
        for section in ("aliases", "defaults"):
            table = data.get(section, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{locate_key(path, section)}: '{section}' must be a table")
            for kind, entries in table.items():
                if not isinstance(entries, dict):
                    raise ConfigError(f"{locate_key(path, f'{section}.{kind}')}: {section}.{kind} "
                                      f"must be a table")
                target = getattr(self, section).setdefault(kind, {})
                for name, value in entries.items():
                    if section == "aliases" and not isinstance(value, str):
                        raise ConfigError(f"{locate_key(path, name)}: aliases.{kind}.{name} must "
                                          f"be a string naming a registered {kind.rstrip('s')}")
                    if section == "defaults" and not isinstance(value, dict):
                        raise ConfigError(f"{locate_key(path, f'defaults.{kind}.{name}')}: "
                                          f"defaults.{kind}.{name} must be a table of arguments")
                    if section == "defaults":
                        target.setdefault(name, {}).update(value)
                    else:
                        target[name] = value
        self.sources.append(where)


def load_registry_config(path: str | Path | None = None, *, use_cwd: bool = True) -> RegistryConfig:
    """Packaged ``default_registry.toml``, then ``path`` (or ``./registry.toml`` if present)."""
    cfg = RegistryConfig()
    packaged = resources.files("zoo").joinpath(PACKAGED_REGISTRY)
    cfg.merge(loads_toml(packaged.read_text(encoding="utf-8"), f"zoo/{PACKAGED_REGISTRY}"), None)
    cfg.sources[-1] = f"zoo/{PACKAGED_REGISTRY} (packaged)"
    if path is None and use_cwd and Path("registry.toml").is_file():
        path = Path("registry.toml")
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: registry file not found")
        cfg.merge(load_toml(path), path.resolve())
    return cfg
