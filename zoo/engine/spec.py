"""The typed recipe: every table of a resolved recipe as a frozen dataclass, parsed in one place.

A recipe is parsed once, after its profile, stage inheritance and ``--set`` overrides are
applied (:mod:`zoo.engine.recipe`), into a :class:`Recipe`; the engine, the report and
``zoo compare --paper-table`` read only these objects.  Each class lists its keys with their
types and defaults (the fields below, documented in docs/recipes.md), and its ``parse`` checks
them: an unknown key (with a did-you-mean), a wrong type or a value out of range raises a
:class:`~zoo.errors.ConfigError` naming the recipe file and the key, e.g.
``zoo/recipes/cascaded-flare.toml: stages.reference.schedule: unknown key 'step' (did you mean
steps?)``.  Names of registered components (models, losses, datasets, metrics) are checked
later, against the registry (:mod:`zoo.engine.validation`).

``Recipe.to_dict()`` is the resolved configuration a run folder keeps as ``config.toml``, every
default written out; parsing it again gives an equal :class:`Recipe`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from zoo.errors import ConfigError, did_you_mean
from zoo.losses.term import Term, parse_terms
from zoo.losses.triplet import DEFAULT_MARGIN

from .forward import ForwardStep, plan_from_config
from .precision import AMP_MODES, Precision
from .threads import AUTO, check_threads

STAGE_KINDS = ("train", "cascade")
#: The largest integer a recipe holds (TOML integers are 64-bit).
INT64 = 2**63 - 1
#: Seeds are 32-bit (numpy's legacy generator takes no more; torch generators are seeded with
#: ``seed`` times a constant).
SEED_MAX = 2**32 - 1
#: ``device``: ``cpu``, ``cuda``, ``cuda:<index>`` or ``mps`` (whether it is present is checked
#: when the run starts).
DEVICE = re.compile(r"cpu|cuda(:\d+)?|mps")
LR_SCHEDULES = ("constant", "cosine", "step")


# ------------------------------------------------------------------------------ reading tables
def suggestion(word: str, known: Iterable[str]) -> str:
    """`` (did you mean a, b?)`` for close matches of ``word``, else `` (known: ...)``."""
    known = list(known)
    close = did_you_mean(word, known)
    return f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(known)})"


class _Table:
    """One TOML table being parsed: key checks, typed getters, errors naming ``where``."""

    def __init__(self, data: Any, where: str, keys: Iterable[str]):
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
        keys = tuple(keys)
        for key in data:
            if key not in keys:
                raise ConfigError(f"{where}: unknown key {key!r}{suggestion(str(key), keys)}")
        self.data, self.where = data, where

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key} {message}, got {self.data.get(key)!r}")

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        if key not in self.data:
            if default is None:
                raise ConfigError(f"{self.where}: missing {key!r}")
            return default
        value = self.data[key]
        if not isinstance(value, str):
            raise self.error(key, "must be a string")
        if choices and value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}")
        return value

    def integer(self, key: str, default: int, minimum: int = 0, maximum: int = INT64) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum \
                or value > maximum:
            span = f"in [{minimum}, {maximum}]" if maximum != INT64 else \
                f">= {minimum} (and < 2**63)" if isinstance(value, int) and value > INT64 else \
                f">= {minimum}"
            raise self.error(key, f"must be an integer {span}")
        return value

    def number(self, key: str, default: float, low: float = -math.inf,
               high: float = math.inf) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not low <= value <= high:
            span = f"in [{low:g}, {high:g}]" if math.isfinite(high) else \
                f">= {low:g}" if math.isfinite(low) else "finite"
            raise self.error(key, f"must be a number {span}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def table(self, key: str) -> dict[str, Any]:
        value = self.data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.error(key, "must be a table")
        return dict(value)

    def names(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.data.get(key, list(default))
        if isinstance(value, str) or not isinstance(value, (list, tuple)) \
                or not all(isinstance(v, str) for v in value):
            raise self.error(key, "must be a list of names")
        return tuple(value)

    def ints(self, key: str) -> tuple[int, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise self.error(key, "must be a list of integers")
        return tuple(value)


def _without_none(table: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if v is not None}


# ------------------------------------------------------------------------------------ data
@dataclass(frozen=True)
class DatasetRef:
    """``{name, args}``: a registered dataset (``zoo list datasets``) and its keyword arguments.

    ``root`` is the ``root`` of the ``[data]`` table this reference belongs to (``data.root``):
    it replaces ``args.root`` of a dataset that takes a ``root`` (:meth:`build_args`); it is
    written once, as ``data.root``, not in ``args``."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    root: str | None = None

    @classmethod
    def parse(cls, data: Any, where: str, root: str | None = None) -> "DatasetRef":
        t = _Table(data, where, ("name", "args"))
        if not t.has("name"):
            raise ConfigError(f"{where}: missing 'name' (a registered dataset)")
        return cls(t.text("name"), t.table("args"), root)

    def build_args(self, takes_root: bool) -> dict[str, Any]:
        """The keyword arguments the dataset is built with: ``args``, with ``root`` replaced by
        ``data.root`` when one is given and the dataset takes a ``root``."""
        args = dict(self.args)
        if self.root is not None and takes_root:
            args["root"] = self.root
        return args

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "args": dict(self.args)}


