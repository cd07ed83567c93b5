"""TOML configuration: loading with one-line errors, ``--set key=value`` overrides, and the
registry configuration (``registry.toml``).

Every error raised here is a :class:`zoo.errors.ConfigError` whose message names the file, the
line (where known) and the key, so the CLI can print it on one line.
"""
from __future__ import annotations

import copy
import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, TypeVar

from .errors import ConfigError, suggestion
from .trust import TrustCheck, check as trust_check, digest, plugin_files

__all__ = [
    "load_toml",
    "locate_key",
    "apply_overrides",
    "parse_override",
    "with_context",
    "RegistryConfig",
    "RegistryFile",
    "SkippedRegistry",
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
    if isinstance(old, list):  # a string may stand for a list (a loss expression, freeze = "all")
        return isinstance(new, (list, str)), new
    if isinstance(old, dict):
        return isinstance(new, dict), new
    return type(old) is type(new), new


def _child(node: Any, part: str, key: str, done: str, source: str) -> tuple[bool, Any]:
    """``(found, value)`` of ``part`` in a table or, for a decimal ``part``, a list item."""
    if isinstance(node, dict):
        return (True, node[part]) if part in node else (False, None)
    if isinstance(node, list):
        if not part.isdigit():
            raise ConfigError(f"{source} {key}: {done} is a list; address an item by its "
                              f"index ({done}.0 ... {done}.{max(len(node) - 1, 0)})")
        if int(part) >= len(node):
            raise ConfigError(f"{source} {key}: {done} has {len(node)} item(s) (indices 0 to "
                              f"{len(node) - 1})")
        return True, node[int(part)]
    raise ConfigError(f"{source} {key}: {done} is not a table")


def apply_overrides(cfg: dict, overrides: Iterable[str | tuple[str, Any]], *,
                    source: str = "--set", allow_new: Iterable[str] = ()) -> dict:
    """Return a deep copy of ``cfg`` with ``key.path=value`` overrides applied.

    Only existing keys may be overridden (prefixes listed in ``allow_new`` excepted), and the new
    value must have the old value's type (an int is accepted where a float was; a string where
    a list was: the typed parser reading the result decides whether it stands for one).  A
    decimal key part indexes a list, from 0: ``stages.x.loss.0.weight=0.5`` sets the weight of
    the stage's first loss term.  Errors name the key and suggest close matches.
    """
    out = copy.deepcopy(cfg)
    allow_new = tuple(allow_new)
    for item in overrides:
        key, value = parse_override(item) if isinstance(item, str) else item
        parts = key.split(".")
        node: Any = out
        for depth, part in enumerate(parts[:-1]):
            done = ".".join(parts[:depth]) or "the configuration"
            found, child = _child(node, part, key, done, source)
            if not found:
                if not any(key.startswith(p) for p in allow_new):
                    raise ConfigError(f"{source} {key}: unknown key {'.'.join(parts[:depth + 1])!r}"
                                      + suggestion(part, node))
                node[part] = child = {}
            node = child
        leaf, done = parts[-1], ".".join(parts[:-1]) or "the configuration"
        found, old = _child(node, leaf, key, done, source)
        if not found:
            if any(key.startswith(p) for p in allow_new):
                node[leaf] = value
                continue
            raise ConfigError(f"{source} {key}: unknown key" + suggestion(leaf, node))
        ok, coerced = _type_ok(old, value)
        if not ok:
            raise ConfigError(f"{source} {key}={value!r}: expected {type(old).__name__} "
                              f"like the current value {old!r}, got {type(value).__name__}")
        node[int(leaf) if isinstance(node, list) else leaf] = coerced
    return out


# ------------------------------------------------------------------------------- registry.toml
_REGISTRY_KEYS = {"plugins", "aliases", "defaults", "override"}
_PLUGIN_KEYS = {"disabled", "local"}
REGISTRY_ENV = "ZOO_REGISTRY"
CWD_REGISTRY = "registry.toml"


@dataclass(frozen=True)
class RegistryFile:
    """A registry configuration file that was read: where, its content digest, and why it was
    read (``packaged``, ``named`` explicitly, ``trusted``, or ``no plugins``: a current-folder
    file listing no local plugins, which runs no code and needs no trust)."""

    path: str
    sha256: str
    role: str


@dataclass(frozen=True)
class SkippedRegistry:
    """A current-folder ``registry.toml`` not applied for want of trust: it lists local plugins
    or sets keys that change results (:func:`gated_keys`) and is not trusted, or was trusted and
    something it covers changed since (``changed`` names what)."""

    path: str
    sha256: str
    local: tuple[str, ...]
    reason: str  # "untrusted" or "changed" (trusted once, edited since)
    keys: tuple[str, ...] = ()  # the result-changing keys it sets besides plugins.local
    changed: tuple[str, ...] = ()

    def notice(self) -> str:
        """One line: the file, what it would have done, why it was skipped, what to do."""
        shown = os.path.relpath(self.path)
        shown = self.path if shown.startswith("..") else shown
        does = []
        if self.local:
            does.append(f"lists local plugins ({', '.join(self.local)})")
        if self.keys:
            does.append(f"sets {', '.join(self.keys)}")
        what = (f"has changed since it was trusted ({'; '.join(self.changed)})"
                if self.reason == "changed" else "is not trusted")
        return (f"{shown} {' and '.join(does)} and {what}: skipped. Trust it with "
                f"`zoo plugins trust {shown}`, or name it: `zoo --registry {shown} ...`")


@dataclass
class RegistryConfig:
    """The merged registry configuration: packaged default, then the project's ``registry.toml``.

    * ``[plugins] disabled = [...]`` plugin names not to load (built-ins included);
    * ``[plugins] local = [...]`` Python files (relative to the TOML file) or dotted module names
      (imported from ``sys.path`` as it is) holding ``@hookimpl`` functions, loaded as plugins;
    * ``[aliases.<kind>] alias = "name"`` extra names;
    * ``[defaults.<kind>.<name>] arg = value`` default keyword arguments;
    * ``[override.<kind>] name = "plugin"`` when several plugins register ``name``, the one
      named here provides it (instead of a conflict error), e.g. a local plugin replacing a
      built-in loss.

    ``origins`` maps each dotted key read (``"aliases.losses.gamma"``) to the file it came
    from, so later checks can name the file and line.
    """

    disabled: set[str] = field(default_factory=set)
    local: list[tuple[str, Path]] = field(default_factory=list)  # (entry, base dir)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    override: dict[str, dict[str, str]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    files: list[RegistryFile] = field(default_factory=list)
    skipped: list[SkippedRegistry] = field(default_factory=list)
    origins: dict[str, Path | None] = field(default_factory=dict)
    #: the file named explicitly (``--registry`` / ``ZOO_REGISTRY`` / reset_registry), if any
    named: Path | None = None

    def where(self, dotted: str) -> str:
        """``file:line`` of a key read from a registry file (best effort)."""
        return locate_key(self.origins.get(dotted), dotted)

    def merge(self, data: dict, path: Path | None) -> None:
        where = str(path) if path else "<registry>"
        for key in data:
            if key not in _REGISTRY_KEYS:
                raise ConfigError(f"{locate_key(path, key)}: unknown section [{key}] in registry "
                                  f"configuration{suggestion(key, dict.fromkeys(_REGISTRY_KEYS))}")
        plugins = data.get("plugins", {})
        if not isinstance(plugins, dict):
            raise ConfigError(f"{locate_key(path, 'plugins')}: 'plugins' must be a table")
        for key in plugins:
            if key not in _PLUGIN_KEYS:
                raise ConfigError(f"{locate_key(path, 'plugins.' + key)}: unknown key plugins.{key}"
                                  f"{suggestion(key, dict.fromkeys(_PLUGIN_KEYS))}")
        for key in ("disabled", "local"):
            val = plugins.get(key, [])
            if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
                raise ConfigError(f"{locate_key(path, 'plugins.' + key)}: plugins.{key} must be a "
                                  f"list of strings")
        for name in plugins.get("disabled", []):
            self.disabled.add(name)
            self.origins[f"plugins.disabled.{name}"] = path
        base = path.parent if path else Path.cwd()
        self.local += [(m, base) for m in plugins.get("local", [])]
        for section in ("aliases", "defaults", "override"):
            table = data.get(section, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{locate_key(path, section)}: '{section}' must be a table")
            for kind, entries in table.items():
                if not isinstance(entries, dict):
                    raise ConfigError(f"{locate_key(path, f'{section}.{kind}')}: {section}.{kind} "
                                      f"must be a table")
                target = getattr(self, section).setdefault(kind, {})
                for name, value in entries.items():
                    dotted = f"{section}.{kind}.{name}"
                    if section == "aliases" and not isinstance(value, str):
                        raise ConfigError(f"{locate_key(path, name)}: aliases.{kind}.{name} must "
                                          f"be a string naming a registered {kind.rstrip('s')}")
                    if section == "override" and not isinstance(value, str):
                        raise ConfigError(f"{locate_key(path, name)}: override.{kind}.{name} must "
                                          f"be the name of the plugin that provides {name!r}")
                    if section == "defaults" and not isinstance(value, dict):
                        raise ConfigError(f"{locate_key(path, dotted)}: "
                                          f"defaults.{kind}.{name} must be a table of arguments")
                    if section == "defaults":
                        target.setdefault(name, {}).update(value)
                    else:
                        target[name] = value
                    self.origins[dotted] = path
        self.sources.append(where)


def _read_registry_file(path: Path) -> tuple[bytes, dict]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: registry file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: cannot read ({e})") from None
    return raw, loads_toml(text, path)


def _lists_local_plugins(data: dict) -> list[str]:
    plugins = data.get("plugins")
    local = plugins.get("local") if isinstance(plugins, dict) else None
    return [str(x) for x in local] if isinstance(local, list) else []


def gated_keys(data: dict) -> list[str]:
    """The keys of a registry file, besides ``plugins.local``, that change what a command
    computes: ``plugins.disabled`` (a non-empty list), every ``[defaults]`` argument and every
    ``[override]`` entry.  A current-folder file setting any of them (or listing local plugins)
    is applied only once trusted; ``[aliases]`` only add names (an alias may not shadow a
    registered name), so a file with nothing else is applied as it is."""
    keys = []
    plugins = data.get("plugins")
    if isinstance(plugins, dict) and plugins.get("disabled"):
        keys.append("plugins.disabled")
    for section in ("defaults", "override"):
        table = data.get(section)
        if table is None:
            continue
        if not isinstance(table, dict):
            keys.append(section)
            continue
        for kind, entries in table.items():
            if not isinstance(entries, dict):
                keys.append(f"{section}.{kind}")
                continue
            for name, value in entries.items():
                if section == "defaults" and isinstance(value, dict) and value:
                    keys += [f"{section}.{kind}.{name}.{arg}" for arg in value]
                else:
                    keys.append(f"{section}.{kind}.{name}")
    return keys


def named_file_problem(path: Path, source: str) -> str | None:
    """Why a registry file named by ``source`` (``ZOO_REGISTRY``, ``--registry``) must not be
    read: it is writable by every user, or owned by a user other than the current one (or
    root), so someone else could make it run code as you (git refuses a repository owned by
    another user for the same reason).  ``None`` when it may be read."""
    try:
        st = path.stat()
    except OSError:
        return None  # reading it names the problem
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # not POSIX: no owner or mode bits to check
        return None
    if st.st_mode & 0o002:
        return (f"{source} {path}: writable by every user, so anyone could make it run code; "
                f"refused (chmod o-w {path})")
    if st.st_uid not in (getuid(), 0):
        return (f"{source} {path}: owned by user {st.st_uid}, not you ({getuid()}); it could "
                f"make zoo run their code as you: refused (copy it, or chown it)")
    return None


def _check_cwd_trust(file: Path, raw: bytes, data: dict) -> TrustCheck:
    local = _lists_local_plugins(data)
    return trust_check(file, raw, plugin_files(local, file.parent))


def load_registry_config(path: str | Path | None = None, *, use_cwd: bool = True) -> RegistryConfig:
    """The packaged ``default_registry.toml``, then one project file on top of it.

    The project file is ``path`` if given, else ``$ZOO_REGISTRY`` if set (both named
    explicitly, so loaded as they are, unless writable by others: :func:`named_file_problem`),
    else ``./registry.toml`` when present (and ``use_cwd``): that one is loaded only if it
    lists no local plugins and sets no result-changing key (:func:`gated_keys`), or is trusted
    with its plugin files as they are now (:mod:`zoo.trust`); otherwise it is recorded in
    ``skipped`` and ignored as a whole.
    """
    cfg = RegistryConfig()
    packaged = resources.files("zoo").joinpath(PACKAGED_REGISTRY)
    packaged_bytes = packaged.read_bytes()
    cfg.merge(loads_toml(packaged_bytes.decode("utf-8"), f"zoo/{PACKAGED_REGISTRY}"), None)
    cfg.sources[-1] = f"zoo/{PACKAGED_REGISTRY} (packaged)"
    cfg.files.append(RegistryFile(f"zoo/{PACKAGED_REGISTRY}", digest(packaged_bytes), "packaged"))
    source = "--registry"
    if path is None and os.environ.get(REGISTRY_ENV):
        path, source = os.environ[REGISTRY_ENV], REGISTRY_ENV
    if path is not None:
        file = Path(path).resolve()
        problem = named_file_problem(file, source)
        if problem:
            raise ConfigError(problem)
        raw, data = _read_registry_file(Path(path))
        for plugin in plugin_files(_lists_local_plugins(data), file.parent):
            problem = named_file_problem(Path(plugin.path), f"{source} {file}: local plugin")
            if problem:
                raise ConfigError(problem)
        cfg.merge(data, file)
        cfg.files.append(RegistryFile(str(file), digest(raw), "named"))
        cfg.named = file
        return cfg
    if not use_cwd or not Path(CWD_REGISTRY).is_file():
        return cfg
    file = Path(CWD_REGISTRY).resolve()
    raw, data = _read_registry_file(file)
    local = _lists_local_plugins(data)
    keys = gated_keys(data)
    role = "no plugins"
    if local or keys:
        state = _check_cwd_trust(file, raw, data)
        if not state.trusted:
            cfg.skipped.append(SkippedRegistry(str(file), digest(raw), tuple(local), state.state,
                                               tuple(keys), state.changed))
            return cfg
        role = "trusted"
    cfg.merge(data, file)
    cfg.files.append(RegistryFile(str(file), digest(raw), role))
    return cfg
