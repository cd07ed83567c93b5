"""Recipe resolution: a TOML recipe + its profile + ``--set`` overrides -> one typed :class:`Recipe`.

Order: the recipe file; then ``[profiles.<p>]`` (``p`` = ``--set profile=...`` or the recipe's
``profile`` key) applied as overrides of existing keys -- key by key, except argument tables
(``args``, ``model_args``, ``augment``, ``perceptual``, ``triplet``), which a profile replaces
whole; then every other ``--set key=value`` (``--set data.train.args={...}`` replaces a table).
Overrides are type-checked against the existing value (:func:`zoo.config.apply_overrides`),
except ``threads``, which every recipe has (default ``"auto"``) and which takes a number or
``"auto"`` (:mod:`zoo.engine.threads`); new
keys are allowed only inside argument tables (``data.train.args``, ``stages.X.model_args``,
``stages.X.optimizer.args`` ...), whose keys belong to the component they configure, and for the
optional keys a recipe need not write (:data:`OPTIONAL_KEYS`: ``data.root``, ``amp``,
``channels_last``).  A profile with
``extends = "<profile>"`` is that profile plus its own keys, applied down to single values
(:func:`profile_overrides`): ``paper-smoke`` is ``paper`` with smaller sizes.

**Stage inheritance.**  ``[stage_defaults]`` is a stage table every stage starts from, and
``extends = "<earlier stage>"`` makes a stage start from that stage instead.  A stage's own keys
go on top, tables merged key by key except the argument tables above, which a stage replaces
whole.  Profiles and ``--set`` address the recipe as written: ``stage_defaults.model_args``
reaches every stage that does not set ``model_args`` itself, and a key set on a stage reaches
the stages that extend it.  A key a stage only inherits can be addressed on that stage as well
(``--set stages.control.schedule.steps=5``): it then becomes the stage's own.

**Loss expressions.**  A stage's ``loss`` may be a string, ``loss = "0.8*l1 + 0.2*ms-ssim"``
(also ``--set stages.x.loss=...``): terms comparing ``pred`` with ``gt``
(:data:`EXPRESSION_INPUTS`), read by :func:`zoo.losses.term.parse_loss_expression` with the
registry's loss names and written out as term tables.  ``--set stages.x.loss.0.weight=0.5``
addresses one term of the list (from 0).

The result is parsed into :class:`zoo.engine.spec.Recipe`, which keeps the ``profile`` it used
and has no ``profiles``, ``stage_defaults`` or ``extends``: the run folder's ``config.toml`` is
the exact, flat configuration of the run (and a recipe in its own right).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from zoo.config import apply_overrides, load_toml, parse_override
from zoo.errors import ConfigError
from zoo.losses.term import parse_loss_expression
from zoo.registry import Registry

from .spec import STAGE_KEYS, Recipe, suggestion
from .threads import check_threads

#: Tables a profile replaces as a whole (component arguments), rather than key by key; a stage
#: replaces them whole as well when it inherits.
WHOLE_TABLES = {"args", "model_args", "augment", "perceptual", "triplet"}

#: The tensors the terms of a stage's ``loss = "<expression>"`` compare.
EXPRESSION_INPUTS = ("pred", "gt")

#: Argument tables of a stage, in which overrides may create new keys.
_STAGE_ARG_TABLES = ("model_args", "optimizer.args", "cascade.perceptual", "cascade.triplet",
                     "eval", "schedule", "data")


def _flatten(table: Mapping, prefix: str = "") -> list[tuple[str, Any]]:
    """Profile table -> (dotted key, value) pairs; argument tables stay whole."""
    out = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in WHOLE_TABLES:
            out += _flatten(value, path + ".")
        else:
            out.append((path, value))
    return out


#: Keys with a default that a recipe need not write but ``--set`` and profiles may set.
OPTIONAL_KEYS = ("data.root", "amp", "channels_last")


def _leaves(table: Mapping, prefix: str = "") -> list[tuple[str, Any]]:
    """Profile table -> (dotted key, value) pairs down to single values (lists stay whole)."""
    out: list[tuple[str, Any]] = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        out += _leaves(value, path + ".") if isinstance(value, dict) and value else \
            [(path, value)]
    return out


def profile_overrides(profiles: Mapping, name: str, source: str) -> list[tuple[str, Any]]:
    """The (dotted key, value) overrides profile ``name`` applies, in order.

    A profile with ``extends = "<profile>"`` applies that profile first, then its own keys down
    to single values -- argument tables included, so ``data.train.args = { size = 64 }`` changes
    only ``size`` -- and thereby differs from it in exactly the keys it writes.
    """
    chain: list[str] = []
    while True:
        if name not in profiles:
            where = f"[profiles.{chain[-1]}] extends" if chain else "profile"
            raise ConfigError(f"{source}: {where}: unknown profile {name!r}"
                              f"{suggestion(name, profiles)}")
        if name in chain:
            raise ConfigError(f"{source}: [profiles.{name}]: extends makes a cycle "
                              f"({' -> '.join([*chain, name])})")
        table = profiles[name]
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: profiles.{name} must be a table")
        chain.append(name)
        parent = table.get("extends")
        if parent is None:
            break
        if not isinstance(parent, str):
            raise ConfigError(f"{source}: [profiles.{name}] extends must be a profile name, "
                              f"got {parent!r}")
        name = parent
    pairs: list[tuple[str, Any]] = []
    for i, name in enumerate(reversed(chain)):
        own = {k: v for k, v in profiles[name].items() if k != "extends"}
        pairs += _flatten(own) if i == 0 else _leaves(own)
    return pairs


def _arg_prefixes(cfg: Mapping) -> list[str]:
    """Dotted prefixes under which new keys may be created (component argument tables), and
    the optional keys."""
    out = ["data.train.args.", "data.test.args.", "data.augment.", *OPTIONAL_KEYS]
    stages = cfg.get("stages")
    tables: dict[str, Any] = {f"stages.{name}.": table for name, table in
                              (stages.items() if isinstance(stages, dict) else ())}
    tables["stage_defaults."] = cfg.get("stage_defaults")
    for owner, table in tables.items():
        out += [f"{owner}{arg}." for arg in _STAGE_ARG_TABLES]
        terms = table.get("loss") if isinstance(table, dict) else None
        if isinstance(terms, list):  # each term's args: stages.x.loss.0.args.eps=...
            out += [f"{owner}loss.{i}.args." for i in range(len(terms))]
    return out


# ------------------------------------------------------------------------------ inheritance
def _merge(base: Mapping, over: Mapping) -> dict:
    """``over`` on top of ``base``: tables merged key by key, argument tables replaced whole."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in WHOLE_TABLES:
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def expand_stages(cfg: Mapping, source: str = "<recipe>") -> dict:
    """The recipe with ``[stage_defaults]`` and ``extends`` resolved into flat stage tables."""
    out = copy.deepcopy(dict(cfg))
    defaults = out.pop("stage_defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{source}: stage_defaults must be a table")
    for key in defaults:
        if key not in STAGE_KEYS:
            raise ConfigError(f"{source}: stage_defaults: unknown key {key!r}"
                              f"{suggestion(key, STAGE_KEYS)}")
    stages = out.get("stages")
    if not isinstance(stages, dict):
        return out  # the parser says what is wrong
    flat: dict[str, Any] = {}
    for name, table in stages.items():
        if not isinstance(table, dict):
            flat[name] = table
            continue
        table = dict(table)
        parent = table.pop("extends", None)
        if parent is None:
            base = defaults
        elif not isinstance(parent, str) or parent not in flat:
            raise ConfigError(f"{source}: stages.{name}: extends = {parent!r} must name an "
                              f"earlier stage{suggestion(str(parent), flat) if flat else ''}")
        else:
            base = flat[parent]
        flat[name] = _merge(base, table)
    out["stages"] = flat
    return out