@dataclass(frozen=True)
class AugmentSpec:
    """Paired augmentation of the training batches (:mod:`zoo.engine.augment`): random flips and
    random erasing with probability ``erasing`` of an area fraction in ``erasing_scale``."""

    hflip: bool = False
    vflip: bool = False
    erasing: float = 0.0
    erasing_scale: tuple[float, float] = (0.02, 0.1)

    @classmethod
    def parse(cls, data: Any, where: str) -> "AugmentSpec":
        t = _Table(data, where, ("hflip", "vflip", "erasing", "erasing_scale"))
        scale = t.data.get("erasing_scale", list(cls.erasing_scale))
        if not (isinstance(scale, (list, tuple)) and len(scale) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in scale)):
            raise t.error("erasing_scale", "must be two numbers [low, high]")
        return cls(t.flag("hflip", False), t.flag("vflip", False),
                   t.number("erasing", 0.0, 0.0, 1.0), (float(scale[0]), float(scale[1])))

    def to_dict(self) -> dict[str, Any]:
        return {"hflip": self.hflip, "vflip": self.vflip, "erasing": self.erasing,
                "erasing_scale": list(self.erasing_scale)}


DATA_KEYS = ("train", "test", "augment", "num_workers", "root")


@dataclass(frozen=True)
class DataSpec:
    """``[data]`` (or a stage's effective data: ``[data]`` with its ``[stages.X.data]`` keys).

    ``root`` (``--set data.root=DIR``) is the folder of every dataset of the table that takes a
    ``root`` (the Flare7K folders, LOL, the photos of the synthetic sets): it replaces their
    ``args.root``, in ``[data]`` and in every stage's data alike (a stage may set its own
    ``data.root``)."""

    train: DatasetRef | None = None
    test: DatasetRef | None = None
    augment: AugmentSpec | None = None
    num_workers: int = 0
    root: str | None = None

    @classmethod
    def parse(cls, data: Any, where: str) -> "DataSpec":
        t = _Table(data, where, DATA_KEYS)
        d = t.data
        root = t.text("root") if t.has("root") else None
        if root == "":
            raise t.error("root", "must be a folder path")
        return cls(DatasetRef.parse(d["train"], f"{where}.train", root) if "train" in d else None,
                   DatasetRef.parse(d["test"], f"{where}.test", root) if "test" in d else None,
                   AugmentSpec.parse(d["augment"], f"{where}.augment") if "augment" in d else None,
                   t.integer("num_workers", 0), root)

    def to_dict(self) -> dict[str, Any]:
        return _without_none({"train": self.train.to_dict() if self.train else None,
                              "test": self.test.to_dict() if self.test else None,
                              "augment": self.augment.to_dict() if self.augment else None,
                              "num_workers": self.num_workers, "root": self.root})


def _extend_datasets(over: Mapping[str, Any], recipe_data: Mapping[str, Any],
                     where: str) -> dict[str, Any]:
    """A stage's ``data`` keys with each ``train`` / ``test`` table that has no ``name`` made
    the recipe's dataset with the table's ``args`` added key by key (``[stages.X.data.train]
    args = {erasing = 0.5}``: the recipe's training set, erased); one with a ``name`` replaces
    the recipe's dataset whole."""
    out = dict(over)
    for split in ("train", "test"):
        table = over.get(split)
        if not isinstance(table, Mapping) or "name" in table:
            continue
        t = _Table(table, f"{where}.{split}", ("args",))
        base = recipe_data.get(split)
        if not isinstance(base, Mapping) or "name" not in base:
            raise ConfigError(f"{where}.{split}: without a 'name' it adds args to the recipe's "
                              f"[data.{split}], and there is none")
        args = base.get("args", {})
        out[split] = {"name": base["name"],
                      "args": {**(dict(args) if isinstance(args, Mapping) else {}),
                               **t.table("args")}}
    return out


