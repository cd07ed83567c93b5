"""Benchmark: the scale-out overhead of ``zoo compare --executor ray`` against the local executor,
on one machine.

The same comparison of 8 tiny cells (``denoise`` × l1, l2, ssim, charbonnier × 2 seeds,
``unet.t``, ``--steps`` steps at 32², PSNR/SSIM on 4 test images) runs alternately

* **local**: ``--executor local --jobs N`` (N forked worker processes, one torch thread each);
* **ray**: ``--executor ray --num-cpus 1`` on a local Ray cluster of N CPUs (on 127.0.0.1, no
  dashboard) started once by this script, so round 1 also pays for the Ray workers' start and
  imports ("cold") and later rounds reuse them ("warm").

Each round writes into a fresh folder; the script checks that both executors give the same
``results.csv`` and prints the cluster start time, the wall time of each round, and the ratios
ray / local (cold, and the median over warm rounds).

    .venv/bin/python benchmarks/bench_compare_executors.py [--rounds 3] [--steps 20] [--jobs 2]

Needs the ``ray`` extra (``pip install 'restoration-zoo[ray]'``).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()

    from zoo.compare import run_comparison
    from zoo.compare.executors import import_ray, start_local_ray
    from zoo.compare.settings import CompareSettings, RunOptions, parse_loss_choice
    from zoo.registry import build_registry

    registry = build_registry()

    def settings() -> CompareSettings:
        s = CompareSettings(tasks=["denoise"], model="unet.t", seeds=[0, 1], steps=args.steps,
                            batch_size=4, size=32, train_length=16, test_length=4,
                            metrics=["psnr", "ssim"], name="bench", input_row=False)
        s.losses = [parse_loss_choice(n) for n in ("l1", "l2", "ssim", "charbonnier")]
        return s

    def run(options: RunOptions, out: Path) -> tuple[float, str]:
        t0 = time.perf_counter()
        res = run_comparison(settings(), registry=registry, out=out, options=options)
        wall = time.perf_counter() - t0
        assert len(res.summary.ran) == 8 and not res.summary.failed, res.summary.failed
        return wall, (out / "results.csv").read_text()

    print(f"load average before: {os.getloadavg()}")
    ray = import_ray(local=True)
    t0 = time.perf_counter()
    start_local_ray(ray, num_cpus=args.jobs)
    start_s = time.perf_counter() - t0
    local_s, ray_s = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            lw, lt = run(RunOptions(executor="local", jobs=args.jobs), Path(tmp) / f"local{i}")
            rw, rt = run(RunOptions(executor="ray", num_cpus=1), Path(tmp) / f"ray{i}")
            assert lt == rt, "the executors gave different tables"
            local_s.append(lw)
            ray_s.append(rw)
            print(f"round {i + 1}: local {lw:.2f} s, ray {rw:.2f} s ({'cold' if i == 0 else 'warm'}"
                  f" workers), ratio {rw / lw:.2f}; tables identical", flush=True)
    ray.shutdown()
    print(f"load average after: {os.getloadavg()}")
    print(f"ray local cluster start ({args.jobs} CPUs): {start_s:.2f} s")
    print(f"ratio ray/local, round 1 (cold Ray workers): {ray_s[0] / local_s[0]:.2f}; "
          f"with the cluster start: {(ray_s[0] + start_s) / local_s[0]:.2f}")
    if args.rounds > 1:
        warm = [r / lw for r, lw in zip(ray_s[1:], local_s[1:])]
        print(f"ratio ray/local, warm rounds: median {statistics.median(warm):.2f} "
              f"(min {min(warm):.2f}, max {max(warm):.2f}); local median "
              f"{statistics.median(local_s):.2f} s")


if __name__ == "__main__":
    main()
