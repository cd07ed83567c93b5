"""Recipe resolution: a TOML recipe + its profile + ``--set`` overrides -> one resolved config.

Order: the recipe file; then ``[profiles.<p>]`` (``p`` = ``--set profile=...`` or the recipe's
``profile`` key) applied as overrides of existing keys -- key by key, except argument tables
(``args``, ``model_args``, ``augment``, ``perceptual``, ``triplet``), which a profile replaces
whole; then every other ``--set key=value`` (``--set data.train.args={...}`` replaces a table).
Overrides are type-checked against the existing value (:func:`zoo.config.apply_overrides`); new
keys are allowed only inside argument tables (``data.train.args``, ``stages.X.model_args``,
``stages.X.optimizer.args`` ...), whose keys belong to the component they configure.

The resolved config keeps the ``profile`` it used and drops the ``profiles`` table, so the run
folder's ``config.toml`` is the exact configuration of the run.
"""
from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any, Iterable, Mapping

from zoo.config import apply_overrides, load_toml, parse_override
from zoo.errors import ConfigError

TOP_KEYS = {"name", "description", "citation", "seed", "profile", "profiles", "device", "data",
            "stages", "eval", "threads"}
DATA_KEYS = {"train", "test", "augment", "num_workers"}
DATASET_KEYS = {"name", "args"}
STAGE_KEYS = {"kind", "model", "model_args", "weights", "freeze", "loss", "cascade", "optimizer",
              "schedule", "eval", "forward", "checkpoint_every", "data", "description",
              "find_unused_parameters", "skip_with_weights"}
CASCADE_KEYS = {"k", "lambda", "delta", "margin", "encoder", "perceptual", "triplet", "part"}
SCHEDULE_KEYS = {"steps", "batch_size", "lr_schedule", "warmup", "min_lr_ratio", "milestones",
                 "gamma", "grad_clip", "log_every"}
EVAL_KEYS = {"metrics", "every", "max_images", "output", "stages", "batch_size", "grid_images",
             "forward"}
TERM_KEYS = {"name", "weight", "inputs", "args", "label"}
FORWARD_KEYS = {"model", "inputs", "output", "op"}
AUGMENT_KEYS = {"hflip", "vflip", "erasing", "erasing_scale"}
STAGE_KINDS = ("train", "cascade")


def _suggest(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(sorted(known))})"


#: Tables a profile replaces as a whole (component arguments), rather than key by key.
WHOLE_TABLES = {"args", "model_args", "augment", "perceptual", "triplet"}


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


def _arg_prefixes(cfg: Mapping) -> list[str]:
    """Dotted prefixes under which new keys may be created (component argument tables)."""
    out = ["data.train.args.", "data.test.args.", "data.augment."]
    for name, stage in (cfg.get("stages") or {}).items():
        for table in ("model_args", "optimizer.args", "cascade.perceptual", "cascade.triplet",
                      "eval", "schedule", "data"):
            out.append(f"stages.{name}.{table}.")
        for i in range(len(stage.get("loss", []) if isinstance(stage, dict) else [])):
            out.append(f"stages.{name}.loss.{i}.args.")
    return out


def load_recipe_source(recipe: str | Path | Mapping) -> tuple[dict, str, str]:
    """(raw recipe dict, recipe name, where it came from) for a registered name, a path or a dict."""
    if isinstance(recipe, Mapping):
        data = copy.deepcopy(dict(recipe))
        return data, str(data.get("name", "recipe")), "<dict>"
    text = str(recipe)
    if text.endswith(".toml") or "/" in text:
        path = Path(text)
        return load_toml(path), path.stem, str(path)
    from zoo.registry import get_registry

    spec = get_registry().get("recipes", text)
    factory = spec.resolve()
    data = load_toml(factory) if isinstance(factory, (str, Path)) else dict(factory())
    return data, spec.name, str(factory)


def resolve(raw: Mapping, overrides: Iterable[str | tuple[str, Any]] = (), *,
            name: str = "recipe", source: str = "<recipe>") -> dict:
    """Apply the selected profile and the overrides; validate the structure; return a new dict."""
    cfg = copy.deepcopy(dict(raw))
    pairs = [parse_override(o) if isinstance(o, str) else tuple(o) for o in overrides]
    profile = cfg.get("profile")
    rest = []
    for key, value in pairs:
        if key == "profile":
            profile = str(value)
        else:
            rest.append((key, value))
    profiles = cfg.pop("profiles", {}) or {}
    from_file = profile == cfg.get("profile")
    if profile and not profiles and from_file:
        pass  # a resolved config (a run's config.toml): its profile is already applied
    elif profile:
        if profile not in profiles:
            raise ConfigError(f"{source}: unknown profile {profile!r}{_suggest(profile, profiles)}")
        cfg = apply_overrides(cfg, _flatten(profiles[profile]),
                              source=f"{source} [profiles.{profile}]",
                              allow_new=_arg_prefixes(cfg))
    cfg["profile"] = profile or ""
    cfg.setdefault("name", name)
    cfg = apply_overrides(cfg, rest, source="--set", allow_new=_arg_prefixes(cfg))
    validate_structure(cfg, source)
    return cfg


