"""The registry: every registered component by kind, its names, aliases, presets and defaults.

A :class:`Registry` is a value: :func:`build_registry` loads the plugins and returns one; the
command line builds it once and hands it down (``@zoo.commands.pass_registry``), and the
engine, evaluation, report and composer take it as an argument.  The process-wide registry
behind :func:`get_registry` serves only the timm-style convenience API:
``create_loss("charbonnier", eps=1e-3)``, ``list_losses("*ssim*")``.

Names are lowercase and hyphenated (``smooth-l1``, ``l1+ms-ssim``); presets add a dotted suffix
(``uformer.t``) that stands for a set of keyword arguments.
"""
from __future__ import annotations

import fnmatch
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, overload

import pluggy

from .config import (CWD_REGISTRY, RegistryConfig, SkippedRegistry, load_registry_config,
                     load_toml, locate_key)
from .errors import (
    ConfigError,
    PluginError,
    PluginWarning,
    UnknownNameError,
    ZooError,
    did_you_mean,
)
from .plugins import (
    PluginInfo,
    discover,
    hook_functions,
    hook_notices,
    load,
    module_folder,
    plugin_manager,
    short_error,
    unknown_disabled,
)
from .specs import (
    KINDS,
    SINGULAR,
    SPEC_TYPES,
    DatasetSpec,
    EncoderSpec,
    LossSpec,
    MetricSpec,
    ModelSpec,
    Param,
    RecipeSpec,
    Spec,
)

__all__ = [
    "KINDS", "SINGULAR", "Param", "Spec", "LossSpec", "ModelSpec", "EncoderSpec", "DatasetSpec",
    "MetricSpec", "RecipeSpec", "PluginInfo", "Registry", "Provenance", "build_registry",
    "get_registry", "reset_registry", "install_registry", "create", "list_names", "info",
    "create_model", "create_encoder", "create_dataset", "create_metric",
    "load_recipe", "list_losses", "list_models", "list_encoders", "list_datasets",
    "list_metrics", "list_recipes",
]

Register = Callable[..., Spec]


@dataclass(frozen=True)
class Provenance:
    """What a registry was built from, for run records (``environment.json``).

    ``plugins``: one dict per plugin (name, version, source, location, status, and the sha256
    of a local plugin's file); ``registry_files``: the configuration files read (path, sha256,
    role); ``skipped_files``: current-folder files not loaded for want of trust;
    ``overrides``: names a plugin took over from another through ``[override]``.
    """

    plugins: tuple[dict[str, Any], ...]
    registry_files: tuple[dict[str, str], ...]
    skipped_files: tuple[dict[str, Any], ...] = ()
    overrides: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"plugins": [dict(p) for p in self.plugins],
                "registry_files": [dict(f) for f in self.registry_files],
                "skipped_files": [dict(s) for s in self.skipped_files],
                "overrides": [dict(o) for o in self.overrides]}


