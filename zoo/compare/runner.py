"""Running cells: in parallel worker processes, each cell's result written atomically, crashed
cells reported while the others finish, finished cells skipped on resume.

Layout of an output folder::

    DIR/comparison.json        settings, budget hash (guards against mixing settings)
    DIR/cells/<id>.json        one result per cell: status, metrics, error, wall time
    DIR/cells/<id>/cell.log    the cell's log (traceback of a crash included)
    DIR/cells/<id>/...         whatever the engine writes for that run

A cell counts as finished when its JSON says ``"status": "ok"`` under the current budget hash;
failed cells are retried on the next run.  With ``jobs > 1`` cells run in worker processes
(forked where the platform allows, else spawned), each with ``torch.set_num_threads(1)``
(``jobs`` processes share the cores; more threads per process only oversubscribe them);
``jobs == 1`` runs in this process.  The registry is handed down: a forked worker inherits the
caller's, a spawned one rebuilds it from the same configuration.
"""
from __future__ import annotations

import importlib
import json
import os
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from zoo.atomic import atomic_write_json
from zoo.engine.evaluation import metric_needs_mask
from zoo.engine.trainer import Interrupted
from zoo.errors import ConfigError, UnknownNameError, ZooError
from zoo.registry import Registry, build_registry

from .cells import Cell, jsonable
from .settings import budget_diff, budget_hash

#: The function that trains and evaluates one cell:
#: ``fn(cell, context, cell_dir, registry) -> metrics`` or ``(metrics, extra record fields)``.
TrainFn = Callable[[Cell, dict, Path, Registry], Any]
DEFAULT_TRAIN_FN = "zoo.compare.train:train_cell"


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def one_line(exc: BaseException) -> str:
    """An exception as one line: a ZooError's message, else ``Type: message``."""
    text = str(exc) if isinstance(exc, ZooError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


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
    elif out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: exists and is not a comparison folder (no comparison.json); "
                          f"use another --out")
    atomic_write_json({"mode": mode, "budget_hash": h, "budget": jsonable(budget),
                       "settings": jsonable(info),
                       "created": (old or {}).get("created", _now()), "updated": _now()}, record)
    return h


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def cell_logger(cell_dir: Path) -> Callable[[str], None]:
    """A log function appending lines to the cell's ``cell.log``."""
    path = cell_dir / "cell.log"

    def log(msg: str) -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(msg.rstrip() + "\n")

    return log


def cell_json(out: Path, cell_id: str) -> Path:
    return out / "cells" / f"{cell_id}.json"


def finished(out: Path, cell: Cell, h: str) -> dict | None:
    """The stored result of ``cell`` if it finished OK under budget hash ``h``."""
    res = read_json(cell_json(out, cell.id))
    if res and res.get("status") == "ok" and res.get("budget_hash") == h \
            and res.get("cell", {}).get("terms") == jsonable(cell.to_dict()["terms"]) \
            and res.get("cell", {}).get("metrics") == list(cell.metrics):
        return res
    return None


def _resolve(fn: str | TrainFn) -> TrainFn:
    if callable(fn):
        return fn
    mod, _, attr = fn.partition(":")
    return getattr(importlib.import_module(mod), attr)


def execute_cell(cell_dict: dict, ctx: dict, registry: Registry) -> dict:
    """Train and evaluate one cell; write its result JSON atomically; never raises (but Ctrl-C).

    ``ctx`` holds ``out`` (the output folder), ``budget_hash``, ``train_fn`` and whatever the
    train function needs (``budget``).
    """
    cell = Cell.from_dict(cell_dict)
    out = Path(ctx["out"])
    cell_dir = out / "cells" / cell.id
    cell_dir.mkdir(parents=True, exist_ok=True)
    log_path = cell_dir / "cell.log"
    t0 = time.perf_counter()
    status, metrics, error, extra = "ok", {}, None, {}
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"[{_now()}] start {cell.id} (pid {os.getpid()})\n{json.dumps(cell_dict)}\n")
        log.flush()
        try:
            result = _resolve(ctx["train_fn"])(cell, ctx, cell_dir, registry)
            if isinstance(result, tuple):
                metrics, extra = result
            else:
                metrics = result
            metrics = {k: float(v) for k, v in metrics.items()}
        except KeyboardInterrupt:
            log.write(f"[{_now()}] interrupted\n")
            raise
        except BaseException as exc:  # noqa: BLE001 - a crashed cell must not stop the others
            status = "interrupted" if _is_interruption(exc) else "failed"
            error = one_line(exc)
            log.write(traceback.format_exc())
        wall = time.perf_counter() - t0
        log.write(f"[{_now()}] {status} in {wall:.1f} s: {error or metrics}\n")
    result = {"cell": jsonable(cell.to_dict()), "status": status, "metrics": metrics,
              "error": error, "log": str(log_path), "wall_s": round(wall, 3),
              "finished": _now(), "budget_hash": ctx["budget_hash"], "pid": os.getpid(),
              **jsonable(extra)}
    atomic_write_json(result, cell_json(out, cell.id))
    return result


