"""The registry: specs of every registered component, their names, aliases and presets.

A :class:`Spec` is what a plugin registers: a name, a factory (a callable or a lazy
``"module:attr"`` string), its parameters, documentation (formula, citation) and, for metrics,
which direction is better.  Names are lowercase and hyphenated (``smooth-l1``, ``l1+ms-ssim``);
presets add a dotted suffix (``uformer.t``) that stands for a set of keyword arguments.

The API follows timm: ``create_loss("charbonnier", eps=1e-3)``, ``list_losses("*ssim*")``.
"""
from __future__ import annotations

import fnmatch
import importlib
import inspect
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import PluginError, UnknownNameError, ZooError

KINDS = ("losses", "models", "encoders", "datasets", "metrics", "recipes")
SINGULAR = {"losses": "loss", "models": "model", "encoders": "encoder", "datasets": "dataset",
            "metrics": "metric", "recipes": "recipe", "components": "component", "kinds": "kind"}
NAME_RE = re.compile(r"^[a-z0-9]+(?:[-+_][a-z0-9]+)*$")
PRESET_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
_SPEC_FIELDS = ("doc", "formula", "citation", "params", "aliases", "presets", "direction",
                "inputs", "tags", "extra")


@dataclass(frozen=True)
class Param:
    """One keyword argument of a component: name, default, type name and a short description."""

    name: str
    default: Any = None
    type: str = "any"
    doc: str = ""


@dataclass
class Spec:
    """A registered component.

    Attributes:
        kind: one of :data:`KINDS`.
        name: canonical lowercase-hyphenated name.
        factory: callable, or ``"package.module:attr"`` imported on first use.  For recipes, a
            path to a TOML file.
        doc: one-paragraph description; defaults to the factory's docstring.
        formula: the formula in plain text (losses, metrics).
        citation: the reference the formula comes from.
        params: parameters; inferred from the factory's signature when not given.
        aliases: other names resolving to this spec.
        presets: ``{"t": {...kwargs}}`` makes ``name.t`` build with those arguments.
        direction: metrics only: ``"higher"`` or ``"lower"`` is better.
        inputs: names of the forward arguments (losses: ``("pred", "target")``).
        tags: free-form labels (``"pixel"``, ``"perceptual"``, ``"low-light"`` ...).
        extra: anything else a consumer needs (e.g. ``{"uses_encoder": True}``).
        plugin: the plugin that registered it (filled in by the registry).
    """

    kind: str
    name: str
    factory: Any
    doc: str = ""
    formula: str = ""
    citation: str = ""
    params: tuple[Param, ...] | None = None
    aliases: tuple[str, ...] = ()
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    direction: str | None = None
    inputs: tuple[str, ...] = ("pred", "target")
    tags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    plugin: str = ""

    # ----------------------------------------------------------------------------- resolution
    def resolve(self) -> Callable:
        """The factory itself, importing it if it was registered lazily."""
        f = self.factory
        if isinstance(f, str) and ":" in f and self.kind != "recipes":
            mod, _, attr = f.partition(":")
            try:
                obj = importlib.import_module(mod)
                for part in attr.split("."):
                    obj = getattr(obj, part)
            except (ImportError, AttributeError) as e:
                raise PluginError(f"{SINGULAR[self.kind]} {self.name!r} from plugin {self.plugin!r}: "
                                  f"cannot import {f!r}: {e}") from e
            self.factory = obj
            return obj
        return f

    def parameters(self) -> tuple[Param, ...]:
        if self.params is not None:
            return tuple(self.params)
        f = self.resolve()
        if not callable(f):
            return ()
        try:
            sig = inspect.signature(f)
        except (TypeError, ValueError):
            return ()
        out = []
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "self":
                continue
            default = None if p.default is inspect.Parameter.empty else p.default
            ann = p.annotation
            tname = (ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))) \
                if ann is not inspect.Parameter.empty else type(default).__name__ \
                if default is not None else "any"
            out.append(Param(p.name, default, tname))
        return tuple(out)

    def accepts_any_kwargs(self) -> bool:
        f = self.resolve()
        try:
            sig = inspect.signature(f)
        except (TypeError, ValueError):
            return True
        return any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())

    def description(self) -> str:
        if self.doc:
            return self.doc.strip()
        f = self.resolve()
        return inspect.cleandoc(getattr(f, "__doc__", "") or "")

    def summary(self) -> str:
        if self.doc:
            return self.doc.strip().splitlines()[0]
        if isinstance(self.factory, str) and self.kind != "recipes":
            return ""  # do not import just to list
        return (self.description().splitlines() or [""])[0]