class Registry:
    """All specs, by kind, with the plugins that registered them; built by :func:`build_registry`.

    The engine-facing methods: :meth:`get`, :meth:`create`, :meth:`names`, :meth:`canonical`,
    :meth:`defaults_for`; :meth:`provenance` for run records.
    """

    def __init__(self, config: RegistryConfig | None = None):
        self.config = config or RegistryConfig()
        self.specs: dict[str, dict[str, Spec]] = {k: {} for k in KINDS}
        self.aliases: dict[str, dict[str, str]] = {k: {} for k in KINDS}
        self.conflicts: dict[tuple[str, str], list[str]] = {}
        self.plugins: dict[str, PluginInfo] = {}
        self.plugin_manager: pluggy.PluginManager | None = None
        self._lock = threading.Lock()

    # ----------------------------------------------------------------------------- registering
    def make_register(self, kind: str, plugin: str, sink: list[Spec],
                      origin: Path | None = None) -> Register:
        """The ``register`` callable handed to a plugin's hook for ``kind``; collects into sink.

        ``register(name, factory, **fields)`` with the fields of the kind's spec type
        (:data:`zoo.specs.SPEC_TYPES`), or ``register(spec)`` with a ready spec of that type.
        """
        spec_type = SPEC_TYPES[kind]

        def register(name: str | Spec, factory: Any = None, **meta: Any) -> Spec:
            if isinstance(name, Spec):
                spec = name
                if spec.kind != kind:
                    raise PluginError(f"plugin {plugin!r} registered {spec.kind or 'untyped'} "
                                      f"spec {spec.name!r} from its zoo_register_{kind} hook "
                                      f"(use zoo.specs.{spec_type.__name__})")
                spec.plugin, spec.origin = plugin, spec.origin or origin
                spec.validate()
            else:
                spec = spec_type.from_registration(name, factory, meta, plugin=plugin,
                                                   origin=origin)
            sink.append(spec)
            return spec

        return register

    def _owner(self, kind: str, name: str) -> Spec | None:
        table = self.specs[kind]
        return table.get(name) or table.get(self.aliases[kind].get(name, ""))

    def _drop(self, spec: Spec) -> None:
        """Remove ``spec`` and its aliases (it lost a name to an override)."""
        table = self.specs[spec.kind]
        if table.get(spec.name) is spec:
            del table[spec.name]
        for alias in spec.aliases:
            if self.aliases[spec.kind].get(alias) == spec.name:
                del self.aliases[spec.kind][alias]
        registered = self.plugins[spec.plugin].registered
        if (spec.kind, spec.name) in registered:
            registered.remove((spec.kind, spec.name))

    def commit(self, plugin: str, specs: Iterable[Spec]) -> list[str]:
        """Add a plugin's specs; returns the messages of names already taken by another plugin.

        A name two plugins register is a conflict (unusable until one is disabled), unless the
        configuration's ``[override.<kind>] name = "plugin"`` says which of them provides it.
        """
        problems = []
        with self._lock:
            for spec in specs:
                overrides = self.config.override.get(spec.kind, {})
                clash = False
                for name in (spec.name, *spec.aliases):
                    owner = self._owner(spec.kind, name)
                    if owner is None or owner.plugin == plugin:
                        continue
                    chosen = overrides.get(spec.name)
                    if chosen == plugin:  # the newcomer replaces the earlier spec
                        self._drop(owner)
                        spec.overrides = (*spec.overrides, owner.plugin)
                    elif chosen == owner.plugin:  # the earlier one stays; drop the newcomer
                        owner.overrides = (*owner.overrides, plugin)
                        clash = True
                    else:
                        self.conflicts.setdefault((spec.kind, name), [owner.plugin]).append(plugin)
                        problems.append(f"{SINGULAR[spec.kind]} {name!r} is registered by both "
                                        f"{owner.plugin!r} and {plugin!r}")
                        clash = True
                if clash or any((spec.kind, n) in self.conflicts
                                for n in (spec.name, *spec.aliases)):
                    continue
                self.specs[spec.kind][spec.name] = spec
                for alias in spec.aliases:
                    self.aliases[spec.kind][alias] = spec.name
                self.plugins[plugin].registered.append((spec.kind, spec.name))
        return problems

    def apply_config(self) -> list[str]:
        """Apply the configuration's aliases; check its aliases, defaults and overrides against
        what was registered.  Returns one message per mistake (file:line first)."""
        cfg, problems = self.config, []
        for section in ("aliases", "defaults", "override"):
            for kind in getattr(cfg, section):
                if kind not in KINDS:
                    where = locate_key(self._origin(section, kind), f"{section}.{kind}")
                    problems.append(f"{where}: [{section}.{kind}]: unknown kind (one of "
                                    f"{', '.join(KINDS)})")
        for kind, aliases in cfg.aliases.items():
            if kind not in KINDS:
                continue
            for alias, target in aliases.items():
                where = cfg.where(f"aliases.{kind}.{alias}")
                if alias in self.specs[kind]:
                    problems.append(f"{where}: aliases.{kind}.{alias}: {alias!r} is already a "
                                    f"registered {SINGULAR[kind]} (plugin "
                                    f"{self.specs[kind][alias].plugin})")
                    continue
                base = self.aliases[kind].get(target, target)
                if base not in self.specs[kind]:
                    problems.append(f"{where}: aliases.{kind}.{alias} = {target!r}: "
                                    + self._missing(kind, target))
                    continue
                self.aliases[kind][alias] = base
        for kind, defaults in cfg.defaults.items():
            if kind not in KINDS:
                continue
            for name in defaults:
                where = cfg.where(f"defaults.{kind}.{name}")
                try:
                    base, preset = self.canonical(kind, name)
                except ZooError:
                    problems.append(f"{where}: defaults.{kind}.{name}: "
                                    + self._missing(kind, name))
                    continue
                if name not in (base, f"{base}.{preset}"):
                    problems.append(f"{where}: defaults.{kind}.{name}: {name!r} is an alias; "
                                    f"write the registered name {base!r}")
        for kind, overrides in cfg.override.items():
            if kind not in KINDS:
                continue
            for name, plugin in overrides.items():
                where = cfg.where(f"override.{kind}.{name}")
                spec = self.specs[kind].get(name)
                if plugin not in self.plugins:
                    close = did_you_mean(plugin, self.plugins)
                    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
                    problems.append(f"{where}: override.{kind}.{name}: no plugin named "
                                    f"{plugin!r}{hint}")
                elif self.plugins[plugin].failed:
                    problems.append(f"{where}: override.{kind}.{name}: "
                                    + self.plugins[plugin].failure_line())
                elif spec is None or spec.plugin != plugin:
                    problems.append(f"{where}: override.{kind}.{name}: plugin {plugin!r} "
                                    f"registers no {SINGULAR[kind]} {name!r}")
        return problems

    def _origin(self, section: str, kind: str) -> Path | None:
        prefix = f"{section}.{kind}."
        return next((p for k, p in self.config.origins.items() if k.startswith(prefix)), None)

    def _missing(self, kind: str, name: str) -> str:
        message = f"no {SINGULAR[kind]} {name!r} is registered"
        close = did_you_mean(name, self.names(kind, with_aliases=True))
        if close:
            message += f" (did you mean {', '.join(repr(c) for c in close)}?)"
        failed = self.failures()
        if failed:
            message += " — " + "; ".join(failed)
        return message

    # ----------------------------------------------------------------------------- lookup
    def _check_kind(self, kind: str) -> None:
        if kind not in KINDS:
            raise UnknownNameError("kinds", kind, KINDS, noun="kind", listing="zoo list")

    def failures(self) -> list[str]:
        """One line per plugin that failed to load (``plugin NAME VERSION failed to load: ...``),
        then one per plugin with notices (a misspelled hook, a missing ``@hookimpl``, nothing
        registered): a name may be missing because of either."""
        return [p.failure_line() for p in self.plugins.values() if p.failed] + \
            [p.notice_line() for p in self.plugins.values()
             if p.notices and not p.failed and not p.disabled]

    def unknown(self, kind: str, name: str, known: Iterable[str]) -> UnknownNameError:
        """The error for a name not registered as ``kind``, naming plugins that failed."""
        return UnknownNameError(kind, name, known, noun=SINGULAR[kind],
                                listing=f"zoo list {kind}", failed=self.failures())

    def canonical(self, kind: str, name: str) -> tuple[str, str | None]:
        """Resolve aliases and presets: returns (spec name, preset or None)."""
        self._check_kind(kind)
        if (kind, name) in self.conflicts:
            owners = self.conflicts[(kind, name)]
            raise PluginError(f"{SINGULAR[kind]} {name!r} is registered by both "
                              f"{' and '.join(repr(o) for o in owners)}; disable one of them "
                              f"([plugins] disabled = [...]) or choose one "
                              f"([override.{kind}] {name} = \"plugin\") in registry.toml")
        base, preset = name, None
        if name not in self.specs[kind] and name not in self.aliases[kind] and "." in name:
            base, _, preset = name.partition(".")
        base = self.aliases[kind].get(base, base)
        if base not in self.specs[kind]:
            raise self.unknown(kind, name, self.names(kind, with_presets=True, with_aliases=True))
        if preset is not None and preset not in self.specs[kind][base].presets:
            known = [f"{base}.{p}" for p in self.specs[kind][base].presets]
            raise self.unknown(kind, name, known + [base])
        return base, preset

    @overload
    def get(self, kind: Literal["losses"], name: str) -> LossSpec: ...
    @overload
    def get(self, kind: Literal["models"], name: str) -> ModelSpec: ...
    @overload
    def get(self, kind: Literal["encoders"], name: str) -> EncoderSpec: ...
    @overload
    def get(self, kind: Literal["datasets"], name: str) -> DatasetSpec: ...
    @overload
    def get(self, kind: Literal["metrics"], name: str) -> MetricSpec: ...
    @overload
    def get(self, kind: Literal["recipes"], name: str) -> RecipeSpec: ...
    @overload
    def get(self, kind: str, name: str) -> Spec: ...

    def get(self, kind: str, name: str) -> Spec:
        """The spec of ``name`` (an alias or ``name.preset`` gives the base spec), typed by
        kind: ``get("metrics", n)`` is a :class:`MetricSpec`."""
        return self.specs[kind][self.canonical(kind, name)[0]]

    def names(self, kind: str, pattern: str | None = None, *, with_presets: bool = True,
              with_aliases: bool = False) -> list[str]:
        """Registered names of ``kind`` (presets, optionally aliases) matching a shell pattern."""
        self._check_kind(kind)
        out = []
        for name, spec in sorted(self.specs[kind].items()):
            out.append(name)
            if with_presets:
                out += [f"{name}.{p}" for p in spec.presets]
        if with_aliases:
            out += sorted(self.aliases[kind])
        if pattern:
            out = [n for n in out if fnmatch.fnmatchcase(n, pattern)]
        return out

    def defaults_for(self, kind: str, name: str) -> dict[str, Any]:
        """Default keyword arguments from the configuration's ``[defaults.<kind>.<name>]``."""
        return dict(self.config.defaults.get(kind, {}).get(name, {}))

    def build_kwargs(self, kind: str, name: str, kwargs: dict[str, Any]
                     ) -> tuple[Spec, dict[str, Any]]:
        """The spec and its keyword arguments: defaults, then the preset, then ``kwargs``."""
        base, preset = self.canonical(kind, name)
        spec = self.specs[kind][base]
        merged = self.defaults_for(kind, base)
        if preset is not None:
            merged.update(spec.presets[preset])
            merged.update(self.defaults_for(kind, f"{base}.{preset}"))
        merged.update(kwargs)
        if merged and not spec.accepts_any_kwargs():
            known = {p.name for p in spec.parameters()}
            bad = [k for k in merged if k not in known]
            if bad:
                raise ZooError(f"{SINGULAR[kind]} {name!r} has no parameter(s) {', '.join(bad)} "
                               f"(parameters: {', '.join(sorted(known)) or 'none'})")
        return spec, merged

    def create(self, kind: str, name: str, **kwargs: Any) -> Any:
        """Build ``name`` with its defaults, preset and ``kwargs``."""
        spec, merged = self.build_kwargs(kind, name, kwargs)
        obj = spec.build(merged)
        try:  # let consumers know what built it
            obj.zoo_name = name
        except (AttributeError, TypeError):
            pass
        return obj

    # ----------------------------------------------------------------------------- reporting
    def load_errors(self) -> list[str]:
        """One line per plugin that failed or had problems, naming it and its version."""
        return [f"plugin {p.name} {p.version}: {p.error or '; '.join(p.problems + p.notices)}"
                for p in self.plugins.values() if p.error or p.problems or p.notices]

    def notices(self) -> list[str]:
        """One line per current-folder registry.toml skipped for want of trust."""
        return [s.notice() for s in self.config.skipped]

    def provenance(self) -> Provenance:
        """Plugins (name, version, source, status, file digest), registry files and overrides."""
        plugins = tuple({"name": p.name, "version": p.version, "source": p.source,
                         "location": p.location, "status": p.status(),
                         **({"sha256": p.sha256} if p.sha256 else {})}
                        for p in self.plugins.values())
        files = tuple({"path": f.path, "sha256": f.sha256, "role": f.role}
                      for f in self.config.files)
        skipped = tuple({"path": s.path, "sha256": s.sha256, "reason": s.reason,
                         "local": list(s.local)} for s in self.config.skipped)
        overrides = tuple({"kind": s.kind, "name": s.name, "plugin": s.plugin,
                           "replaces": list(s.overrides)}
                          for kind in KINDS for s in self.specs[kind].values() if s.overrides)
        return Provenance(plugins, files, skipped, overrides)


