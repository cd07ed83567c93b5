"""Benchmark: wall time of ``zoo --version`` and ``zoo list`` in a checkout, before and after.

Each case runs the ``zoo`` console script in a fresh process, the working directory being the
checkout's root (whose ``registry.toml`` is an inert template; ``examples/registry.toml`` lists
``examples/my_losses.py``):

* ``before``: another checkout of the package (``--before DIR``, e.g. an ``git archive`` of the
  commit to compare against), run from its root with ``PYTHONPATH=DIR``;
* ``after``: this checkout, what a fresh clone gets (no local plugin);
* ``after-named``: this checkout with ``ZOO_REGISTRY=examples/registry.toml`` (the example
  plugin loaded, lazily).

Cases and commands are interleaved round by round (their order rotating), so a change in the
machine's load hits all of them alike; the script prints the median and min/max per case and
the load average before and after.

    python benchmarks/bench_cli_startup.py --before /tmp/zoo-before [--rounds 7]
        [--zoo .venv/bin/zoo]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
COMMANDS = {"--version": ["--version"], "list": ["list"]}


def timed(zoo: str, args: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([zoo, *args], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="checkout to compare against")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--zoo", default=shutil.which("zoo") or str(Path(sys.executable).parent / "zoo"))
    args = ap.parse_args()
    config = tempfile.mkdtemp(prefix="zoo-bench-config-")  # an empty trust store
    base = {k: v for k, v in os.environ.items() if k not in ("ZOO_REGISTRY", "PYTHONPATH")}
    base["ZOO_CONFIG_DIR"] = config
    cases = {
        "before": (args.before.resolve(), {**base, "PYTHONPATH": str(args.before.resolve())}),
        "after": (HERE, {**base, "PYTHONPATH": str(HERE)}),
        "after-named": (HERE, {**base, "PYTHONPATH": str(HERE), "ZOO_REGISTRY":
                                   "examples/registry.toml"}),
    }
    jobs = [(case, cmd) for case in cases for cmd in COMMANDS]
    for case, cmd in jobs:  # warm the file cache once
        timed(args.zoo, COMMANDS[cmd], *cases[case])
    times: dict[tuple[str, str], list[float]] = {job: [] for job in jobs}
    print(f"load average before: {os.getloadavg()}")
    for r in range(args.rounds):
        order = jobs[r % len(jobs):] + jobs[:r % len(jobs)]
        for case, cmd in order:
            times[(case, cmd)].append(timed(args.zoo, COMMANDS[cmd], *cases[case]))
    print(f"load average after:  {os.getloadavg()}  ({os.cpu_count()} CPUs)")
    print(f"{'case':<12} {'command':<10} {'median s':>9} {'min':>6} {'max':>6}  (n={args.rounds})")
    for (case, cmd), values in times.items():
        print(f"{case:<12} {'zoo ' + cmd:<10} {statistics.median(values):9.2f} "
              f"{min(values):6.2f} {max(values):6.2f}")


if __name__ == "__main__":
    main()