# ------------------------------------------------------------------------------------ stages
@dataclass(frozen=True)
class OptimizerSpec:
    """``{name, args}``: any ``torch.optim`` class by case-insensitive name and its arguments."""

    name: str = "adam"
    args: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any, where: str) -> "OptimizerSpec":
        t = _Table(data, where, ("name", "args"))
        args = t.table("args")
        lr = args.get("lr", 0.0)
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) \
                or lr < 0:
            raise ConfigError(f"{where}: args.lr must be a finite number >= 0, got {lr!r}")
        return cls(t.text("name", "adam"), args)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "args": dict(self.args)}


@dataclass(frozen=True)
class Schedule:
    """How long and how a stage trains: ``steps`` of ``batch_size`` (global, divided among DDP
    processes); the LR multiplier (:func:`zoo.engine.trainer.lr_factor`): linear ``warmup``,
    then ``constant``, ``cosine`` down to ``min_lr_ratio`` or ``step`` decay by ``gamma`` at
    ``milestones``; gradient-norm clipping at ``grad_clip``; a log line every ``log_every``."""

    steps: int = 0
    batch_size: int = 4
    lr_schedule: str = "constant"
    warmup: int = 0
    min_lr_ratio: float = 0.0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    grad_clip: float | None = None
    log_every: int = 10

    @classmethod
    def parse(cls, data: Any, where: str) -> "Schedule":
        t = _Table(data, where, ("steps", "batch_size", "lr_schedule", "warmup", "min_lr_ratio",
                                 "milestones", "gamma", "grad_clip", "log_every"))
        clip = t.number("grad_clip", 0.0, 0.0) if t.has("grad_clip") else None
        return cls(t.integer("steps", 0), t.integer("batch_size", 4, 1),
                   t.text("lr_schedule", "constant", LR_SCHEDULES), t.integer("warmup", 0),
                   t.number("min_lr_ratio", 0.0, 0.0, 1.0), t.ints("milestones"),
                   t.number("gamma", 0.1, 0.0), clip, t.integer("log_every", 10, 1))

    def to_dict(self) -> dict[str, Any]:
        return _without_none({"steps": self.steps, "batch_size": self.batch_size,
                              "lr_schedule": self.lr_schedule, "warmup": self.warmup,
                              "min_lr_ratio": self.min_lr_ratio,
                              "milestones": list(self.milestones), "gamma": self.gamma,
                              "grad_clip": self.grad_clip, "log_every": self.log_every})


