"""The settings of a loss comparison: what to compare (tasks × losses × seeds) and the budget
every cell gets (model, steps, crop size, batch, learning rate, data lengths).

Settings come from, in increasing priority: the defaults below, a TOML file
(``zoo compare --config benchmarks/compare/x.toml``) and the command-line flags.  The TOML keys
are the field names of :class:`CompareSettings`; ``losses`` entries are registered loss names,
loss expressions (``"0.8*l1 + 0.2*ms-ssim"``, labelled as written) or inline tables ``{label = "l1+tv", terms = [{name = "l1"}, {name = "tv", weight = 0.05}]}``
(a composition of several registered losses, compared as one choice).

:func:`budget_hash` digests everything that changes what one cell computes, and nothing else
(not the lists of tasks, losses and seeds): an output folder may grow by new losses or seeds and
keep its finished cells, but never mixes cells trained under different budgets.

How and where the cells run — the executor (``local``, ``ray``, ``slurm``) and its resources,
the output folder, the training logger — are :class:`RunOptions`: the same keys in the TOML file
and as flags, never part of the budget, so a comparison started on one executor can be resumed
on another.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from zoo.config import load_toml
from zoo.engine.loggers import LOGGERS
from zoo.errors import ConfigError
from zoo.losses.term import Term, parse_loss_expression

_LABEL_SAFE = re.compile(r"[^A-Za-z0-9.=-]+")
#: The keys of a term of a compared loss (its label is the loss choice's).
CHOICE_TERM_KEYS = ("name", "weight", "args", "inputs")


@dataclass(frozen=True)
class LossChoice:
    """One compared loss: a label (table row) and its terms (``inputs`` given only where they
    should not be mapped onto the task's tensors: :func:`zoo.compare.tasks.map_loss`)."""

    label: str
    terms: tuple[Term, ...]

    @property
    def slug(self) -> str:
        """The label made file-name safe (``l1+ms-ssim`` → ``l1_ms-ssim``)."""
        return _LABEL_SAFE.sub("_", self.label).strip("_") or "loss"

    def to_dict(self) -> dict:
        return {"label": self.label, "terms": [t.to_dict() for t in self.terms]}


@dataclass
class CompareSettings:
    """Everything ``zoo compare`` needs; see the module docstring for where values come from.

    Attributes:
        tasks: task names (``flare``, ``lowlight``, ``denoise``; see :mod:`zoo.compare.tasks`).
        losses: the compared loss choices.
        model, model_args: the registered model every cell trains (same for all cells).
        seeds: the seeds; each seed sets the model initialisation and the batch order.
        steps, batch_size, lr: the optimisation budget (Adam), equal for every cell.
        size: training crop / synthetic image size; test images have the same size.
        train_length, test_length: number of training / held-out test samples.
        metrics: metric names; empty → each task's default metrics.
        loss_args: extra arguments per registered loss name (e.g. the perceptual loss's encoder).
        datasets: per task, ``{name, train_args, test_args}`` replacing the task's default data.
        name: the comparison's name (default output folder ``runs/compare/<name>``).
        input_row: add a baseline row per task: the degraded input scored as it is.
    """

    tasks: list[str] = field(default_factory=lambda: ["flare", "lowlight", "denoise"])
    losses: list[LossChoice] = field(default_factory=list)
    model: str = "unet.s"
    model_args: dict = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    steps: int = 200
    batch_size: int = 4
    lr: float = 1e-3
    size: int = 64
    train_length: int = 512
    test_length: int = 16
    metrics: list[str] = field(default_factory=list)
    loss_args: dict = field(default_factory=dict)
    datasets: dict = field(default_factory=dict)
    name: str = ""
    description: str = ""
    input_row: bool = True

    def budget(self) -> dict:
        """The settings that change what a single cell computes (see :func:`budget_hash`)."""
        return {"model": self.model, "model_args": self.model_args, "steps": self.steps,
                "batch_size": self.batch_size, "lr": self.lr, "size": self.size,
                "train_length": self.train_length, "test_length": self.test_length,
                "loss_args": self.loss_args, "datasets": self.datasets}

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["losses"] = [c.to_dict() for c in self.losses]
        return d


def budget_hash(budget: Mapping[str, Any]) -> str:
    """Short stable digest of a JSON-serialisable settings dict."""
    text = json.dumps(budget, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def budget_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``steps 20 → 50, size 32 → 48``: the keys whose values differ."""
    keys = sorted(set(old) | set(new))
    parts = [f"{k} {old.get(k)!r} → {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return ", ".join(parts) or "no visible difference"


def parse_loss_choice(item: Any, where: str = "losses",
                      is_name: Callable[[str], bool] | None = None) -> LossChoice:
    """A loss entry: a name (``"l1"``), a loss expression (``"0.8*l1 + 0.2*ms-ssim"``, labelled
    as written; :func:`zoo.losses.term.parse_loss_expression`, ``is_name`` telling registered
    loss names) or ``{label, terms=[{name, weight?, args?, inputs?}]}``."""
    if isinstance(item, str):
        name = item.strip()
        if not name:
            raise ConfigError(f"{where}: empty loss name")
        return LossChoice(name, parse_loss_expression(name, where, is_name=is_name))
    if isinstance(item, Mapping):
        unknown = set(item) - {"label", "terms"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} (expected label, terms)")
        terms = item.get("terms")
        if not isinstance(terms, list) or not terms:
            raise ConfigError(f"{where}: 'terms' must be a non-empty list of term tables")
        out = [Term.from_table(t, f"{where}.terms[{i}]", CHOICE_TERM_KEYS)
               for i, t in enumerate(terms)]
        label = item.get("label") or "+".join(t.name for t in out)
        return LossChoice(str(label), tuple(out))
    raise ConfigError(f"{where}: expected a loss name or a table, got {type(item).__name__}")


def parse_seeds(value: Any, where: str = "seeds") -> list[int]:
    """``3`` → ``[0, 1, 2]``; a list of integers stays as it is."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a count or a list of integers")
    if isinstance(value, int):
        if value < 1:
            raise ConfigError(f"{where}: needs at least one seed, got {value}")
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool)
                                                 for v in value):
        if len(set(value)) != len(value):
            raise ConfigError(f"{where}: repeated seed in {value}")
        return list(value)
    raise ConfigError(f"{where}: expected a count or a non-empty list of integers, got {value!r}")