def _check_keys(table: Any, allowed: set[str], where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, got {type(table).__name__}")
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r}{_suggest(key, allowed)}")


def validate_structure(cfg: dict, source: str = "<recipe>") -> None:
    """Keys and types of a resolved recipe (names are checked later against the registry)."""
    _check_keys(cfg, TOP_KEYS, source)
    if not isinstance(cfg.get("seed", 0), int):
        raise ConfigError(f"{source}: seed must be an integer")
    data = cfg.get("data", {})
    _check_keys(data, DATA_KEYS, f"{source} [data]")
    for split in ("train", "test"):
        if split in data:
            _check_keys(data[split], DATASET_KEYS, f"{source} [data.{split}]")
            if "name" not in data[split]:
                raise ConfigError(f"{source} [data.{split}]: missing 'name' (a registered dataset)")
    if "augment" in data:
        _check_keys(data["augment"], AUGMENT_KEYS, f"{source} [data.augment]")
    stages = cfg.get("stages")
    if not isinstance(stages, dict) or not stages:
        raise ConfigError(f"{source}: needs at least one [stages.<name>] table")
    seen: list[str] = []
    for sname, st in stages.items():
        where = f"{source} [stages.{sname}]"
        _check_keys(st, STAGE_KEYS, where)
        kind = st.get("kind", "train")
        if kind not in STAGE_KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(STAGE_KINDS)}, got {kind!r}")
        if "model" not in st:
            raise ConfigError(f"{where}: missing 'model' (a registered model name)")
        weights = st.get("weights", "scratch")
        if not isinstance(weights, str):
            raise ConfigError(f"{where}: weights must be \"scratch\", a file path or "
                              f"\"stage:<earlier stage>\"")
        if weights.startswith("stage:") and weights[6:] not in seen:
            raise ConfigError(f"{where}: weights = {weights!r} must name an earlier stage"
                              f"{_suggest(weights[6:], seen) if seen else ' (there is none)'}")
        freeze = st.get("freeze", [])
        if not (freeze == "all" or (isinstance(freeze, list)
                                    and all(isinstance(f, str) for f in freeze))):
            raise ConfigError(f"{where}: freeze must be \"all\" or a list of parameter-name prefixes")
        if kind == "cascade":
            _check_keys(st.get("cascade", {}), CASCADE_KEYS, f"{where}.cascade")
            c = st.get("cascade", {})
            if c.get("k", 2) not in (1, 2):
                raise ConfigError(f"{where}.cascade: k must be 1 (L1) or 2 (L2), got {c.get('k')!r}")
            lam = c.get("lambda", 0.6)
            if not isinstance(lam, (int, float)) or not 0 <= lam <= 1:
                raise ConfigError(f"{where}.cascade: lambda must lie in [0, 1], got {lam!r}")
        elif not st.get("loss"):
            raise ConfigError(f"{where}: needs [[stages.{sname}.loss]] term tables")
        for i, term in enumerate(st.get("loss", [])):
            _check_keys(term, TERM_KEYS, f"{where}.loss[{i}]")
            if "name" not in term:
                raise ConfigError(f"{where}.loss[{i}]: missing 'name' (a registered loss)")
        for i, fw in enumerate(st.get("forward", [])):
            _check_keys(fw, FORWARD_KEYS, f"{where}.forward[{i}]")
        if "schedule" in st:
            _check_keys(st["schedule"], SCHEDULE_KEYS, f"{where}.schedule")
        steps = st.get("schedule", {}).get("steps", 0)
        if not isinstance(steps, int) or steps < 0:
            raise ConfigError(f"{where}.schedule: steps must be a non-negative integer")
        if "eval" in st:
            _check_keys(st["eval"], EVAL_KEYS, f"{where}.eval")
        if "optimizer" in st:
            _check_keys(st["optimizer"], {"name", "args"}, f"{where}.optimizer")
        if "data" in st:
            _check_keys(st["data"], DATA_KEYS, f"{where}.data")
        seen.append(sname)
    if "eval" in cfg:
        _check_keys(cfg["eval"], EVAL_KEYS, f"{source} [eval]")
        for s in cfg["eval"].get("stages", []):
            if s not in stages:
                raise ConfigError(f"{source} [eval]: stages lists unknown stage {s!r}"
                                  f"{_suggest(s, stages)}")