@dataclass(frozen=True)
class StageEval:
    """A stage's own evaluation on the test set: ``metrics`` every ``every`` steps (0: none) and
    at the stage's end, on at most ``max_images`` images (0: all) in batches of ``batch_size``;
    ``output`` is the tensor scored (default: the plan's last output, ``anchor`` for a
    cascade), ``forward`` steps appended to the plan for evaluation only."""

    metrics: tuple[str, ...] = ()
    every: int = 0
    max_images: int = 0
    batch_size: int = 4
    output: str | None = None
    forward: tuple[ForwardStep, ...] = ()

    @classmethod
    def parse(cls, data: Any, where: str) -> "StageEval":
        t = _Table(data, where, ("metrics", "every", "max_images", "batch_size", "output",
                                 "forward"))
        output = t.text("output") if t.has("output") else None
        return cls(t.names("metrics"), t.integer("every", 0), t.integer("max_images", 0),
                   t.integer("batch_size", 4, 1), output,
                   plan_from_config(t.data.get("forward"), f"{where}.forward"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metrics": list(self.metrics), "every": self.every,
                               "max_images": self.max_images, "batch_size": self.batch_size}
        if self.output is not None:
            out["output"] = self.output
        if self.forward:
            out["forward"] = [s.to_table() for s in self.forward]
        return out


@dataclass(frozen=True)
class CascadeSpec:
    """The cascaded objective of a ``kind = "cascade"`` stage (:mod:`zoo.engine.cascade`):
    ``lam·L_k + delta·perceptual + (1 − lam)·triplet``; ``perceptual`` and ``triplet`` are those
    terms' ``args``, ``margin`` the triplet margin.  Defaults: the paper's (k = 2, λ = 0.6,
    δ = 0.001); the margin, which the paper does not state, is the triplet loss's own default
    (:data:`zoo.losses.triplet.DEFAULT_MARGIN`, in its ``mse`` units), given here once: a
    ``margin`` inside ``triplet`` is refused."""

    k: int = 2
    lam: float = 0.6
    delta: float = 0.001
    margin: float = DEFAULT_MARGIN
    perceptual: Mapping[str, Any] = field(default_factory=dict)
    triplet: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any, where: str) -> "CascadeSpec":
        t = _Table(data, where, ("k", "lambda", "delta", "margin", "perceptual", "triplet"))
        k = t.data.get("k", 2)
        if isinstance(k, bool) or k not in (1, 2):
            raise ConfigError(f"{where}: k must be 1 (L1) or 2 (L2), got {k!r}")
        triplet = t.table("triplet")
        if "margin" in triplet:
            raise ConfigError(f"{where}.triplet: margin is the cascade's own key; write "
                              f"margin = {triplet['margin']!r} in {where.rsplit(': ', 1)[-1]}")
        return cls(int(k), t.number("lambda", 0.6, 0.0, 1.0), t.number("delta", 0.001, 0.0),
                   t.number("margin", DEFAULT_MARGIN, 0.0), t.table("perceptual"), triplet)

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "lambda": self.lam, "delta": self.delta, "margin": self.margin,
                "perceptual": dict(self.perceptual), "triplet": dict(self.triplet)}


#: The keys of a ``[stages.<name>]`` table (``extends`` is resolved before parsing).
STAGE_KEYS = ("kind", "description", "model", "model_args", "weights", "skip_with_weights",
              "freeze", "loss", "cascade", "forward", "optimizer", "schedule", "eval",
              "checkpoint_every", "data", "find_unused_parameters", "repeats")

#: Seeds of a repeated stage: repeat ``r`` of stage ``i`` uses ``stage_seed(i) + REPEAT_SEED_STEP·r``
#: (a prime, so the repeats' seeds never meet another stage's ``seed + 1000·i``).
REPEAT_SEED_STEP = 7919