# --------------------------------------------------------------------------------- building
def build_registry(path: str | Path | None = None, config: RegistryConfig | None = None, *,
                   builtins: dict[str, str] | None = None, warn: bool = True) -> Registry:
    """Load every enabled plugin and return the filled registry.

    ``path`` is the project's registry.toml (default: ``$ZOO_REGISTRY``, else a trusted
    ``./registry.toml``; see :func:`zoo.config.load_registry_config`).  Mistakes in the
    configuration (a ``disabled`` name no plugin has, an alias or default of a missing name, an
    override naming the wrong plugin) raise :class:`ConfigError`.  A plugin that fails is
    recorded in :attr:`Registry.plugins`; with ``warn`` a :class:`PluginWarning` says so (and
    says when a current-folder registry.toml was skipped).
    """
    config = config or load_registry_config(path)
    reg = Registry(config)
    pm = plugin_manager()
    reg.plugin_manager = pm
    candidates = discover(config, builtins)
    problems = unknown_disabled(config, candidates)
    for cand in candidates:
        info = cand.info
        reg.plugins[info.name] = info
        if any(n in config.disabled for n in cand.names):
            info.disabled = True
            continue
        module = load(cand, pm)
        if module is None:
            continue
        origin = module_folder(module)
        collected: list[Spec] = []
        info.notices += hook_notices(pm, module, info.name)
        called = 0
        try:
            for kind in KINDS:
                for function in hook_functions(pm, f"zoo_register_{kind}", info.name):
                    function(register=reg.make_register(kind, info.name, collected, origin))
                    called += 1
        except Exception as exc:
            info.error = f"hook failed: {short_error(exc)}"
            pm.unregister(name=info.name)
            continue
        if called and not collected and not hook_functions(pm, "zoo_register_commands",
                                                           info.name):
            info.notices.append("registers nothing: its hooks never called register()")
        info.problems += reg.commit(info.name, collected)
    problems += reg.apply_config()
    if problems:
        raise ConfigError("; ".join(problems))
    if warn:
        for line in reg.load_errors():
            warnings.warn(line, PluginWarning, stacklevel=2)
        for skipped in reg.config.skipped:
            if first_notice(skipped):  # one line: no source line under it
                warnings.warn_explicit(skipped.notice(), PluginWarning, filename=CWD_REGISTRY,
                                       lineno=0)
    return reg


