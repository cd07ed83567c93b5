"""The adapter between comparison cells and the training engine (:mod:`zoo.engine`).

Nothing here trains by itself: a comparison cell is one call of
:func:`zoo.engine.train_stage` ("train model M with loss composition C on dataset D for N steps,
then evaluate metrics on test set T"); a paper-table cell is one :func:`zoo.engine.run_recipe`
of the ``cascaded-flare`` recipe cut down to the stage it needs (:mod:`zoo.compare.paper`).

What every comparison cell shares (the budget): the model and its arguments, Adam with the same
learning rate, the number of steps, the batch size, the crop size, and the data — the training
split and the held-out test split of the task's dataset, built with the same dataset seed (0) for
every cell.  What the cell's seed changes: the model's initialisation and the batch order.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from torch.utils.data import Dataset

from zoo.config import with_context
from zoo.engine.evaluation import evaluate_model
from zoo.engine.loggers import make_logger
from zoo.engine.spec import OptimizerSpec, Schedule, StageEval
from zoo.engine.state import seed_everything
from zoo.engine.trainer import StepCallback, TrainOptions, train_stage
from zoo.errors import ConfigError, ZooError
from zoo.registry import Registry

from .cells import Cell
from .runner import cell_logger
from .tasks import get_task

#: The dataset seed shared by every cell (train and test splits are disjoint by construction).
DATA_SEED = 0


def build_datasets(task_name: str, budget: Mapping[str, Any],
                   registry: Registry) -> tuple[Dataset, Dataset]:
    """(train, test) datasets of a task under a budget (size, lengths, dataset overrides)."""
    task = get_task(task_name, budget.get("datasets"))
    common = {"size": int(budget["size"]), "seed": DATA_SEED}
    out = []
    for split, length, extra in (("train", budget["train_length"], task.train_args),
                                 ("test", budget["test_length"], task.test_args)):
        args = {**common, "split": split, "length": int(length), **extra}
        where = f"task {task.name}: dataset {task.dataset!r} ({split})"
        try:
            out.append(registry.create("datasets", task.dataset, **args))
        except ZooError as e:
            raise with_context(e, where) from None
        except TypeError as e:
            raise ConfigError(f"{where}: {e}") from None
    return out[0], out[1]


def train_cell(cell: Cell, ctx: Mapping[str, Any], cell_dir: Path, registry: Registry, *,
               on_step: StepCallback | None = None):
    """Train and evaluate one comparison cell; returns (metrics, extra record fields).

    ``on_step(stage, step, global_step)`` is handed to the engine (called after every step)."""
    if cell.kind == "input":
        return evaluate_input(cell, ctx, registry)
    if cell.kind != "train":
        raise ConfigError(f"cell {cell.id}: kind {cell.kind!r} is not a comparison cell")
    budget = ctx["budget"]
    steps = int(budget["steps"])
    train, test = build_datasets(cell.task, budget, registry)
    seed_everything(cell.seed)
    model = registry.create("models", budget["model"], **dict(budget.get("model_args") or {}))
    with make_logger(ctx.get("logger", "none"), cell_dir, split_stages=False) as logger:
        res = train_stage(
            model, cell.terms, train, registry=registry,
            schedule=Schedule(steps=steps, batch_size=int(budget["batch_size"]),
                              log_every=max(1, steps // 10)),
            optimizer=OptimizerSpec("adam", {"lr": float(budget["lr"])}), test_data=test,
            evaluation=StageEval(metrics=tuple(cell.metrics)),
            options=TrainOptions(device=ctx.get("device", "cpu"), seed=cell.seed,
                                 out_dir=cell_dir, name=cell.id, progress=False,
                                 log=cell_logger(cell_dir), on_step=on_step, logger=logger))
    final = res.history[-1] if res.history else {}
    return dict(res.metrics), {"encoders": list(res.encoders),
                               "final_loss": final.get("total"), "train_seconds": res.seconds,
                               "train_items": len(train),  # type: ignore[arg-type]
                               "test_items": len(test)}  # type: ignore[arg-type]


def evaluate_input(cell: Cell, ctx: Mapping[str, Any], registry: Registry):
    """The baseline row: the metrics of the degraded input itself (no network, no training)."""
    _, test = build_datasets(cell.task, ctx["budget"], registry)
    res = evaluate_model({}, (), test, list(cell.metrics), registry=registry, output="input")
    return dict(res.means), {"test_items": len(test)}  # type: ignore[arg-type]