@dataclass(frozen=True)
class Stage:
    """One ``[stages.<name>]`` table; see docs/recipes.md for each key.

    ``weights`` is ``"scratch"``, a checkpoint path or ``"stage:<earlier stage>"``; ``freeze``
    is ``"all"`` or parameter-name prefixes; ``loss`` the explicit terms (a cascade stage adds
    them to the terms ``cascade`` generates); ``forward`` the plan (empty: ``self(input) ->
    pred``); ``data`` the stage's effective data (the recipe's ``[data]`` with the stage's own
    ``data`` keys on top; a stage's ``train`` / ``test`` without ``name`` adds its ``args`` to
    the recipe's dataset).  ``repeats = N`` trains the stage N times from the same starting
    weights with the seeds :meth:`Recipe.repeat_seed` (rows ``<stage>/s<r>`` of the final
    evaluation, :meth:`row_names`); no later stage may take a repeated stage's weights.
    """

    name: str
    model: str
    data: DataSpec
    kind: str = "train"
    description: str = ""
    model_args: Mapping[str, Any] = field(default_factory=dict)
    weights: str = "scratch"
    skip_with_weights: bool = False
    freeze: str | tuple[str, ...] = ()
    loss: tuple[Term, ...] = ()
    cascade: CascadeSpec | None = None
    forward: tuple[ForwardStep, ...] = ()
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    schedule: Schedule = field(default_factory=Schedule)
    eval: StageEval = field(default_factory=StageEval)
    checkpoint_every: int = 0
    find_unused_parameters: bool = False
    repeats: int = 1

    @property
    def row_names(self) -> tuple[str, ...]:
        """The names of this stage's trained models, one per repeat: ``(name,)`` when it is not
        repeated, else ``("<name>/s0", ..., "<name>/s<N-1>")`` (evaluation rows, run-folder
        parts ``stages/<name>/s<r>/``, training-state keys)."""
        if self.repeats == 1:
            return (self.name,)
        return tuple(f"{self.name}/s{r}" for r in range(self.repeats))

    @property
    def weights_from_stage(self) -> str | None:
        """The earlier stage whose weights this one starts from, if any."""
        return self.weights[6:] if self.weights.startswith("stage:") else None

    @classmethod
    def parse(cls, name: str, data: Any, where: str, recipe_data: Mapping[str, Any],
              earlier: Iterable[str]) -> "Stage":
        t = _Table(data, where, STAGE_KEYS)
        kind = t.text("kind", "train", STAGE_KINDS)
        if not t.has("model"):
            raise ConfigError(f"{where}: missing 'model' (a registered model name)")
        weights = t.data.get("weights", "scratch")
        if not isinstance(weights, str):
            raise ConfigError(f"{where}: weights must be \"scratch\", a file path or "
                              f"\"stage:<earlier stage>\"")
        earlier = list(earlier)
        if weights.startswith("stage:") and weights[6:] not in earlier:
            raise ConfigError(f"{where}: weights = {weights!r} must name an earlier stage"
                              f"{suggestion(weights[6:], earlier) if earlier else ' (there is none)'}")
        freeze = t.data.get("freeze", [])
        if not (freeze == "all" or (isinstance(freeze, list)
                                    and all(isinstance(f, str) for f in freeze))):
            raise ConfigError(f"{where}: freeze must be \"all\" or a list of parameter-name prefixes")
        loss = parse_terms(t.data.get("loss", []), f"{where}.loss")
        if kind == "cascade":
            cascade = CascadeSpec.parse(t.data.get("cascade", {}), f"{where}.cascade")
            if t.has("forward"):
                raise ConfigError(f"{where}: forward is for kind = \"train\" stages (a cascade's "
                                  f"plan is fixed: negative = sampler(input), anchor = "
                                  f"self(negative))")
        else:
            if t.has("cascade"):
                raise ConfigError(f"{where}: a cascade table needs kind = \"cascade\"")
            if not loss:
                raise ConfigError(f"{where}: needs [[stages.{name}.loss]] term tables")
            cascade = None
        data_over = t.table("data")
        _Table(data_over, f"{where}.data", DATA_KEYS)
        data_over = _extend_datasets(data_over, recipe_data, f"{where}.data")
        return cls(
            name=name, model=t.text("model"), kind=kind, description=t.text("description", ""),
            model_args=t.table("model_args"), weights=weights,
            skip_with_weights=t.flag("skip_with_weights", False),
            freeze="all" if freeze == "all" else tuple(freeze), loss=loss, cascade=cascade,
            forward=plan_from_config(t.data.get("forward"), f"{where}.forward"),
            optimizer=OptimizerSpec.parse(t.data.get("optimizer", {}), f"{where}.optimizer"),
            schedule=Schedule.parse(t.data.get("schedule", {}), f"{where}.schedule"),
            eval=StageEval.parse(t.data.get("eval", {}), f"{where}.eval"),
            checkpoint_every=t.integer("checkpoint_every", 0),
            data=DataSpec.parse({**recipe_data, **data_over}, f"{where}.data"),
            find_unused_parameters=t.flag("find_unused_parameters", False),
            repeats=t.integer("repeats", 1, 1))

    def to_dict(self, recipe_data: DataSpec) -> dict[str, Any]:
        """The stage table; ``data`` holds only the keys that differ from the recipe's."""
        out: dict[str, Any] = {
            "kind": self.kind, "description": self.description, "model": self.model,
            "model_args": dict(self.model_args), "weights": self.weights,
            "skip_with_weights": self.skip_with_weights,
            "freeze": self.freeze if self.freeze == "all" else list(self.freeze),
            "loss": [t.to_dict() for t in self.loss]}
        if self.cascade is not None:
            out["cascade"] = self.cascade.to_dict()
        if self.forward:
            out["forward"] = [s.to_table() for s in self.forward]
        out.update(optimizer=self.optimizer.to_dict(), schedule=self.schedule.to_dict(),
                   eval=self.eval.to_dict(), checkpoint_every=self.checkpoint_every,
                   find_unused_parameters=self.find_unused_parameters, repeats=self.repeats)
        mine, base = self.data.to_dict(), recipe_data.to_dict()
        data = {k: v for k, v in mine.items() if base.get(k) != v}
        if data:
            out["data"] = data
        return out