@dataclass
class PluginInfo:
    """What `zoo plugins` shows: a plugin's name, version, origin, registrations and load error."""

    name: str
    version: str
    source: str  # "builtin", "entry point", "local"
    location: str = ""
    registered: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    disabled: bool = False


class Registry:
    """All specs, by kind; built by :func:`zoo.plugins.build_registry`."""

    def __init__(self, config=None):
        from .config import RegistryConfig

        self.config = config or RegistryConfig()
        self.specs: dict[str, dict[str, Spec]] = {k: {} for k in KINDS}
        self.aliases: dict[str, dict[str, str]] = {k: {} for k in KINDS}
        self.conflicts: dict[tuple[str, str], list[str]] = {}
        self.plugins: dict[str, PluginInfo] = {}
        self._lock = threading.Lock()

    # ----------------------------------------------------------------------------- registering
    def make_register(self, kind: str, plugin: str, sink: list[Spec]) -> Callable:
        """The ``register`` callable handed to a plugin's hook for ``kind``; collects into sink."""

        def register(name: str | Spec, factory: Any = None, **meta: Any) -> Spec:
            if isinstance(name, Spec):
                spec = name
                if spec.kind != kind:
                    raise PluginError(f"plugin {plugin!r} registered {spec.kind} spec {spec.name!r} "
                                      f"from its zoo_register_{kind} hook")
            else:
                unknown = set(meta) - set(_SPEC_FIELDS)
                if unknown:
                    raise PluginError(f"plugin {plugin!r}: register({name!r}) got unknown field(s) "
                                      f"{sorted(unknown)}; allowed: {', '.join(_SPEC_FIELDS)}")
                if factory is None:
                    raise PluginError(f"plugin {plugin!r}: register({name!r}) needs a factory")
                if kind == "recipes" and isinstance(factory, (str, Path)):
                    factory = Path(factory)
                meta = dict(meta)
                for key in ("aliases", "inputs", "tags"):
                    if key in meta:
                        meta[key] = tuple(meta[key])
                if meta.get("params") is not None:
                    meta["params"] = tuple(p if isinstance(p, Param) else Param(**p)
                                           for p in meta["params"])
                spec = Spec(kind=kind, name=name, factory=factory, **meta)
            if not isinstance(spec.name, str) or not NAME_RE.match(spec.name):
                raise PluginError(f"plugin {plugin!r}: invalid {SINGULAR[kind]} name {spec.name!r} "
                                  f"(lowercase letters, digits and '-', '+', '_')")
            for preset in spec.presets:
                if not PRESET_RE.match(preset):
                    raise PluginError(f"plugin {plugin!r}: invalid preset name "
                                      f"{spec.name}.{preset}")
            if kind == "metrics" and spec.direction not in ("higher", "lower"):
                raise PluginError(f"plugin {plugin!r}: metric {spec.name!r} needs "
                                  f"direction='higher' or 'lower'")
            spec.plugin = plugin
            sink.append(spec)
            return spec

        return register

    def commit(self, plugin: str, specs: Iterable[Spec]) -> list[str]:
        """Add a plugin's specs; returns the messages of names already taken by another plugin."""
        problems = []
        with self._lock:
            for spec in specs:
                table = self.specs[spec.kind]
                for name in (spec.name, *spec.aliases):
                    owner = table.get(name) or table.get(self.aliases[spec.kind].get(name, ""))
                    if owner is not None and owner.plugin != plugin:
                        self.conflicts.setdefault((spec.kind, name), [owner.plugin]).append(plugin)
                        problems.append(f"{SINGULAR[spec.kind]} {name!r} is registered by both "
                                        f"{owner.plugin!r} and {plugin!r}")
                if any((spec.kind, n) in self.conflicts for n in (spec.name, *spec.aliases)):
                    continue
                table[spec.name] = spec
                for alias in spec.aliases:
                    self.aliases[spec.kind][alias] = spec.name
                self.plugins[plugin].registered.append((spec.kind, spec.name))
        return problems

    def apply_config_aliases(self) -> None:
        for kind, table in self.config.aliases.items():
            if kind not in KINDS:
                raise ZooError(f"registry configuration: [aliases.{kind}]: unknown kind "
                               f"(one of {', '.join(KINDS)})")
            self.aliases[kind].update(table)

    # ----------------------------------------------------------------------------- lookup
    def _check_kind(self, kind: str) -> None:
        if kind not in KINDS:
            raise UnknownNameError("kinds", kind, KINDS)

    def canonical(self, kind: str, name: str) -> tuple[str, str | None]:
        """Resolve aliases and presets: returns (spec name, preset or None)."""
        self._check_kind(kind)
        if (kind, name) in self.conflicts:
            owners = self.conflicts[(kind, name)]
            raise PluginError(f"{SINGULAR[kind]} {name!r} is registered by both "
                              f"{' and '.join(repr(o) for o in owners)}; disable one of them in "
                              f"registry.toml ([plugins] disabled = [...])")
        base, preset = name, None
        if name not in self.specs[kind] and name not in self.aliases[kind] and "." in name:
            base, _, preset = name.partition(".")
        base = self.aliases[kind].get(base, base)
        if base not in self.specs[kind]:
            raise UnknownNameError(kind, name, self.names(kind, with_presets=True))
        if preset is not None and preset not in self.specs[kind][base].presets:
            known = [f"{base}.{p}" for p in self.specs[kind][base].presets]
            raise UnknownNameError(kind, name, known + [base])
        return base, preset

    def get(self, kind: str, name: str) -> Spec:
        return self.specs[kind][self.canonical(kind, name)[0]]

    def names(self, kind: str, pattern: str | None = None, *, with_presets: bool = True,
              with_aliases: bool = False) -> list[str]:
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
        return dict(self.config.defaults.get(kind, {}).get(name, {}))

    def build_kwargs(self, kind: str, name: str, kwargs: dict[str, Any]) -> tuple[Spec, dict]:
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
        spec, merged = self.build_kwargs(kind, name, kwargs)
        factory = spec.resolve()
        if kind == "recipes":
            from .config import load_toml

            return load_toml(factory) if isinstance(factory, Path) else factory(**merged)
        obj = factory(**merged)
        try:  # let consumers know what built it
            obj.zoo_name = name
        except (AttributeError, TypeError):
            pass
        return obj


