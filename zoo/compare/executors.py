"""Where comparison cells run: one small interface, three thin adapters over existing engines.

* :class:`LocalExecutor` — this machine: ``concurrent.futures.ProcessPoolExecutor`` worker
  processes (forked where the platform allows, each with one torch thread), or this process when
  one cell at a time is asked for.
* :class:`RayExecutor` — one Ray task per cell with its resources (``num_cpus``, ``num_gpus``),
  on the cluster at ``ray_address`` or on a local cluster started for the comparison (listening
  on 127.0.0.1 only, dashboard off).  Needs the ``ray`` extra.
* :class:`SlurmExecutor` — one Slurm job per cell through submitit (partition, time limit,
  CPUs, GPUs, memory), the cells submitted as one job array of bounded parallelism.  Needs the
  ``slurm`` extra.

Nothing here schedules: each adapter submits every unfinished cell to its engine and yields
:class:`Outcome` s as the engine reports them finished.  A cell writes its own record into the
output folder (:func:`zoo.compare.worker.execute_cell`); when the engine says the worker died or
the job failed without one, the adapter yields the engine's error and the runner records the cell
as failed, so ``--resume`` (on any executor) retries it.  Ray and Slurm workers must see the
output folder at the same path (a shared file system), and the ``zoo`` package (the same
environment).
"""
from __future__ import annotations

import importlib
import os
import shutil
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from types import ModuleType
from typing import Any, Generator, Protocol, Sequence

import torch

from zoo.errors import ConfigError, MissingExtraError, error_line
from zoo.registry import Registry

from .cells import Cell
from .settings import RunOptions
from .worker import execute_cell, run_in_pool_worker, run_remote, worker_setup


@dataclass(frozen=True)
class Outcome:
    """A finished cell: the record it wrote, or the executor's account of why there is none
    (the worker died, the job failed or was cancelled)."""

    cell: Cell
    result: dict | None = None
    error: str | None = None


#: What :meth:`CellExecutor.run` returns; closing it cancels the cells not finished yet.
Outcomes = Generator[Outcome, None, None]


class CellExecutor(Protocol):
    """Runs cells somewhere; yields their outcomes as they finish, in any order.

    ``ctx`` is the comparison's context (picklable; see :func:`zoo.compare.worker.execute_cell`).
    Stopping the iteration early (Ctrl-C, ``break``) cancels the cells not yet finished.
    """

    name: str

    def run(self, cells: Sequence[Cell], ctx: dict, registry: Registry) -> Outcomes:
        ...


def require_extra(module: str, extra: str, feature: str) -> ModuleType:
    """Import an optional dependency or say which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(feature, extra, exc) from None


# ------------------------------------------------------------------------------------- local
class LocalExecutor:
    """Worker processes on this machine (``jobs`` at once); ``jobs == 1`` runs in this process,
    where a SIGTERM / Ctrl-C that interrupts a cell also stops the comparison."""

    name = "local"

    def __init__(self, jobs: int = 1):
        self.jobs = max(1, int(jobs))

    def run(self, cells: Sequence[Cell], ctx: dict, registry: Registry) -> Outcomes:
        if self.jobs == 1 or len(cells) == 1:
            for cell in cells:
                res = execute_cell(cell.to_dict(), ctx, registry)
                yield Outcome(cell, res)
                if res.get("status") == "interrupted":
                    return
            return
        yield from self._pool(cells, ctx, registry)

    def _pool(self, cells: Sequence[Cell], ctx: dict, registry: Registry) -> Outcomes:
        # fork where the platform has it: workers start at once with this process's registry
        # and imports (one torch thread each, like DataLoader workers, which keeps OpenMP
        # fork-safe); else spawn, and the workers rebuild the registry from its configuration
        context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
        handed = registry if context.get_start_method() == "fork" else registry.config
        if handed is registry:
            _warm_up_for_fork()
        pool = ProcessPoolExecutor(max_workers=min(self.jobs, len(cells)), mp_context=context,
                                   initializer=worker_setup,
                                   initargs=(handed, int(ctx.get("threads", 1)), os.getpid()))
        futures: dict[Future, Cell] = {pool.submit(run_in_pool_worker, c.to_dict(), ctx): c
                                       for c in cells}
        clean = False
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        yield Outcome(futures[fut], fut.result())
                    except BrokenProcessPool as exc:  # a worker died (killed, out of memory)
                        yield Outcome(futures[fut],
                                      error=f"worker process died ({error_line(exc)})")
            clean = True
        finally:
            pool.shutdown(wait=clean, cancel_futures=True)


def _warm_up_for_fork() -> None:
    """Pay once, in the parent, for torch's lazy imports that every forked worker would
    otherwise repeat: the first optimizer imports ``torch._dynamo`` (measured 2–7 s per worker
    on the project's loaded 2-core machine; benchmarks/bench_compare_executors.py)."""
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])


# --------------------------------------------------------------------------------------- ray
#: Read by Ray when it is imported: with "0", a cluster confined to this machine takes the
#: loopback address as its node address, so its servers listen on 127.0.0.1 only (without it
#: they listen on every interface; ``ray.init(_node_ip_address="127.0.0.1")`` does not help:
#: Ray replaces a loopback address by the machine's own).
RAY_LOOPBACK = ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def import_ray(local: bool) -> ModuleType:
    """Ray, imported for a local cluster (``local``: on the loopback only, unless Ray was
    imported before or the variable is set) or for joining one."""
    if local:
        os.environ.setdefault(*RAY_LOOPBACK)
    return require_extra("ray", "ray", "--executor ray")


