"""Finding and importing plugins: built-ins, entry points (group ``zoo``) and local files.

This module only discovers plugins and imports their modules into a pluggy plugin manager,
recording per plugin what happened (:class:`PluginInfo`); :func:`zoo.registry.build_registry`
then calls each plugin's registration hooks, one plugin at a time, so a registration is
credited to the plugin that made it and a plugin that fails is reported under its name and
version while every other plugin still works.

Local plugins (``[plugins] local`` in a registry.toml) are imported by file path, or, for a
dotted module name, through the normal import system; the registry file's folder is never put
on ``sys.path`` (see :mod:`zoo.importing`).
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import re
import importlib.metadata as md
import traceback
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable, MutableMapping

import pluggy

from . import hookspecs
from .config import RegistryConfig, locate_key
from .errors import did_you_mean
from .version import __version__
from .importing import import_module, is_file_reference

ENTRY_POINT_GROUP = "zoo"

#: Built-in plugins: module path -> plugin name.  They go through the same hooks as third parties.
BUILTIN_PLUGINS = {
    "zoo.losses.plugin": "zoo.losses",
    "zoo.losses.perceptual_plugin": "zoo.losses.perceptual",
    "zoo.encoders.plugin": "zoo.encoders",
    "zoo.models.plugin": "zoo.models",
    "zoo.data.plugin": "zoo.data",
    "zoo.metrics.plugin": "zoo.metrics",
    "zoo.recipes.plugin": "zoo.recipes",
    "zoo.commands.plugin": "zoo.commands",
}


@dataclass
class PluginInfo:
    """What ``zoo plugins`` shows: a plugin's name, version, origin, registrations and status.

    ``error`` is set when the plugin failed as a whole (import error, raising hook: it
    registered nothing); ``problems`` lists partial failures (a name another plugin registers
    too, a command name already taken).  ``sha256`` is the digest of a local plugin's file.
    """

    name: str
    version: str
    source: str  # "builtin", "entry point", "local"
    location: str = ""
    registered: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    disabled: bool = False
    problems: list[str] = field(default_factory=list)
    sha256: str = ""
    notices: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error is not None

    def status(self) -> str:
        if self.disabled:
            return "disabled"
        if self.error:
            return self.error
        return "; ".join(self.problems + self.notices) or "ok"

    def failure_line(self) -> str:
        """``plugin NAME VERSION failed to load: ...`` (for error messages)."""
        return f"plugin {self.name} {self.version} {self.error}"

    def notice_line(self) -> str:
        """``plugin NAME VERSION: notice; notice`` (for unknown-name errors)."""
        return f"plugin {self.name} {self.version}: {'; '.join(self.notices)}"


@dataclass
class Candidate:
    """A plugin found but not yet imported."""

    info: PluginInfo
    load: Callable[[], ModuleType]
    names: tuple[str, ...]  # what [plugins] disabled may call it


_ZOO_PACKAGE = Path(__file__).resolve().parent


def _blamed_frame(exc: BaseException) -> traceback.FrameSummary | None:
    """The frame to cite: the innermost, unless it is the zoo's own code (``register()``
    validating a registration, say): then the innermost frame outside the zoo, the plugin's
    line that called it."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    outside = [f for f in frames if not f.filename.startswith("<")
               and _ZOO_PACKAGE not in Path(f.filename).resolve().parents]
    inner = frames[-1]
    if outside and _ZOO_PACKAGE in Path(inner.filename).resolve().parents:
        return outside[-1]
    return inner


def short_error(exc: BaseException) -> str:
    """``Type: message (file:line)``, one line, citing the plugin's line (:func:`_blamed_frame`).

    pluggy's several-line messages for a hook function whose arguments are not the hook's
    become one line naming the function and the hook's arguments."""
    frame = _blamed_frame(exc)
    where = f" ({Path(frame.filename).name}:{frame.lineno})" if frame else ""
    if isinstance(exc, pluggy.PluginValidationError):
        return f"{type(exc).__name__}: {validation_line(exc)}"
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}{where}"


_BAD_ARGS = re.compile(r"for hook '(\w+)'\s+hookimpl definition: (.*?)\s+Argument\(s\) (.*?) "
                       r"are declared", re.S)


def validation_line(exc: pluggy.PluginValidationError) -> str:
    """pluggy's message for a malformed hook function, as one line."""
    text = str(exc)
    bad = _BAD_ARGS.search(text)
    if bad:
        hook, definition, args = bad.groups()
        args = args.strip("{}")
        spec = getattr(hookspecs, hook, None)
        takes = ", ".join(inspect.signature(spec).parameters) if spec else "?"
        where = ""
        impl = getattr(getattr(exc, "plugin", None), hook, None)
        code = getattr(impl, "__code__", None)
        if code is not None:
            where = f" ({Path(code.co_filename).name}:{code.co_firstlineno})"
        return (f"hook function {definition} takes {args}, which hook {hook} does not pass "
                f"(it passes: {takes}){where}")
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


HOOK_PREFIX = "zoo_"