def _make_own(cfg: dict, key: str) -> None:
    """Before ``stages.X.a.b=value`` is applied: if stage X only inherits ``a.b``, give it the
    key (an empty table on the way, a copy of an inherited argument table or value), so the
    override finds it, type-checks against it and changes X alone."""
    parts = key.split(".")
    stages = cfg.get("stages")
    if len(parts) < 3 or parts[0] != "stages" or not isinstance(stages, dict) \
            or not isinstance(stages.get(parts[1]), dict):
        return
    try:
        view: Any = expand_stages(cfg)["stages"][parts[1]]
    except ConfigError:
        return  # the expansion itself reports it later
    node: Any = stages[parts[1]]
    for i, part in enumerate(parts[2:]):
        if not isinstance(node, dict) or not isinstance(view, dict) or part not in view:
            return
        if part not in node:
            last = i == len(parts) - 3
            whole = last or part in WHOLE_TABLES or not isinstance(view[part], dict)
            node[part] = copy.deepcopy(view[part]) if whole else {}
            if whole:
                return
        node, view = node[part], view[part]


def expand_loss_expressions(cfg: Mapping, source: str = "<recipe>",
                            is_loss: Callable[[str], bool] | None = None) -> dict:
    """The recipe with each stage's ``loss = "<expression>"`` read into term tables (see the
    module doc); ``is_loss`` tells registered loss names (names may contain ``+``)."""
    out = copy.deepcopy(dict(cfg))
    stages = out.get("stages")
    for name, table in (stages.items() if isinstance(stages, dict) else ()):
        if isinstance(table, dict) and isinstance(table.get("loss"), str):
            terms = parse_loss_expression(table["loss"], f"{source}: stages.{name}.loss",
                                          inputs=EXPRESSION_INPUTS, is_name=is_loss)
            table["loss"] = [t.to_dict() for t in terms]
    return out