# ------------------------------------------------------------------------------------ recipe
#: ``[eval] light_source``: ``"none"`` scores the output as it is; ``"paste"`` pastes the input's
#: saturated light source back first (Flare7K's ``test.py``, for Flare7K-2022 models:
#: :func:`zoo.metrics.light_source.paste_light_source`).
LIGHT_SOURCE_MODES = ("none", "paste")


@dataclass(frozen=True)
class EvalSpec:
    """``[eval]``: the final evaluation of the listed ``stages`` (default: all) and of the input
    itself on the test set: ``metrics`` averaged over at most ``max_images`` images (0: all) in
    batches of ``batch_size``; ``grid_images`` rows of the report's image grid;
    ``light_source`` (``"none"`` | ``"paste"``, :data:`LIGHT_SOURCE_MODES`) what is scored;
    ``contrasts`` ``[[new, baseline], ...]`` stage pairs whose difference the report states with
    its confidence interval over the stages' repeats (paired by repeat index)."""

    metrics: tuple[str, ...] = ("psnr", "ssim")
    stages: tuple[str, ...] = ()
    batch_size: int = 4
    max_images: int = 0
    grid_images: int = 4
    light_source: str = "none"
    contrasts: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, data: Any, where: str) -> "EvalSpec":
        t = _Table(data, where, ("metrics", "stages", "batch_size", "max_images", "grid_images",
                                 "light_source", "contrasts"))
        pairs = t.data.get("contrasts", [])
        if not isinstance(pairs, (list, tuple)) or not all(
                isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(n, str) for n in p)
                for p in pairs):
            raise t.error("contrasts", "must be a list of [new stage, baseline stage] pairs")
        for new, base in pairs:
            if new == base:
                raise ConfigError(f"{where}: contrasts: [{new!r}, {base!r}] compares a stage "
                                  f"with itself")
        return cls(t.names("metrics", cls.metrics), t.names("stages"),
                   t.integer("batch_size", 4, 1), t.integer("max_images", 0),
                   t.integer("grid_images", 4),
                   t.text("light_source", "none", LIGHT_SOURCE_MODES),
                   tuple((str(a), str(b)) for a, b in pairs))

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": list(self.metrics), "stages": list(self.stages),
                "batch_size": self.batch_size, "max_images": self.max_images,
                "grid_images": self.grid_images, "light_source": self.light_source,
                "contrasts": [list(p) for p in self.contrasts]}


def stages_used(stage: Stage) -> set[str]:
    """The earlier stages whose trained models ``stage`` uses: its starting weights, its forward
    plan's ``stage:<name>`` models, its cascade's ``source = "stage:<name>"`` encoders."""
    used = {stage.weights_from_stage} if stage.weights_from_stage else set()
    used |= {s.model[6:] for s in (*stage.forward, *stage.eval.forward)
             if s.model.startswith("stage:")}
    tables = [t.args for t in stage.loss]
    if stage.cascade is not None:
        tables += [stage.cascade.perceptual, stage.cascade.triplet]
    for args in tables:
        source = args.get("source")
        if isinstance(source, str) and source.startswith("stage:"):
            used.add(source[6:])
    return used


RECIPE_KEYS = ("name", "description", "citation", "seed", "profile", "device", "threads", "amp",
               "channels_last", "data", "stages", "eval")