def hook_notices(pm: pluggy.PluginManager, module: ModuleType, plugin: str) -> list[str]:
    """What a plugin module looks like it meant but did not do, one message each.

    * a ``@hookimpl`` function whose name is no zoo hook (``zoo_register_loss``): pluggy never
      calls it.  This is the check of pluggy's ``PluginManager.check_pending()`` (pytest runs it
      after loading its plugins), scoped to one plugin so the message names it;
    * a function named like a hook (``zoo_...``) without ``@hookimpl``: pluggy ignores it;
    * a plugin with no hook function at all: it registers nothing.
    """
    notices = []
    hooks = [h for h in dir(hookspecs) if h.startswith(HOOK_PREFIX)]
    implemented = 0
    for name in list(vars(pm.hook)):
        if name.startswith("_"):
            continue
        caller = getattr(pm.hook, name)
        mine = [impl for impl in caller.get_hookimpls()
                if impl.plugin_name == plugin and not impl.optionalhook]
        if not mine:
            continue
        if caller.has_spec():
            implemented += 1
            continue
        close = did_you_mean(name, hooks)
        hint = f"; did you mean {close[0]}?" if close else f"; hooks: {', '.join(hooks)}"
        notices.append(f"{name} is not a zoo hook, never called{hint}")
    for attr, value in sorted(vars(module).items()):
        if (attr.startswith(HOOK_PREFIX) and callable(value)
                and pm.parse_hookimpl_opts(module, attr) is None
                and getattr(value, "__module__", None) == module.__name__):
            close = did_you_mean(attr, hooks)
            hint = f" ({close[0]})" if close and close[0] != attr else ""
            notices.append(f"{attr}{hint} lacks @hookimpl, never called")
    if not implemented and not notices:
        notices.append("registers nothing: no @hookimpl function (see docs/plugins.md)")
    return notices


def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _local_candidate(entry: str, base: Path) -> Candidate:
    if is_file_reference(entry):
        path = (base / entry).resolve()
        try:
            sha = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            sha = ""
        info = PluginInfo(name=Path(entry).stem, version="local", source="local",
                          location=str(path), sha256=sha)
    else:
        info = PluginInfo(name=entry, version="local", source="local", location=entry)
    return Candidate(info, partial(import_module, entry, base), (info.name, entry))


def discover(config: RegistryConfig, builtins: dict[str, str] | None = None) -> list[Candidate]:
    """Every plugin the configuration makes visible, in load order (built-ins first)."""
    found: list[Candidate] = []
    for module_path, name in (BUILTIN_PLUGINS if builtins is None else builtins).items():
        found.append(Candidate(PluginInfo(name, __version__, "builtin", module_path),
                               partial(importlib.import_module, module_path),
                               (name, module_path)))
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        name = dist.name if dist is not None else ep.name
        version = dist.version if dist is not None else "?"
        found.append(Candidate(PluginInfo(name, version, "entry point", ep.value), ep.load,
                               (name, ep.value)))
    for entry, base in config.local:
        found.append(_local_candidate(entry, base))
    seen: set[str] = set()
    for cand in found:  # one distribution exposing two entry points, say
        if cand.info.name in seen:
            cand.info.name = f"{cand.info.name}:{cand.info.location}"
            cand.names = (*cand.names, cand.info.name)
        seen.add(cand.info.name)
    return found


def unknown_disabled(config: RegistryConfig, candidates: Iterable[Candidate]) -> list[str]:
    """One message per ``[plugins] disabled`` entry that names no plugin (a typo)."""
    known = [n for c in candidates for n in c.names]
    problems = []
    for name in sorted(config.disabled):
        if name not in known:
            close = did_you_mean(name, known)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else \
                "; `zoo plugins` lists the names"
            where = locate_key(config.origins.get(f"plugins.disabled.{name}"), "plugins.disabled")
            problems.append(f"{where}: [plugins] disabled: no plugin named {name!r}{hint}")
    return problems


def load(candidate: Candidate, pm: pluggy.PluginManager) -> ModuleType | None:
    """Import a candidate into the plugin manager; on failure record the error, return None."""
    info = candidate.info
    try:
        module = candidate.load()
        pm.register(module, name=info.name)
    except Exception as exc:  # a broken plugin must not take the others down
        info.error = f"failed to load: {short_error(exc)}"
        return None
    return module


def module_folder(module: ModuleType) -> Path | None:
    """The folder relative references of a plugin resolve against (its module's folder)."""
    file = getattr(module, "__file__", None)
    return Path(file).resolve().parent if file else None


def hook_functions(pm: pluggy.PluginManager, hook: str, plugin: str) -> list[Callable[..., Any]]:
    """The implementations of ``hook`` that ``plugin`` provides."""
    caller = getattr(pm.hook, hook)
    return [impl.function for impl in caller.get_hookimpls() if impl.plugin_name == plugin]


def register_commands(pm: pluggy.PluginManager, plugins: MutableMapping[str, PluginInfo],
                      commands: MutableMapping[str, Any], group_factory: Callable[[], Any]
                      ) -> None:
    """Collect every plugin's ``zoo_register_commands(cli)`` into ``commands`` (name -> command).

    Each plugin gets a scratch group (``group_factory()``) so its commands are credited to it;
    a name already taken (built-ins load first) is a problem of the later plugin, and a hook
    that raises adds nothing.
    """
    for name, info in plugins.items():
        if info.disabled or info.failed:
            continue
        for function in hook_functions(pm, "zoo_register_commands", name):
            scratch = group_factory()
            try:
                function(cli=scratch)
            except Exception as exc:
                info.problems.append(f"zoo_register_commands failed: {short_error(exc)}")
                continue
            for cmd_name, command in scratch.commands.items():
                if cmd_name in commands:
                    info.problems.append(f"command {cmd_name!r} already exists; not added")
                    continue
                commands[cmd_name] = command
                info.registered.append(("commands", cmd_name))
