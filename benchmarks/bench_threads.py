"""The demo's training speed by torch thread count, alone and beside another CPU-bound job.

Runs a shortened ``zoo run recipe cascaded-flare`` (the ``cpu`` profile with fewer steps, no
report) once per ``--threads`` value (``1``, ``2``, ``auto`` ...), round-robin over ``--rounds``
rounds so that load changes hit every setting alike, in two conditions: ``alone`` and
``beside`` (a busy-looping Python process, one CPU-bound thread, started before the run and
stopped after it).  Prints, per condition and setting, the median seconds of the reference
stage and of one cascade stage (from the run's ``state.json``), the threads each run used, and
the load average (1 min) at the start of each run.

    python benchmarks/bench_threads.py --threads 1 2 auto --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUSY = "while True: pass"


def one_run(threads: str, out: Path, sets: list[str]) -> dict:
    cmd = [sys.executable, "-m", "zoo", "run", "recipe", "cascaded-flare", "--no-progress",
           "--out", str(out), "--set", f"threads={threads}"]
    for s in sets:
        cmd += ["--set", s]
    load = os.getloadavg()[0]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    run = max(out.iterdir(), key=lambda p: p.stat().st_mtime)
    state = json.loads((run / "state.json").read_text())
    env = json.loads((run / "environment.json").read_text())
    machine = env.get("machine", env)
    used = state.get("reference", {}).get("threads", machine.get("torch_threads"))
    return {"threads": threads, "used": used, "load": load, "wall": wall,
            **{f"{s}_s": state[s]["seconds"] for s in state}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", nargs="+", default=["1", "2", "auto"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conditions", nargs="+", default=["alone", "beside"])
    ap.add_argument("--set", dest="sets", action="append",
                    default=["stages.reference.schedule.steps=150",
                             "stages.finetune.schedule.steps=30",
                             "stages.control.schedule.steps=30"])
    args = ap.parse_args()
    rows: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        for r in range(args.rounds):
            for cond in args.conditions:
                for th in args.threads:
                    busy = subprocess.Popen([sys.executable, "-c", BUSY]) if cond == "beside" \
                        else None
                    try:
                        if busy is not None:
                            time.sleep(1.0)
                        res = one_run(th, Path(tmp) / f"{cond}-{th}-{r}", args.sets)
                    finally:
                        if busy is not None:
                            busy.kill()
                            busy.wait()
                    rows.setdefault((cond, th), []).append(res)
                    print(json.dumps({"round": r, "condition": cond, **res}), flush=True)
    print(f"\n{'condition':<9}{'threads':>8}{'used':>6}{'load':>7}"
          f"{'reference s':>13}{'finetune s':>12}{'wall s':>9}")
    for (cond, th), rs in rows.items():
        med = lambda k: statistics.median(x[k] for x in rs)  # noqa: E731
        used = sorted({str(x["used"]) for x in rs})
        print(f"{cond:<9}{th:>8}{'/'.join(used):>6}{med('load'):>7.2f}"
              f"{med('reference_s'):>13.1f}{med('finetune_s'):>12.1f}{med('wall'):>9.1f}")


if __name__ == "__main__":
    main()
