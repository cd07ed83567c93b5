"""The adapter between comparison cells and the training engine (:mod:`zoo.engine`).

Nothing here trains by itself: a comparison cell is one call of
:func:`zoo.engine.train_stage` ("train model M with loss composition C on dataset D for N steps,
then evaluate metrics on test set T"), and a paper-table cell is one :func:`zoo.engine.run_recipe`
of the ``cascaded-flare`` recipe cut down to the stage it needs.

What every comparison cell shares (the budget): the model and its arguments, Adam with the same
learning rate, the number of steps, the batch size, the crop size, and the data — the training
split and the held-out test split of the task's dataset, built with the same dataset seed (0) for
every cell.  What the cell's seed changes: the model's initialisation and the batch order.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from zoo.errors import ConfigError, ZooError

from .cells import Cell
from .tasks import get_task

#: The dataset seed shared by every cell (train and test splits are disjoint by construction).
DATA_SEED = 0


def _logger(cell_dir: Path) -> Callable[[str], None]:
    path = cell_dir / "cell.log"

    def log(msg: str) -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(msg.rstrip() + "\n")

    return log


def build_datasets(task_name: str, budget: Mapping[str, Any]):
    """(train, test) datasets of a task under a budget (size, lengths, dataset overrides)."""
    from zoo.registry import create_dataset

    task = get_task(task_name, budget.get("datasets"))
    common = {"size": int(budget["size"]), "seed": DATA_SEED}
    out = []
    for split, length, extra in (("train", budget["train_length"], task.train_args),
                                 ("test", budget["test_length"], task.test_args)):
        args = {**common, "split": split, "length": int(length), **extra}
        try:
            out.append(create_dataset(task.dataset, **args))
        except ZooError as e:
            raise type(e)(f"task {task.name}: dataset {task.dataset!r} ({split}): {e}") from None
        except TypeError as e:
            raise ConfigError(f"task {task.name}: dataset {task.dataset!r} ({split}): "
                              f"{e}") from None
    return tuple(out)


def train_cell(cell: Cell, ctx: Mapping[str, Any], cell_dir: Path):
    """Train and evaluate one comparison cell; returns (metrics, extra record fields)."""
    if cell.kind == "input":
        return evaluate_input(cell, ctx)
    if cell.kind != "train":
        from .paper import train_paper_cell

        return train_paper_cell(cell, ctx, cell_dir)
    from zoo.engine import train_stage
    from zoo.engine.run import seed_everything
    from zoo.registry import create_model

    budget = ctx["budget"]
    log = _logger(cell_dir)
    train, test = build_datasets(cell.task, budget)
    seed_everything(cell.seed)
    model = create_model(budget["model"], **dict(budget.get("model_args") or {}))
    res = train_stage(model, [dict(t) for t in cell.terms], train, steps=int(budget["steps"]),
                      batch_size=int(budget["batch_size"]), optimizer="adam",
                      optimizer_args={"lr": float(budget["lr"])}, test_data=test,
                      metrics=list(cell.metrics), device="cpu", seed=cell.seed,
                      out_dir=cell_dir, name=cell.id, progress=False, log=log,
                      log_every=max(1, int(budget["steps"]) // 10))
    final = res.history[-1] if res.history else {}
    return dict(res.metrics), {"encoders": list(res.encoders),
                               "final_loss": final.get("total"), "train_seconds": res.seconds}


def evaluate_input(cell: Cell, ctx: Mapping[str, Any]):
    """The baseline row: the metrics of the degraded input itself (no network, no training)."""
    from zoo.engine.evaluate import evaluate  # (zoo.engine.evaluate is also the submodule)

    _, test = build_datasets(cell.task, ctx["budget"])
    res = evaluate({}, (), test, list(cell.metrics), output="input")
    return dict(res.means), {}
