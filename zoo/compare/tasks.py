"""The restoration tasks a comparison trains on, and which losses make sense on each.

A task is a pair of datasets (train / held-out test split of the same registered dataset), the
tensors its samples carry and its default metrics:

========  ======================  ============================  =================================
task      dataset                 sample tensors                default metrics
========  ======================  ============================  =================================
flare     ``synthetic-flare``     input gt flare light mask     psnr ssim lpips g-psnr s-psnr
lowlight  ``synthetic-lowlight``  input gt                      psnr ssim lpips
denoise   ``synthetic-denoise``   input gt                      psnr ssim lpips
========  ======================  ============================  =================================

**Mapping a loss to a task** (:func:`map_loss`).  The network's output is ``pred``; a loss term's
forward arguments (its spec's ``inputs``) are matched by name:

* the first argument is the prediction (``pred``, ``anchor``, ``x`` ... → ``pred``);
* a second argument named like a reference (``target``, ``gt``, ``positive``, ``high``, ``y``)
  → ``gt``; any other argument must be a tensor the task's samples carry under that very name
  (``input``, ``flare``, ``mask``, ...) or a common synonym (``low``/``noisy`` → ``input``,
  ``high``/``clean`` → ``gt``), else the loss is *not applicable* with the reason (e.g. KinD's
  ``i_adjusted`` or Zero-DCE's ``curves``, which a plain restoration network does not produce);
* ``negative`` (the triplet loss) needs a hard negative that only the cascaded fine-tuner makes
  → not applicable here (``zoo compare --paper-table`` compares it);
* a loss with a single input (``tv``) never sees the ground truth: alone it would train the
  network to output a flat image, so a choice made only of such terms is not applicable (use it
  inside a composition, e.g. ``{label = "l1+tv", terms = [...]}`` in a config file);
* a loss tagged for one kind of restoration (tags ``low-light``, ``flare``, ``denoise``) is
  applicable only to tasks of that kind: ``region`` (MBLLEN's dark-region weighting, tagged
  ``low-light``) runs on ``lowlight`` and is reported "not applicable" on flare and denoise.

Term tables may give ``inputs`` themselves; those are used as written (checked against the
task's tensors).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from zoo.engine.evaluation import metric_needs_mask
from zoo.errors import ConfigError, did_you_mean
from zoo.losses.term import Term
from zoo.registry import Registry
from zoo.specs import LossSpec

from .settings import LossChoice


@dataclass(frozen=True)
class Task:
    """A restoration task: its registered dataset, sample tensors, default metrics and kinds."""

    name: str
    dataset: str
    tensors: tuple[str, ...]
    metrics: tuple[str, ...]
    kinds: tuple[str, ...]
    doc: str = ""
    train_args: dict = field(default_factory=dict)
    test_args: dict = field(default_factory=dict)


TASKS: dict[str, Task] = {
    "flare": Task("flare", "synthetic-flare", ("input", "gt", "flare", "light", "mask"),
                  ("psnr", "ssim", "lpips", "g-psnr", "s-psnr"), ("flare",),
                  "flare removal on offline synthetic flares (Flare7K-style masks)"),
    "lowlight": Task("lowlight", "synthetic-lowlight", ("input", "gt"),
                     ("psnr", "ssim", "lpips"), ("low-light", "lowlight"),
                     "low-light enhancement on synthetic dark/bright pairs"),
    "denoise": Task("denoise", "synthetic-denoise", ("input", "gt"),
                    ("psnr", "ssim", "lpips"), ("denoise", "denoising"),
                    "denoising on synthetic noisy/clean pairs"),
}

#: Loss tags that restrict a loss to tasks of one kind (see the module docstring).
DOMAIN_TAGS = {"low-light": "low-light", "lowlight": "low-light", "flare": "flare",
               "flare-removal": "flare", "denoise": "denoise", "denoising": "denoise"}

_PRED_NAMES = {"pred", "prediction", "output", "anchor", "x", "enhanced", "restored", "image"}
_GT_NAMES = {"target", "gt", "positive", "high", "y", "reference", "ref", "clean"}
#: Other argument names that mean a task tensor (e.g. Zero-DCE's ``low``: the degraded input).
_TENSOR_ALIASES = {"low": "input", "noisy": "input", "degraded": "input", "lq": "input",
                   "high": "gt", "clean": "gt", "hq": "gt", "target": "gt", "y": "gt"}


def get_task(name: str, datasets: Mapping[str, Mapping] | None = None) -> Task:
    """The task ``name``, with its dataset replaced by ``datasets[name]`` when configured."""
    override = dict((datasets or {}).get(name, {}))
    if name not in TASKS and "name" in override:  # a task the config declares
        return declared_task(name, override)
    if name not in TASKS:
        close = did_you_mean(name, TASKS, n=2)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigError(f"unknown task {name!r}.{hint} (tasks: {', '.join(TASKS)}, or "
                          f"declare it: [datasets.{name}] name = \"<registered dataset>\")")
    task = TASKS[name]
    if override:
        bad = set(override) - {"name", "train_args", "test_args", "tensors"}
        if bad:
            raise ConfigError(f"datasets.{name}: unknown key(s) {sorted(bad)} "
                              f"(name, train_args, test_args, tensors)")
        task = Task(task.name, str(override.get("name", task.dataset)),
                    tuple(override.get("tensors", task.tensors)), task.metrics, task.kinds,
                    task.doc, dict(override.get("train_args", {})),
                    dict(override.get("test_args", {})))
    return task


#: what a task a config declares gets unless its table says otherwise
DECLARED_TENSORS, DECLARED_METRICS = ("input", "gt"), ("psnr", "ssim")


def declared_task(name: str, table: Mapping) -> Task:
    """A task declared by a config's ``[datasets.<name>]`` table: its registered dataset
    (``name``), ``tensors`` (default input, gt), ``metrics`` (default psnr, ssim), ``kinds``
    (the loss tags it accepts, default none: tagged losses are not applicable) and
    ``train_args`` / ``test_args``."""
    bad = set(table) - {"name", "train_args", "test_args", "tensors", "metrics", "kinds",
                        "description"}
    if bad:
        raise ConfigError(f"datasets.{name}: unknown key(s) {sorted(bad)} (name, train_args, "
                          f"test_args, tensors, metrics, kinds, description)")
    return Task(name, str(table["name"]), tuple(table.get("tensors", DECLARED_TENSORS)),
                tuple(table.get("metrics", DECLARED_METRICS)), tuple(table.get("kinds", ())),
                str(table.get("description", f"declared by the config: {table['name']}")),
                dict(table.get("train_args", {})), dict(table.get("test_args", {})))


def task_kind(task: Task) -> str:
    return DOMAIN_TAGS.get(task.kinds[0], task.kinds[0]) if task.kinds else task.name


@dataclass(frozen=True)
class MappedLoss:
    """A loss choice on a task: its terms with their ``inputs``, or why it doesn't apply."""

    choice: LossChoice
    terms: tuple[Term, ...] = ()
    not_applicable: str | None = None


