"""What runs where a cell runs — in this process, a local worker process, a Ray worker or a Slurm
job alike: :func:`execute_cell` trains and evaluates one cell and writes its result record
atomically to ``OUT/cells/<id>.json``; :func:`run_remote` is the entry point of a worker that
got the registry's configuration rather than the registry (it rebuilds the registry once per
process and sets its torch threads first).

A cell's record is the single source of truth of a comparison: whichever executor ran it, the
record lands in the output folder (which a cluster's workers must share), and a cell whose worker
died before writing one gets a ``failed`` record from the executor (:func:`failure_record`), so
the next ``--resume`` retries it.
"""
from __future__ import annotations

import importlib
import json
import os
import socket
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from zoo.atomic import atomic_write_json
from zoo.config import RegistryConfig
from zoo.engine.trainer import Interrupted
from zoo.errors import error_line
from zoo.registry import Registry, build_registry

from .cells import Cell, jsonable
from .lifetime import exit_with_parent

#: The function that trains and evaluates one cell:
#: ``fn(cell, context, cell_dir, registry) -> metrics`` or ``(metrics, extra record fields)``.
TrainFn = Callable[[Cell, dict, Path, Registry], Any]
DEFAULT_TRAIN_FN = "zoo.compare.train:train_cell"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def cell_json(out: Path, cell_id: str) -> Path:
    return out / "cells" / f"{cell_id}.json"


def cell_logger(cell_dir: Path) -> Callable[[str], None]:
    """A log function appending lines to the cell's ``cell.log``."""
    path = cell_dir / "cell.log"

    def log(msg: str) -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(msg.rstrip() + "\n")

    return log


def _resolve(fn: str | TrainFn) -> TrainFn:
    if callable(fn):
        return fn
    mod, _, attr = fn.partition(":")
    return getattr(importlib.import_module(mod), attr)


def _is_interruption(exc: BaseException) -> bool:
    """The engine's SIGTERM / Ctrl-C stop (a checkpoint was saved; the cell resumes later)."""
    return isinstance(exc, Interrupted)


def execute_cell(cell_dict: dict, ctx: dict, registry: Registry) -> dict:
    """Train and evaluate one cell; write its result JSON atomically; never raises (but Ctrl-C).

    ``ctx`` holds ``out`` (the output folder), ``budget_hash``, ``train_fn``, ``executor`` (its
    name, for the record) and whatever the train function needs (``budget``, ``device``,
    ``logger``).
    """
    cell = Cell.from_dict(cell_dict)
    out = Path(ctx["out"])
    cell_dir = out / "cells" / cell.id
    cell_dir.mkdir(parents=True, exist_ok=True)
    log_path = cell_dir / "cell.log"
    t0 = time.perf_counter()
    status, metrics, error, extra = "ok", {}, None, {}
    host = socket.gethostname()
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"[{now()}] start {cell.id} (pid {os.getpid()} on {host}, executor "
                  f"{ctx.get('executor', 'local')})\n{json.dumps(cell_dict)}\n")
        log.flush()
        try:
            result = _resolve(ctx["train_fn"])(cell, ctx, cell_dir, registry)
            if isinstance(result, tuple):
                metrics, extra = result
            else:
                metrics = result
            metrics = {k: float(v) for k, v in metrics.items()}
        except KeyboardInterrupt:
            log.write(f"[{now()}] interrupted\n")
            raise
        except BaseException as exc:  # noqa: BLE001 - a crashed cell must not stop the others
            status = "interrupted" if _is_interruption(exc) else "failed"
            error = error_line(exc)
            log.write(traceback.format_exc())
        wall = time.perf_counter() - t0
        log.write(f"[{now()}] {status} in {wall:.1f} s: {error or metrics}\n")
    result = {"cell": jsonable(cell.to_dict()), "status": status, "metrics": metrics,
              "error": error, "log": str(log_path), "wall_s": round(wall, 3),
              "finished": now(), "budget_hash": ctx["budget_hash"], "pid": os.getpid(),
              "host": host, "executor": ctx.get("executor", "local"), **jsonable(extra)}
    atomic_write_json(result, cell_json(out, cell.id))
    return result


def failure_record(cell: Cell, ctx: dict, error: str) -> dict:
    """The record of a cell whose worker never wrote one (it died, its job failed or was
    cancelled), written to the output folder so that ``--resume`` retries the cell."""
    out = Path(ctx["out"])
    res = {"cell": jsonable(cell.to_dict()), "status": "failed", "metrics": {}, "error": error,
           "log": str(out / "cells" / cell.id / "cell.log"), "wall_s": None,
           "finished": now(), "budget_hash": ctx["budget_hash"],
           "executor": ctx.get("executor", "local")}
    atomic_write_json(res, cell_json(out, cell.id))
    return res


#: This process's registry when it is a worker (built once from the configuration it was sent).
_worker: dict[str, Any] = {}


def worker_setup(registry: Registry | RegistryConfig, threads: int,
                 parent: int | None = None) -> Registry:
    """A worker's torch threads and registry: the caller's own registry when it was handed
    over (a forked process), else one rebuilt from the configuration (once per process).
    A local pool worker (``parent`` given: the comparison's pid) ends when that process dies
    (:mod:`zoo.compare.lifetime`)."""
    if parent is not None:
        exit_with_parent(parent)
    torch.set_num_threads(max(1, int(threads)))
    if isinstance(registry, Registry):
        _worker["registry"], _worker["config"] = registry, registry.config
    elif _worker.get("config") != registry or "registry" not in _worker:
        # the parent already gave the trust notice; a worker does not repeat it
        _worker["registry"] = build_registry(config=registry, warn=False)
        _worker["config"] = registry
    return _worker["registry"]


def run_remote(cell_dict: dict, ctx: dict, registry: Registry | RegistryConfig) -> dict:
    """A worker's entry point (Ray task, Slurm job): set up, then :func:`execute_cell`."""
    return execute_cell(cell_dict, ctx, worker_setup(registry, int(ctx.get("threads", 1))))


def run_in_pool_worker(cell_dict: dict, ctx: dict) -> dict:
    """A local pool worker's entry point (its registry was set up by :func:`worker_setup`)."""
    assert "registry" in _worker, "pool worker started without worker_setup"
    return execute_cell(cell_dict, ctx, _worker["registry"])