def _mp_context():
    """``fork`` where the platform has it (workers start at once, with this process's registry
    and imports; like DataLoader workers they run torch with one thread, which keeps OpenMP
    fork-safe), else ``spawn`` (workers rebuild the registry from its configuration)."""
    return get_context("fork" if "fork" in get_all_start_methods() else "spawn")


def _is_interruption(exc: BaseException) -> bool:
    """The engine's SIGTERM / Ctrl-C stop (a checkpoint was saved; the cell resumes later)."""
    return isinstance(exc, Interrupted)


#: A worker process's registry, set once by :func:`_init_worker`.
_worker_registry: Registry | None = None


def _init_worker(registry: Any, threads: int) -> None:
    """Worker set-up: its torch threads and its registry (the caller's own when forked, else
    rebuilt from the caller's registry configuration)."""
    global _worker_registry
    torch.set_num_threads(threads)
    _worker_registry = registry if isinstance(registry, Registry) else \
        build_registry(config=registry)


def _execute_in_worker(cell_dict: dict, ctx: dict) -> dict:
    assert _worker_registry is not None, "worker started without _init_worker"
    return execute_cell(cell_dict, ctx, _worker_registry)


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
              jobs: int = 1,
              on_result: Callable[[dict, int, int, bool], None] | None = None) -> RunSummary:
    """Run the unfinished ``cells`` (``jobs`` at a time); return every cell's result.

    ``ctx`` must hold ``budget_hash`` and may hold ``train_fn`` (default
    :data:`DEFAULT_TRAIN_FN`); ``out`` is added.  ``on_result(result, done, total, reused)`` is
    called as each cell finishes; reused cells come first with ``reused=True``.
    """
    ctx = {"train_fn": DEFAULT_TRAIN_FN, **ctx, "out": str(out)}
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

    def record(res: dict) -> None:
        nonlocal done
        if res.get("status") == "interrupted":
            summary.interrupted = True
        done += 1
        summary.results[res["cell"]["id"]] = res
        summary.ran.append(res["cell"]["id"])
        if on_result:
            on_result(res, done, total, False)

    if not todo:
        return summary
    if jobs <= 1 or len(todo) == 1:
        try:
            for cell in todo:
                record(execute_cell(cell.to_dict(), ctx, registry))
                if summary.interrupted:
                    break
        except KeyboardInterrupt:
            summary.interrupted = True
        return summary
    context = _mp_context()
    handed = registry if context.get_start_method() == "fork" else registry.config
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context,
                               initializer=_init_worker,
                               initargs=(handed, int(ctx.get("threads", 1))))
    futures = {pool.submit(_execute_in_worker, c.to_dict(), ctx): c for c in todo}
    try:
        pending = set(futures)
        while pending:
            finished_now, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished_now:
                cell = futures[fut]
                try:
                    record(fut.result())
                except BrokenProcessPool as exc:  # a worker died (killed, out of memory)
                    res = {"cell": jsonable(cell.to_dict()), "status": "failed",
                           "metrics": {}, "error": f"worker process died ({one_line(exc)})",
                           "log": str(out / "cells" / cell.id / "cell.log"), "wall_s": None,
                           "finished": _now(), "budget_hash": ctx["budget_hash"]}
                    atomic_write_json(res, cell_json(out, cell.id))
                    record(res)
    except KeyboardInterrupt:
        summary.interrupted = True
        for fut in futures:
            fut.cancel()
    finally:
        pool.shutdown(wait=not summary.interrupted, cancel_futures=True)
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
            out[name] = one_line(exc)
        except Exception as exc:  # noqa: BLE001 - reported as the column's reason
            out[name] = one_line(exc)
    return out