def start_local_ray(ray: Any, num_cpus: int | None = None) -> None:
    """A Ray cluster on this machine for this process: no dashboard, workers' output not
    copied to this terminal (each cell logs into its folder)."""
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)


class RayExecutor:
    """One Ray task per cell, with ``num_cpus`` / ``num_gpus``; no automatic retry (a cell whose
    worker died is recorded as failed and retried by ``--resume``).

    Joins ``ray_address`` or, when Ray is not initialised yet, starts a local cluster for the
    comparison (and stops it afterwards); a Ray already initialised by the caller is used as it
    is.
    """

    name = "ray"

    def __init__(self, options: RunOptions):
        self.options = options
        self.ray = import_ray(local=not options.ray_address)

    def _init(self, ray: Any) -> bool:
        if ray.is_initialized():
            return False
        if self.options.ray_address:
            ray.init(address=self.options.ray_address, log_to_driver=False)
        else:
            start_local_ray(ray)
        return True

    def run(self, cells: Sequence[Cell], ctx: dict, registry: Registry) -> Outcomes:
        ray = self.ray
        started = self._init(ray)
        opts = self.options
        task = ray.remote(run_remote).options(num_cpus=opts.num_cpus, num_gpus=opts.num_gpus,
                                              max_retries=0)
        config = ray.put(registry.config)
        refs = {task.remote(c.to_dict(), ctx, config): c for c in cells}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        yield Outcome(refs[ref], ray.get(ref))
                    except ray.exceptions.RayError as exc:
                        yield Outcome(refs[ref], error=_ray_error(exc))
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()


def _ray_error(exc: BaseException) -> str:
    """Ray's error, first line only (its messages carry the remote traceback)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


# ------------------------------------------------------------------------------------- slurm
class SlurmExecutor:
    """One Slurm job per cell through submitit, submitted as one job array (``%`` parallelism
    ``slurm_array_parallelism``); a job that fails, times out or is pre-empted without writing
    its record is reported with submitit's error and the path of its log."""

    name = "slurm"

    def __init__(self, options: RunOptions, out: Path, poll_s: float | None = None):
        self.options, self.out = options, Path(out)
        self.poll_s = poll_s if poll_s is not None else \
            (5.0 if options.slurm_cluster == "slurm" else 0.2)
        self.submitit = require_extra("submitit", "slurm", "--executor slurm")
        if options.slurm_cluster == "slurm" and shutil.which("srun") is None:
            raise ConfigError("--executor slurm: no Slurm here (srun is not on PATH); run on a "
                              "login node, or set slurm_cluster = \"local\" to try the jobs on "
                              "this machine")

    def executor(self) -> Any:
        """submitit's executor with the cells' resources."""
        opts = self.options
        folder = Path(opts.slurm_folder) if opts.slurm_folder else self.out / "slurm"
        ex = self.submitit.AutoExecutor(folder=folder / "%j", cluster=opts.slurm_cluster)
        params: dict[str, Any] = {"name": f"zoo-compare-{self.out.name}",
                                  "timeout_min": opts.slurm_time_min,
                                  "cpus_per_task": opts.num_cpus, "nodes": 1,
                                  "tasks_per_node": 1}
        if opts.num_gpus:
            params["gpus_per_node"] = int(opts.num_gpus)
        if opts.slurm_mem_gb:
            params["mem_gb"] = opts.slurm_mem_gb
        if opts.slurm_partition:
            params["slurm_partition"] = opts.slurm_partition
        if opts.slurm_array_parallelism:
            params["slurm_array_parallelism"] = opts.slurm_array_parallelism
        ex.update_parameters(**params)
        return ex

    def run(self, cells: Sequence[Cell], ctx: dict, registry: Registry) -> Outcomes:
        submitit = self.submitit
        ex = self.executor()
        with ex.batch():
            jobs = [ex.submit(run_remote, c.to_dict(), ctx, registry.config) for c in cells]
        by_id = {id(job): cell for job, cell in zip(jobs, cells)}
        finished: set[int] = set()
        try:
            for job in submitit.helpers.as_completed(jobs, poll_frequency=self.poll_s):
                finished.add(id(job))
                try:
                    yield Outcome(by_id[id(job)], job.result())
                except Exception as exc:  # noqa: BLE001 - submitit's job errors vary by cluster
                    text = str(exc).strip().splitlines()
                    yield Outcome(by_id[id(job)],
                                  error=f"{type(exc).__name__}: {text[0] if text else ''} "
                                        f"(job {job.job_id}, log {job.paths.stderr})")
        finally:
            for job in jobs:
                if id(job) not in finished:
                    job.cancel(check=False)


def make_executor(options: RunOptions, out: Path, jobs: int) -> CellExecutor:
    """The executor ``options.executor`` names (``jobs``: the local executor's parallelism);
    a missing extra or a missing Slurm is said here, before anything runs."""
    if options.executor == "ray":
        return RayExecutor(options)
    if options.executor == "slurm":
        return SlurmExecutor(options, out)
    return LocalExecutor(jobs)