def split_list(text: str) -> list[str]:
    """``"l1, l2,ssim"`` → ``["l1", "l2", "ssim"]``."""
    return [p.strip() for p in text.split(",") if p.strip()]


#: Where the cells run (:mod:`zoo.compare.executors`).
EXECUTORS = ("local", "ray", "slurm")
#: submitit's executors: ``slurm`` submits jobs; ``local`` and ``debug`` run them on this machine
#: (subprocesses / this process), to try a configuration without a cluster.
SLURM_CLUSTERS = ("slurm", "local", "debug")


@dataclass(frozen=True)
class RunOptions:
    """How and where a comparison runs — never part of the budget (a comparison may be resumed
    on another executor).  The same keys in a comparison TOML file and as flags
    (``num_cpus`` ↔ ``--num-cpus``).

    Attributes:
        out: the output folder (default ``runs/compare/<name>``).
        logger: ``csv`` (each cell's ``scalars.csv``), ``tensorboard`` (also event files in
            ``cells/<id>/tb/``; needs the ``tensorboard`` extra) or ``none``.
        executor: ``local`` (worker processes on this machine), ``ray`` (one Ray task per cell;
            the ``ray`` extra) or ``slurm`` (one Slurm job per cell through submitit, submitted
            as one job array; the ``slurm`` extra).
        jobs: local: cells at once (default: the cores this process may use).
        num_cpus: ray / slurm: CPU cores per cell (Ray ``num_cpus``, Slurm ``--cpus-per-task``);
            the cell's torch threads.
        num_gpus: ray / slurm: GPUs per cell (Ray ``num_gpus``, fractions allowed; Slurm
            ``--gpus-per-node``, whole); a cell with GPUs trains on ``cuda``.
        ray_address: the Ray cluster to join (``auto``: the one ``ray start`` runs on this
            machine; ``ray://head:10001``: a remote one); empty: start a local cluster for this
            comparison (on 127.0.0.1, without the dashboard).
        slurm_partition: Slurm partition (empty: the cluster's default).
        slurm_time_min: time limit per cell, minutes.
        slurm_mem_gb: memory per cell (0: the partition's default).
        slurm_array_parallelism: cells running at once in the job array (0: submitit's default).
        slurm_cluster: ``slurm``, or ``local`` / ``debug`` to run the submitit jobs on this
            machine (trying a configuration without a cluster).
        slurm_folder: submitit's job scripts, pickles and logs (default ``OUT/slurm``).
    """

    out: str | None = None
    logger: str = "csv"
    executor: str = "local"
    jobs: int | None = None
    num_cpus: int = 1
    num_gpus: float = 0.0
    ray_address: str = ""
    slurm_partition: str = ""
    slurm_time_min: int = 60
    slurm_mem_gb: float = 0.0
    slurm_array_parallelism: int = 0
    slurm_cluster: str = "slurm"
    slurm_folder: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_RUN_FIELDS = {f.name for f in dataclasses.fields(RunOptions)}