def _apply(cfg: dict, pairs: Iterable[tuple[str, Any]], source: str) -> dict:
    for key, value in pairs:
        _make_own(cfg, key)
        cfg = apply_overrides(cfg, [(key, value)], source=source, allow_new=_arg_prefixes(cfg))
    return cfg


# ------------------------------------------------------------------------------ resolution
def load_recipe_source(recipe: str | Path | Mapping, registry: Registry) -> tuple[dict, str, str]:
    """(raw recipe dict, recipe name, where it came from) for a registered name, a path or a dict."""
    if isinstance(recipe, Mapping):
        data = copy.deepcopy(dict(recipe))
        return data, str(data.get("name", "recipe")), "<dict>"
    text = str(recipe)
    if text.endswith(".toml") or "/" in text:
        path = Path(text)
        return load_toml(path), path.stem, str(path)
    spec = registry.get("recipes", text)
    return dict(registry.create("recipes", text)), spec.name, str(spec.factory)


def resolve(raw: Mapping, overrides: Iterable[str | tuple[str, Any]] = (), *,
            name: str = "recipe", source: str = "<recipe>",
            is_loss: Callable[[str], bool] | None = None) -> Recipe:
    """Apply the selected profile, the stage inheritance and the overrides; read loss
    expressions (``is_loss`` tells registered loss names); parse the result."""
    cfg = copy.deepcopy(dict(raw))
    pairs = [parse_override(o) if isinstance(o, str) else tuple(o) for o in overrides]
    profile = cfg.get("profile")
    rest = []
    threads = None
    for key, value in pairs:
        if key == "profile":
            profile = str(value)
        elif key == "threads":  # every recipe has it (default "auto"), a number or "auto"
            threads = check_threads(value, f"--set threads={value!r}")
        else:
            rest.append((key, value))
    profiles = cfg.pop("profiles", {}) or {}
    from_file = profile == cfg.get("profile")
    if profile and not profiles and from_file:
        pass  # a resolved config (a run's config.toml): its profile is already applied
    elif profile:
        cfg = _apply(cfg, profile_overrides(profiles, profile, source),
                     f"{source} [profiles.{profile}]")
    cfg["profile"] = profile or ""
    cfg.setdefault("name", name)
    if threads is not None:
        cfg["threads"] = threads
    cfg = _apply(cfg, rest, "--set")
    return Recipe.parse(expand_loss_expressions(expand_stages(cfg, source), source, is_loss),
                        source)


def resolve_recipe(recipe: str | Path | Mapping | Recipe,
                   overrides: Iterable[str | tuple[str, Any]] = (), *,
                   registry: Registry) -> Recipe:
    """A registered recipe name, a TOML path or a dict, with its profile and ``overrides``.

    A :class:`Recipe` is returned as it is (it is resolved already; overrides are refused).
    """
    if isinstance(recipe, Recipe):
        if list(overrides):
            raise ConfigError(f"recipe {recipe.name!r} is resolved already; apply overrides to "
                              f"its source")
        return recipe
    raw, name, source = load_recipe_source(recipe, registry)
    losses = set(registry.names("losses", with_aliases=True))
    return resolve(raw, overrides, name=name, source=source, is_loss=losses.__contains__)
