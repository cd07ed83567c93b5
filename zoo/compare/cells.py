"""Cells: the unit of work of a comparison, one training run with its evaluation.

A comparison cell is (task, loss choice, seed); a paper-table cell is the shared reference model
or one (k, λ) fine-tuning.  Cells are plain JSON-serialisable records so they can be sent to
worker processes and written next to their results.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from zoo.errors import ConfigError
from zoo.losses.term import Term
from zoo.registry import Registry

from .settings import CompareSettings
from .tasks import get_task, map_loss, task_metrics


#: Label of the baseline row: the degraded input scored as it is.
INPUT_ROW = "input (no restoration)"


@dataclass(frozen=True)
class Cell:
    """One training run.

    Attributes:
        id: file-safe unique name (``flare__l1_ms-ssim__s0``); results go to ``cells/<id>.json``.
        kind: ``"train"`` (a comparison cell), ``"input"`` (the degraded input scored as it is,
            the baseline row), ``"reference"`` or ``"cascade"`` (paper table).
        task: task name.
        loss: the loss choice's label (the table row).
        seed: the seed (model initialisation, batch order).
        terms: the loss terms, their ``inputs`` mapped onto the task's tensors.
        metrics: metric names evaluated on the held-out test split.
        params: kind-specific values (paper table: ``k``, ``lambda``).
    """

    id: str
    kind: str
    task: str
    loss: str
    seed: int
    terms: tuple[Term, ...] = ()
    metrics: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["terms"] = [t.to_dict() for t in self.terms]
        d["metrics"] = list(self.metrics)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Cell":
        return cls(d["id"], d["kind"], d["task"], d["loss"], int(d["seed"]),
                   tuple(Term.from_table(t, f"cell {d['id']}") for t in d.get("terms", ())),
                   tuple(d.get("metrics", ())),
                   dict(d.get("params", {})))

    def title(self) -> str:
        """How progress lines name the cell."""
        if self.kind == "input":
            return f"{self.task} · {self.loss}"
        if self.kind == "train":
            return f"{self.task} · {self.loss} · seed {self.seed}"
        return f"{self.loss} · seed {self.seed}"


@dataclass(frozen=True)
class NotApplicable:
    """A (task, loss) pair that is not trained, and why."""

    task: str
    loss: str
    reason: str


def plan_cells(settings: CompareSettings, registry: Registry,
               unavailable: Sequence[str] = ()) -> tuple[list[Cell], list[NotApplicable]]:
    """Every (task, loss, seed) cell in table order, and the pairs that are not applicable.

    ``unavailable`` metrics (e.g. LPIPS without its weights) are left out of every cell.
    """
    slugs: dict[str, str] = {}
    for choice in settings.losses:
        other = slugs.setdefault(choice.slug, choice.label)
        if other != choice.label:
            raise ConfigError(f"losses {other!r} and {choice.label!r} have the same file name "
                              f"{choice.slug!r}; give one of them another label")
    cells, skipped = [], []
    for task_name in settings.tasks:
        task = get_task(task_name, settings.datasets)
        metrics = tuple(m for m in task_metrics(task, settings.metrics, registry)
                        if m not in unavailable)
        if settings.input_row:
            cells.append(Cell(f"{task.name}__input", "input", task.name, INPUT_ROW, 0, (),
                              metrics))
        for choice in settings.losses:
            mapped = map_loss(choice, task, registry)
            if mapped.not_applicable:
                skipped.append(NotApplicable(task.name, choice.label, mapped.not_applicable))
                continue
            terms = tuple(replace(t, args={**settings.loss_args.get(t.name, {}), **t.args})
                          for t in mapped.terms)
            for seed in settings.seeds:
                cells.append(Cell(f"{task.name}__{choice.slug}__s{seed}", "train", task.name,
                                  choice.label, seed, terms, metrics))
    return cells, skipped


def all_metrics(settings: CompareSettings, registry: Registry) -> list[str]:
    """The union of every task's metrics, in first-seen order."""
    out: list[str] = []
    for task_name in settings.tasks:
        for m in task_metrics(get_task(task_name, settings.datasets), settings.metrics, registry):
            if m not in out:
                out.append(m)
    return out


def jsonable(value: Any) -> Any:
    """Tuples to lists, recursively (what a JSON round trip gives back)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