def _map_term(term: Term, spec: LossSpec, task: Task) -> tuple[list[str] | None, str | None]:
    """(composer inputs, None) or (None, reason) for one term on ``task``."""
    name = term.name
    if term.inputs:
        inputs = list(term.inputs)
        missing = [i for i in inputs if i != "pred" and i not in task.tensors]
        if missing:
            return None, (f"{name}: inputs {missing} are not tensors of the {task.name} task "
                          f"(it gives pred, {', '.join(task.tensors)})")
        return inputs, None
    wanted = list(spec.inputs) or ["pred", "target"]
    if "negative" in wanted:
        return None, (f"{name} needs a hard negative ({', '.join(wanted)}); only the cascaded "
                      f"fine-tuner provides one (see `zoo compare --paper-table`)")
    out = []
    for i, arg in enumerate(wanted):
        if i == 0 and arg in _PRED_NAMES:
            out.append("pred")
        elif i == 1 and arg in _GT_NAMES:
            out.append("gt")
        elif arg in task.tensors:
            out.append(arg)
        elif _TENSOR_ALIASES.get(arg) in task.tensors:
            out.append(_TENSOR_ALIASES[arg])
        else:
            return None, (f"{name} needs input {arg!r} ({', '.join(wanted)}), which the "
                          f"{task.name} task does not give (it gives pred, "
                          f"{', '.join(task.tensors)})")
    return out, None


def map_loss(choice: LossChoice, task: Task, registry: Registry) -> MappedLoss:
    """Map every term of ``choice`` to the task's tensors, or say why it is not applicable."""
    terms, sees_gt = [], False
    for term in choice.terms:
        spec = registry.get("losses", term.name)
        kinds = {DOMAIN_TAGS[t] for t in spec.tags if t in DOMAIN_TAGS}
        if kinds and task_kind(task) not in kinds:
            return MappedLoss(choice, not_applicable=(
                f"{term.name} is a {'/'.join(sorted(kinds))} loss (tagged "
                f"{', '.join(sorted(t for t in spec.tags if t in DOMAIN_TAGS))}); "
                f"the {task.name} task is {task_kind(task)}"))
        inputs, reason = _map_term(term, spec, task)
        if inputs is None:
            return MappedLoss(choice, not_applicable=reason)
        sees_gt = sees_gt or "gt" in inputs
        terms.append(replace(term, inputs=tuple(inputs), args=dict(term.args),
                             label=term.label or term.name))
    if not sees_gt:
        return MappedLoss(choice, not_applicable=(
            f"{choice.label} never sees the ground truth (inputs: "
            f"{', '.join(sorted({i for t in terms for i in t.inputs}))}): a regulariser or "
            f"no-reference term, not a restoration objective on its own — compare it inside a "
            f"composition with a fidelity term"))
    return MappedLoss(choice, tuple(terms))


def check_loss_names(choices: Sequence[LossChoice], registry: Registry) -> None:
    """Every term names a registered loss; else UnknownNameError with did-you-mean."""
    for choice in choices:
        for term in choice.terms:
            registry.canonical("losses", term.name)


def task_metrics(task: Task, requested: Sequence[str], registry: Registry) -> list[str]:
    """The metrics for ``task``: the requested ones (mask metrics only where there is a mask),
    else the task's defaults."""
    if not requested:
        return list(task.metrics)
    return [m for m in requested
            if not (metric_needs_mask(registry, m) and "mask" not in task.tensors)]