_NOTICED: set[SkippedRegistry] = set()


def first_notice(skipped: SkippedRegistry) -> bool:
    """Whether the notice of a skipped registry file (that file, that content) is new to this
    process, marking it shown: it is given once, by the CLI (``notice: ...`` on stderr) or else
    as a one-line :class:`PluginWarning`."""
    if skipped in _NOTICED:
        return False
    _NOTICED.add(skipped)
    return True


# --------------------------------------------------------------------------------- process-wide
_REGISTRY: Registry | None = None
_REGISTRY_PATH: str | Path | None = None
_LOCK = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry behind ``create_*`` / ``list_*``, built on first use."""
    global _REGISTRY
    with _LOCK:
        if _REGISTRY is None:
            _REGISTRY = build_registry(_REGISTRY_PATH)
        return _REGISTRY


def reset_registry(path: str | Path | None = None) -> None:
    """Forget the registry; the next use rebuilds it (reading ``path`` as registry.toml)."""
    global _REGISTRY, _REGISTRY_PATH
    with _LOCK:
        _REGISTRY, _REGISTRY_PATH = None, path


def install_registry(registry: Registry) -> None:
    """Make ``registry`` the process-wide one (the CLI does, so ``create_*`` calls made while a
    command runs use the registry the command was given)."""
    global _REGISTRY, _REGISTRY_PATH
    with _LOCK:
        _REGISTRY, _REGISTRY_PATH = registry, registry.config.named


def create(kind: str, name: str, **kwargs: Any) -> Any:
    return get_registry().create(kind, name, **kwargs)


def list_names(kind: str, pattern: str | None = None) -> list[str]:
    return get_registry().names(kind, pattern)


def info(kind: str, name: str) -> Spec:
    return get_registry().get(kind, name)


def create_model(name: str, pretrained: str | Path | None = None, **kwargs: Any) -> Any:
    """Build a registered model; ``pretrained`` is a checkpoint path loaded strictly."""
    model = create("models", name, **kwargs)
    if pretrained:
        from .checkpoint import load_weights  # imports torch: only when asked for

        load_weights(model, pretrained)
    return model


def create_encoder(name: str, **kwargs: Any) -> Any:
    return create("encoders", name, **kwargs)


def create_dataset(name: str, **kwargs: Any) -> Any:
    return create("datasets", name, **kwargs)


def create_metric(name: str, **kwargs: Any) -> Any:
    return create("metrics", name, **kwargs)


def load_recipe(name: str) -> dict[str, Any]:
    """The TOML recipe ``name`` as a dict (a registered name or a path to a .toml file)."""
    if name.endswith(".toml") or "/" in name:
        return load_toml(name)
    recipe: dict[str, Any] = create("recipes", name)
    return recipe


def _lister(kind: str) -> Callable[[str | None], list[str]]:
    def lister(pattern: str | None = None) -> list[str]:
        return list_names(kind, pattern)

    lister.__name__ = f"list_{kind}"
    lister.__doc__ = f"Registered {kind} names (presets included) matching a shell pattern."
    return lister


list_losses = _lister("losses")
list_models = _lister("models")
list_encoders = _lister("encoders")
list_datasets = _lister("datasets")
list_metrics = _lister("metrics")
list_recipes = _lister("recipes")