_REGISTRY: Registry | None = None
_REGISTRY_PATH: str | Path | None = None
_LOCK = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, built on first use from the installed plugins."""
    global _REGISTRY
    with _LOCK:
        if _REGISTRY is None:
            from .plugins import build_registry

            _REGISTRY = build_registry(_REGISTRY_PATH)
        return _REGISTRY


def reset_registry(path: str | Path | None = None) -> None:
    """Forget the registry; the next use rebuilds it (reading ``path`` as registry.toml)."""
    global _REGISTRY, _REGISTRY_PATH
    with _LOCK:
        _REGISTRY, _REGISTRY_PATH = None, path


def create(kind: str, name: str, **kwargs: Any) -> Any:
    return get_registry().create(kind, name, **kwargs)


def list_names(kind: str, pattern: str | None = None) -> list[str]:
    return get_registry().names(kind, pattern)


def info(kind: str, name: str) -> Spec:
    return get_registry().get(kind, name)


def create_loss(name: str, **kwargs: Any):
    """Build a registered loss module, e.g. ``create_loss("charbonnier", eps=1e-3)``."""
    return create("losses", name, **kwargs)


def create_model(name: str, pretrained: str | Path | None = None, **kwargs: Any):
    """Build a registered model; ``pretrained`` is a checkpoint path loaded strictly."""
    model = create("models", name, **kwargs)
    if pretrained:
        from .checkpoint import load_weights

        load_weights(model, pretrained)
    return model


def create_encoder(name: str, **kwargs: Any):
    return create("encoders", name, **kwargs)


def create_dataset(name: str, **kwargs: Any):
    return create("datasets", name, **kwargs)


def create_metric(name: str, **kwargs: Any):
    return create("metrics", name, **kwargs)


def load_recipe(name: str) -> dict:
    """The TOML recipe ``name`` as a dict (a registered name or a path to a .toml file)."""
    if name.endswith(".toml") or "/" in name:
        from .config import load_toml

        return load_toml(name)
    return create("recipes", name)


def _lister(kind: str):
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