@dataclass(frozen=True)
class Recipe:
    """A resolved recipe: what ``zoo run recipe`` runs and ``config.toml`` records.

    ``profile`` is the profile that was applied (``""``: none); ``source`` says where the recipe
    came from (a file, a registered name's file, ``<dict>``) and is not part of the
    configuration.  ``amp`` (``"off"``, ``"bf16"``, ``"fp16"``) and ``channels_last`` are the
    mixed precision and memory format of training and evaluation (:mod:`zoo.engine.precision`).
    """

    name: str
    stages: Mapping[str, Stage]
    data: DataSpec = field(default_factory=DataSpec)
    eval: EvalSpec | None = None
    description: str = ""
    citation: str = ""
    seed: int = 0
    profile: str = ""
    device: str = "cpu"
    threads: int | str = AUTO
    amp: str = "off"
    channels_last: bool = False
    source: str = field(default="<recipe>", compare=False)

    @classmethod
    def parse(cls, data: Any, source: str = "<recipe>") -> "Recipe":
        """Parse a resolved recipe table (profiles, inheritance and overrides applied)."""
        t = _Table(data, source, RECIPE_KEYS)
        t.integer("seed", 0, 0, SEED_MAX)
        raw_data = t.table("data")
        recipe_data = DataSpec.parse(raw_data, f"{source}: data")
        raw_stages = t.data.get("stages")
        if not isinstance(raw_stages, Mapping) or not raw_stages:
            raise ConfigError(f"{source}: needs at least one [stages.<name>] table")
        stages: dict[str, Stage] = {}
        for name, table in raw_stages.items():
            stages[name] = Stage.parse(name, table, f"{source}: stages.{name}", raw_data,
                                       list(stages))
        for name, stage in stages.items():
            for used in sorted(stages_used(stage)):
                if used in stages and stages[used].repeats > 1:
                    raise ConfigError(f"{source}: stages.{name} uses the trained model of "
                                      f"stage {used!r}, which has repeats = "
                                      f"{stages[used].repeats}; a repeated stage's models are "
                                      f"results, not inputs (set its repeats to 1)")
        ev = None
        if "eval" in t.data:
            ev = EvalSpec.parse(t.data["eval"], f"{source}: eval")
            for s in ev.stages:
                if s not in stages:
                    raise ConfigError(f"{source}: eval: stages lists unknown stage {s!r}"
                                      f"{suggestion(s, stages)}")
            evaluated = ev.stages or tuple(stages)
            for new, base in ev.contrasts:
                for s in (new, base):
                    if s not in evaluated:
                        raise ConfigError(f"{source}: eval: contrasts names {s!r}, which is not "
                                          f"an evaluated stage (evaluated: "
                                          f"{', '.join(evaluated)})")
                if stages[new].repeats != stages[base].repeats:
                    raise ConfigError(f"{source}: eval: contrasts [{new!r}, {base!r}] pairs the "
                                      f"repeats by index, but they have repeats = "
                                      f"{stages[new].repeats} and {stages[base].repeats}")
        if not DEVICE.fullmatch(t.text("device", "cpu")):
            raise t.error("device", "must be cpu, cuda, cuda:N or mps")
        return cls(name=t.text("name", "recipe"), stages=stages, data=recipe_data, eval=ev,
                   description=t.text("description", ""), citation=t.text("citation", ""),
                   seed=t.data.get("seed", 0), profile=t.text("profile", ""),
                   device=t.text("device", "cpu"),
                   threads=check_threads(t.data.get("threads", AUTO), f"{source}: threads"),
                   amp=t.text("amp", "off", AMP_MODES),
                   channels_last=t.flag("channels_last", False), source=source)

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration (``config.toml``); :meth:`parse` reads it back."""
        out: dict[str, Any] = {
            "name": self.name, "description": self.description, "citation": self.citation,
            "seed": self.seed, "profile": self.profile, "device": self.device,
            "threads": self.threads, "amp": self.amp, "channels_last": self.channels_last,
            "data": self.data.to_dict(),
            "stages": {n: s.to_dict(self.data) for n, s in self.stages.items()}}
        if self.eval is not None:
            out["eval"] = self.eval.to_dict()
        return out

    @property
    def precision(self) -> Precision:
        """The run's mixed precision and memory format."""
        return Precision(self.amp, self.channels_last)

    def stage_seed(self, index: int) -> int:
        """The seed of the ``index``-th stage, ``seed + 1000·index``: every stage is reseeded
        before it is built, so its result depends only on the seed and the earlier stages'
        results (skipping a finished stage on ``--resume`` changes nothing)."""
        return self.seed + 1000 * index

    def repeat_seed(self, index: int, repeat: int) -> int:
        """The seed of repeat ``repeat`` of the ``index``-th stage:
        ``stage_seed(index) + 7919·repeat`` (repeat 0 is the unrepeated stage's seed)."""
        return self.stage_seed(index) + REPEAT_SEED_STEP * repeat

    @property
    def rows(self) -> dict[str, tuple[str, ...]]:
        """Every stage's trained-model names (:attr:`Stage.row_names`), by stage."""
        return {name: st.row_names for name, st in self.stages.items()}

    @property
    def eval_stages(self) -> tuple[str, ...]:
        """The stages the final evaluation scores (all when ``[eval] stages`` is empty)."""
        if self.eval is None:
            return ()
        return self.eval.stages or tuple(self.stages)
