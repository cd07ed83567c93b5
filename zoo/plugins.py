"""Plugin loading: built-ins, entry points (group ``zoo``) and local modules from registry.toml.

Each plugin's hooks are called one plugin at a time, so a registration is credited to the plugin
that made it and a plugin that fails (import error, raising hook, name clash) is reported under
its name and version while every other plugin still works.  A plugin's registrations are taken
all-or-nothing: a hook that raises half-way registers nothing.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

import pluggy

from . import __version__, hookspecs
from .config import RegistryConfig, load_registry_config
from .registry import KINDS, PluginInfo, Registry

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
}


def _short_error(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _load_local(spec: str, base: Path) -> tuple[ModuleType, str]:
    """Import a local plugin: a ``.py`` path (relative to the registry file) or a module name."""
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = (base / spec).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"local plugin file {path} not found")
        name = f"zoo_local_{path.stem}"
        mod_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        try:
            mod_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module, str(path)
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    module = importlib.import_module(spec)
    return module, getattr(module, "__file__", spec) or spec


def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def build_registry(path: str | Path | None = None, config: RegistryConfig | None = None,
                   *, builtins: dict[str, str] | None = None) -> Registry:
    """Load every enabled plugin and return the filled registry.

    ``path`` is the project's registry.toml (default: ``./registry.toml`` when present).
    """
    config = config or load_registry_config(path)
    reg = Registry(config)
    pm = plugin_manager()
    reg.plugin_manager = pm

    candidates: list[tuple[str, str, str, str, object]] = []  # name, version, source, loc, loader
    for module_path, name in (BUILTIN_PLUGINS if builtins is None else builtins).items():
        candidates.append((name, __version__, "builtin", module_path,
                           lambda m=module_path: importlib.import_module(m)))
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        name = dist.name if dist is not None else ep.name
        version = dist.version if dist is not None else "?"
        candidates.append((name, version, "entry point", ep.value, ep.load))
    for spec, base in config.local:
        name = Path(spec).stem if spec.endswith(".py") else spec
        candidates.append((name, "local", "local", spec,
                           lambda s=spec, b=base: _load_local(s, b)[0]))

    for name, version, source, location, loader in candidates:
        info = PluginInfo(name=name, version=version, source=source, location=location)
        if name in reg.plugins:  # same distribution exposing two entry points, say
            info.name = name = f"{name}:{location}"
        reg.plugins[name] = info
        if name in config.disabled or location in config.disabled:
            info.disabled = True
            continue
        try:
            module = loader()
            pm.register(module, name=name)
        except Exception as exc:  # a broken plugin must not take the others down
            info.error = f"failed to load: {_short_error(exc)}"
            continue
        collected = []
        try:
            for kind in KINDS:
                caller = getattr(pm.hook, f"zoo_register_{kind}")
                for impl in caller.get_hookimpls():
                    if impl.plugin_name == name:
                        impl.function(register=reg.make_register(kind, name, collected))
        except Exception as exc:
            info.error = f"hook failed: {_short_error(exc)}"
            pm.unregister(name=name)
            continue
        problems = reg.commit(name, collected)
        if problems:
            info.error = "; ".join(problems)
    reg.apply_config_aliases()
    return reg


def load_errors(reg: Registry) -> list[str]:
    """One line per plugin that failed, naming it and its version."""
    return [f"plugin {p.name} {p.version}: {p.error}" for p in reg.plugins.values() if p.error]
