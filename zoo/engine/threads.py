"""How many torch CPU threads a run computes with: the recipe key ``threads``.

``threads`` is a number (that many threads; ``0``: leave the process's count as it is, torch's
default of one per core unless the caller changed it, as ``zoo compare``'s workers do) or
``"auto"`` (every recipe's default), which decides when each stage of a run starts:

* ``OMP_NUM_THREADS`` set in the environment: torch's default, which follows it;
* otherwise ``free = cpus // processes - others - num_workers`` threads, at least 1 and at most
  torch's default: ``cpus`` the CPUs this process may run on, ``processes`` the training
  processes on this machine (DDP), ``others`` how many CPUs other programs keep busy right now
  and ``num_workers`` the DataLoader workers (each a process of its own).

``others`` is the number of runnable tasks in ``/proc/loadavg`` (the instantaneous count, not
the 1-minute average, which still remembers e.g. the ``pip install`` just before ``make demo``)
averaged over 20 reads 10 ms apart, minus this process's own running threads (an OpenMP
thread may still spin after the previous stage); where that file does not exist, the 1-minute
load average.  With several training processes (DDP) the others are not measured (they would
count the job's own processes): each process gets ``cpus // processes``.

Why: an OpenMP parallel region waits for its slowest thread, so a thread that shares its core
with another program stalls every region; on a machine shared with other CPU-bound programs,
fewer threads than cores is faster (measurements and commands: docs/performance.md, "Threads").
Different thread counts change results in the last bits (parallel reductions add in another
order), so the count chosen is logged and recorded per stage in ``state.json``, and
``--resume`` reuses the count an interrupted stage started with.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from zoo.errors import ConfigError

AUTO = "auto"
LOADAVG = Path("/proc/loadavg")
#: torch's thread count when this module is first imported (one per physical core, or
#: ``OMP_NUM_THREADS``): the most ``"auto"`` gives
TORCH_DEFAULT = torch.get_num_threads()


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count a run uses and why (one line for the log)."""

    threads: int
    reason: str


def check_threads(value: object, where: str = "threads") -> int | str:
    """A valid ``threads`` value (a non-negative integer or ``"auto"``), else a ConfigError."""
    if value == AUTO:
        return AUTO
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: expected \"auto\" or a number of threads >= 0 (0: torch's "
                          f"default), got {value!r}")
    return value


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _own_running(tasks: Path) -> int:
    """Threads of this process that are running or runnable now (state ``R``)."""
    count = 0
    for stat in tasks.glob("*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the thread ended meanwhile
            continue
        if text[text.rindex(")") + 2:].startswith("R"):
            count += 1
    return count


def busy_cpus_of_others(reads: int = 20, interval: float = 0.01, loadavg: Path = LOADAVG,
                        tasks: Path = Path("/proc/self/task")) -> float:
    """CPUs kept busy by other programs right now (see the module docstring)."""
    try:
        counts = []
        for i in range(reads):
            if i:
                time.sleep(interval)
            running = int(loadavg.read_text().split()[3].split("/")[0])
            own = _own_running(tasks) if tasks.is_dir() else 1
            counts.append(running - max(1, own))  # the reading thread at least is ours
        return max(0.0, sum(counts) / len(counts))
    except (OSError, IndexError, ValueError):
        try:
            return max(0.0, os.getloadavg()[0])
        except (OSError, AttributeError):
            return 0.0


def choose_threads(setting: int | str, *, processes: int = 1, num_workers: int = 0,
                   cpus: int | None = None, others: float | None = None,
                   default: int | None = None, environ: dict | None = None) -> ThreadChoice:
    """The thread count for ``setting`` (``threads`` of a recipe); pure when every keyword is
    given (``cpus``, ``others``, ``default`` = torch's default count, ``environ``)."""
    setting = check_threads(setting)
    default = TORCH_DEFAULT if default is None else default
    if setting != AUTO:
        if setting == 0:
            return ThreadChoice(torch.get_num_threads(), "threads = 0: the process's count, "
                                                         f"{torch.get_num_threads()}")
        return ThreadChoice(int(setting), f"threads = {setting}")
    env = os.environ if environ is None else environ
    if env.get("OMP_NUM_THREADS"):
        return ThreadChoice(default, f"threads = auto: OMP_NUM_THREADS={env['OMP_NUM_THREADS']} "
                                     f"is set, torch's default")
    cpus = usable_cpus() if cpus is None else cpus
    if others is None:
        others = busy_cpus_of_others() if processes <= 1 else 0.0
    share = cpus // max(1, processes)
    free = int(share - others - max(0, num_workers) + 0.5)  # round half up
    threads = max(1, min(default, free))
    return ThreadChoice(threads, f"threads = auto: {threads} ({cpus} CPUs, {processes} "
                                 f"process(es), {others:.1f} busy with other programs, "
                                 f"{num_workers} data worker(s))")


def apply_threads(choice: ThreadChoice) -> None:
    """Set torch's intra-op thread count."""
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