_CHOICES = {"logger": LOGGERS, "executor": EXECUTORS, "slurm_cluster": SLURM_CLUSTERS}


def parse_run_options(data: Mapping[str, Any], source: str = "<config>",
                      base: RunOptions = RunOptions()) -> RunOptions:
    """The run-option keys of ``data`` (others are ignored) on top of ``base``, checked."""
    values: dict[str, Any] = {}
    for key in _RUN_FIELDS & set(data):
        value, where = data[key], f"{source}: {key}"
        if value is None:
            continue
        if key in _CHOICES:
            if value not in _CHOICES[key]:
                raise ConfigError(f"{where}: expected one of {', '.join(_CHOICES[key])}, "
                                  f"got {value!r}")
        elif key in ("jobs", "num_cpus", "slurm_time_min"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{where}: expected a positive integer, got {value!r}")
        elif key == "slurm_array_parallelism":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where}: expected an integer ≥ 0, got {value!r}")
        elif key in ("num_gpus", "slurm_mem_gb"):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where}: expected a number ≥ 0, got {value!r}")
            value = float(value)
        elif not isinstance(value, str):  # out, ray_address, slurm_partition, slurm_folder
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        values[key] = value
    opts = dataclasses.replace(base, **values)
    if opts.executor == "slurm" and opts.num_gpus != int(opts.num_gpus):
        raise ConfigError(f"{source}: num_gpus: Slurm allocates whole GPUs, got "
                          f"{opts.num_gpus:g} (fractions are for the ray executor)")
    return opts


_FIELDS = {f.name: f for f in dataclasses.fields(CompareSettings)}
_POSITIVE_INTS = ("steps", "batch_size", "size", "train_length", "test_length")


def settings_from_mapping(data: Mapping[str, Any], source: str = "<config>",
                          base: CompareSettings | None = None,
                          is_name: Callable[[str], bool] | None = None) -> CompareSettings:
    """Apply the keys of ``data`` (a TOML table) on top of ``base`` (default settings);
    ``is_name`` tells registered loss names (for loss expressions)."""
    s = copy.deepcopy(base) if base is not None else CompareSettings()
    for key, value in data.items():
        if key in _RUN_FIELDS:  # run options, not settings: parse_run_options
            continue
        if key not in _FIELDS:
            close = difflib.get_close_matches(key, list(_FIELDS) + sorted(_RUN_FIELDS), n=2)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"{source}: unknown key {key!r}{hint}")
        where = f"{source}: {key}"
        if key == "losses":
            if not isinstance(value, list) or not value:
                raise ConfigError(f"{where}: expected a non-empty list")
            s.losses = [parse_loss_choice(v, f"{where}[{i}]", is_name)
                        for i, v in enumerate(value)]
        elif key == "seeds":
            s.seeds = parse_seeds(value, where)
        elif key in ("tasks", "metrics"):
            if isinstance(value, str):
                value = split_list(value)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: expected a list of names")
            setattr(s, key, list(value))
        elif key in ("model_args", "loss_args", "datasets"):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: expected a table")
            setattr(s, key, copy.deepcopy(dict(value)))
        elif key in _POSITIVE_INTS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{where}: expected a positive integer, got {value!r}")
            setattr(s, key, value)
        elif key == "input_row":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: expected true or false, got {value!r}")
            s.input_row = value
        elif key == "lr":
            if not isinstance(value, (int, float)) or isinstance(value, bool) \
                    or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{where}: expected a positive finite number, got {value!r}")
            s.lr = float(value)
        else:  # model, name, description
            if not isinstance(value, str):
                raise ConfigError(f"{where}: expected a string, got {value!r}")
            setattr(s, key, value)
    return s


def load_settings_file(path: str | Path, is_name: Callable[[str], bool] | None = None
                       ) -> tuple[CompareSettings, RunOptions]:
    """Settings from a comparison TOML file, plus its run options (executor, out, logger ...)."""
    path = Path(path)
    data = load_toml(path)
    s = settings_from_mapping(data, str(path), is_name=is_name)
    if not s.name:
        s.name = path.stem
    return s, parse_run_options(data, str(path))


def default_losses() -> list[LossChoice]:
    return [parse_loss_choice(n) for n in ("l1", "l2", "ssim", "ms-ssim", "l1+ms-ssim")]
