"""Running cells: each unfinished cell on the chosen executor (:mod:`zoo.compare.executors`:
local worker processes, Ray tasks, Slurm jobs), each cell's result written atomically, crashed
cells reported while the others finish, finished cells skipped on resume.

Layout of an output folder::

    DIR/comparison.json        settings, budget hash (guards against mixing settings)
    DIR/cells/<id>.json        one result per cell: status, metrics, error, wall time, executor
    DIR/cells/<id>/cell.log    the cell's log (traceback of a crash included)
    DIR/cells/<id>/...         whatever the engine writes for that run (scalars.csv, tb/)
    DIR/slurm/                 submitit's job scripts and logs (slurm executor)
    DIR/.lock, DIR/.lock.owner held while cells run (one process per folder, as ``zoo run``)

The folder is the single source of truth: a cell counts as finished when its JSON says
``"status": "ok"`` under the current budget hash, whichever executor wrote it; failed,
interrupted and missing cells are run again by the next run (``--resume``), on any executor.
A cell whose worker died without writing its JSON (killed, out of memory, its job pre-empted)
gets a ``failed`` record with the executor's error.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch

from zoo.atomic import atomic_write_json, make_folder
from zoo.engine.evaluation import metric_needs_mask
from zoo.engine.run_folder import RunFolder
from zoo.errors import ConfigError, UnknownNameError, ZooError, error_line
from zoo.registry import Registry

from .cells import Cell, jsonable
from .executors import CellExecutor, LocalExecutor
from .settings import budget_diff, budget_hash
# the worker's helpers, also used by the adapters (train, paper) through this module
from .worker import (DEFAULT_TRAIN_FN, TrainFn, cell_json, cell_logger, execute_cell,
                     failure_record, now, read_json)

__all__ = ["DEFAULT_TRAIN_FN", "TrainFn", "RunSummary", "cell_json", "cell_logger",
           "default_jobs", "execute_cell", "finished", "prepare_out_dir",
           "probe_metrics", "read_json", "run_cells"]


#: the folder lock's files (:func:`run_cells`), not a sign of another use of the folder
LOCK_FILES = (".lock", ".lock.owner")


def prepare_out_dir(out: Path, mode: str, budget: dict, info: dict) -> str:
    """Create or reopen ``out``; refuse a folder that holds another mode or another budget.

    Returns the budget hash.  ``info`` (settings for the record) is written to comparison.json.
    """
    h = budget_hash({"mode": mode, **budget})
    record = out / "comparison.json"
    old = read_json(record) if record.exists() else None
    if old is not None:
        if old.get("mode") != mode or old.get("budget_hash") != h:
            diff = budget_diff(old.get("budget", {}), budget) if old.get("mode") == mode \
                else f"mode {old.get('mode')!r} → {mode!r}"
            raise ConfigError(f"{out}: holds a comparison made with other settings ({diff}); "
                              f"use another --out or delete that folder")
    elif out.exists() and any(p.name not in LOCK_FILES for p in out.iterdir()):
        raise ConfigError(f"{out}: exists and is not a comparison folder (no comparison.json); "
                          f"use another --out")
    atomic_write_json({"mode": mode, "budget_hash": h, "budget": jsonable(budget),
                       "settings": jsonable(info),
                       "created": (old or {}).get("created", now()), "updated": now()}, record)
    return h


def finished(out: Path, cell: Cell, h: str) -> dict | None:
    """The stored result of ``cell`` if it finished OK under budget hash ``h``."""
    res = read_json(cell_json(out, cell.id))
    if res and res.get("status") == "ok" and res.get("budget_hash") == h \
            and res.get("cell", {}).get("terms") == jsonable(cell.to_dict()["terms"]) \
            and res.get("cell", {}).get("metrics") == list(cell.metrics):
        return res
    return None


@dataclass
class RunSummary:
    """What :func:`run_cells` did: results by cell id, which were run now and which reused."""

    results: dict[str, dict] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.results.values() if r.get("status") != "ok"]


def run_cells(cells: Sequence[Cell], out: Path, ctx: dict, *, registry: Registry,
              jobs: int = 1, executor: CellExecutor | None = None,
              on_result: Callable[[dict, int, int, bool], None] | None = None) -> RunSummary:
    """:func:`run_unlocked` holding the output folder's lock (the one ``zoo run`` holds on a
    run folder, :meth:`zoo.engine.run_folder.RunFolder.lock`): a second process on the same
    folder stops with one line naming the holder instead of training the same cells."""
    with RunFolder(make_folder(Path(out).absolute())).lock():
        return run_unlocked(cells, out, ctx, registry=registry, jobs=jobs, executor=executor,
                            on_result=on_result)


def run_unlocked(cells: Sequence[Cell], out: Path, ctx: dict, *, registry: Registry,
                 jobs: int = 1, executor: CellExecutor | None = None,
                 on_result: Callable[[dict, int, int, bool], None] | None = None) -> RunSummary:
    """Run the unfinished ``cells`` on ``executor`` (default: ``jobs`` local worker processes);
    return every cell's result.

    ``ctx`` must hold ``budget_hash`` and may hold ``train_fn`` (default
    :data:`DEFAULT_TRAIN_FN`); ``out`` (absolute, for remote workers) and ``executor`` (its
    name) are added.  ``on_result(result, done, total, reused)`` is called as each cell
    finishes; reused cells come first with ``reused=True``.
    """
    executor = executor or LocalExecutor(jobs)
    out = Path(out).absolute()
    ctx = {"train_fn": DEFAULT_TRAIN_FN, **ctx, "out": str(out), "executor": executor.name}
    summary = RunSummary()
    todo = []
    for cell in cells:
        res = finished(out, cell, ctx["budget_hash"])
        if res is not None:
            summary.results[cell.id] = res
            summary.reused.append(cell.id)
        else:
            todo.append(cell)
    total, done = len(cells), len(summary.reused)
    if on_result:
        for i, cid in enumerate(summary.reused, 1):
            on_result(summary.results[cid], i, total, True)
    if not todo:
        return summary
    outcomes = executor.run(todo, ctx, registry)
    try:
        for outcome in outcomes:
            res, error = outcome.result, outcome.error or "no result"
            if res is not None and not cell_json(out, outcome.cell.id).is_file():
                error = (f"its record was written on {res.get('host')}, not into {out}: the "
                         f"workers must share the output folder (same path)")
                res = None  # written on a disk this process does not see
            if res is None:
                res = failure_record(outcome.cell, ctx, error)
            if res.get("status") == "interrupted":
                summary.interrupted = True
            done += 1
            summary.results[outcome.cell.id] = res
            summary.ran.append(outcome.cell.id)
            if on_result:
                on_result(res, done, total, False)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        outcomes.close()  # cancels what has not finished
    return summary


def default_jobs() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def probe_metrics(names: Iterable[str], registry: Registry) -> dict[str, str]:
    """Metrics that cannot run here, with the one-line reason (e.g. LPIPS weights absent).

    Each metric is built and called once on a tiny image pair (with a mask where it needs one),
    so missing weights show up before any training.
    """
    out = {}
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros_like(x)
    mask[:, :2, :16] = 1.0
    for name in names:
        try:
            metric = registry.create("metrics", name)
            if metric_needs_mask(registry, name):
                metric(x, x.flip(-1), mask=mask)
            else:
                metric(x, x.flip(-1))
        except ZooError as exc:
            if isinstance(exc, UnknownNameError):  # the user's mistake: say so now
                raise
            out[name] = error_line(exc)
        except Exception as exc:  # noqa: BLE001 - reported as the column's reason
            out[name] = error_line(exc)
    return out
