"""One-command GPU check: the figures docs/performance.md needs from a machine with a GPU.

    make gpu-check                                              # = the line below
    python benchmarks/gpu_check.py --device cuda --out benchmarks/RESULTS-gpu-check.md
    python benchmarks/gpu_check.py --device cpu --quick         # the same code, tiny sizes (tests)

Three parts, one Markdown table (printed, and written to ``--out``):

1. **Uformer attention**: ``uformer.flare7k`` forward+backward and inference of one ``SIZE``²
   image with the fused SDPA attention and with the explicit softmax, interleaved on the same
   weights (``benchmarks/bench_uformer.py``'s ``measure_speed``); issue target: fused ≤ 0.7×
   explicit in training.
2. **The paper's training step**: one cascaded fine-tuning step as ``zoo run recipe`` runs it
   (``benchmarks/bench_cascade_step.py``'s ``EngineStep``: ``training_step`` + ``LossComposer``)
   at the ``paper`` profile's sizes -- ``uformer.flare7k``, 512² crops, batch 2, one ViT-L/16
   SWAG e2e encoder (random weights: no download) shared by L_PL and the triplet, SGD -- in
   float32, under bf16 autocast, and under bf16 autocast with channels-last: median step time
   and peak memory (CUDA: ``torch.cuda.max_memory_allocated``; CPU: peak resident set size of
   the process).
3. **The demo on the device**: ``zoo run recipe cascaded-flare --device DEVICE`` (its default
   ``cpu`` profile: 600 + 150 + 150 steps of a small Uformer on 64-px synthetic flares) in a
   subprocess: wall time and the final PSNR of each stage.

``--quick`` runs the same code with tiny sizes (a small Uformer at 64², a 2-layer ViT at 64²,
the recipe's ``smoke`` profile) so that the script itself is tested on a CPU in seconds;
those figures say nothing about performance.  The full check is sized to finish in a few
minutes on a recent GPU (the issue asks for under 8); each part's wall time is in the table.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_uformer  # noqa: E402  (a sibling script)
from _proc_memory import peak_mib, reset_peak, rss_mib  # noqa: E402
from bench_cascade_step import EngineStep  # noqa: E402

import zoo  # noqa: E402
from zoo.engine.precision import Precision  # noqa: E402
from zoo.engine.spec import CascadeSpec  # noqa: E402

#: The small configurations of --quick (same code, tiny sizes).
QUICK_UFORMER = {"embed_dim": 8, "win_size": 4, "depths": [1] * 9}
QUICK_VIT = {"image_size": 64, "num_layers": 2, "num_heads": 2, "hidden_dim": 32, "mlp_dim": 64}
QUICK_NOTE = " (quick: embed 8, one block per level, 4×4 windows)"

Row = tuple[str, str, str, str]  # check, setting, measured, target / note


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def attention_rows(device: str, quick: bool, reps: int) -> list[Row]:
    size = 64 if quick else 512
    args = QUICK_UFORMER if quick else None
    m = bench_uformer.measure_speed(size, reps, device, args)
    setting = (f"uformer.flare7k{QUICK_NOTE if args else ''}, 1×3×{size}², median of {reps}")
    train = m["train_fused"] / m["train_explicit"]
    infer = m["inference_fused"] / m["inference_explicit"]
    met = "met" if train <= 0.7 else "not met"
    return [
        ("Uformer attention, forward+backward", setting,
         f"fused {m['train_fused'] * 1e3:.1f} ms, explicit {m['train_explicit'] * 1e3:.1f} ms: "
         f"**{train:.2f}×**", f"≤ 0.7× ({met})"),
        ("Uformer attention, inference", setting,
         f"fused {m['inference_fused'] * 1e3:.1f} ms, explicit "
         f"{m['inference_explicit'] * 1e3:.1f} ms: **{infer:.2f}×**; max output difference "
         f"{m['max_diff']:.1e}", "report"),
    ]


def _peak_reset(device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated() / 2**20
    reset_peak()
    return rss_mib()


def _peak(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return peak_mib()


def cascade_step_rows(device: str, quick: bool, steps: int) -> list[Row]:
    size, batch = (64, 2) if quick else (512, 2)
    vit_args: dict[str, Any] = {"pretrained": False}
    if quick:
        vit_args["arch"] = QUICK_VIT
    encoder = {"encoder": "vit-l-16-swag.e2e", "encoder_args": vit_args}
    spec = CascadeSpec(perceptual={**encoder, "distance": "l2"}, triplet=dict(encoder))
    registry = zoo.get_registry()
    what = (f"uformer.flare7k{QUICK_NOTE if quick else ''}, {batch}×3×{size}², ViT-L/16 e2e "
            f"{'(quick: 2 layers, width 32)' if quick else 'random weights'}, SGD; median of "
            f"{steps} steps")
    memory = "peak allocated" if device.startswith("cuda") else "peak RSS of the process"
    rows: list[Row] = []
    base_time = None
    for label, precision in (("float32", Precision()), ("bf16 autocast", Precision("bf16")),
                             ("bf16 autocast + channels_last", Precision("bf16", True))):
        torch.manual_seed(0)
        legacy = zoo.create_model("uformer.flare7k", **(QUICK_UFORMER if quick else {}))
        step = EngineStep(legacy, spec, registry=registry, device=device, precision=precision)
        g = torch.Generator().manual_seed(1)
        x = torch.rand(batch, 3, size, size, generator=g).to(device)
        gt = torch.rand(batch, 3, size, size, generator=g).to(device)
        step(x, gt)  # warm-up (kernels, allocator)
        _sync(device)
        before = _peak_reset(device)
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            loss = step(x, gt)
            _sync(device)
            times.append(time.perf_counter() - t0)
        peak = _peak(device)
        median = statistics.median(times)
        base_time = base_time or median
        rows.append((f"cascade step ({label})", what,
                     f"**{median * 1e3:.0f} ms**/step ({median / base_time:.2f}× float32), "
                     f"{memory} {peak:.0f} MiB (before the steps {before:.0f} MiB), loss "
                     f"{float(loss.detach()):.4f}", "report"))
        del step, legacy, x, gt, loss
        gc.collect()
    return rows


def recipe_rows(device: str, quick: bool, threads: int) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="zoo-gpu-check-") as out:
        cmd = [sys.executable, "-m", "zoo", "run", "recipe", "cascaded-flare", "--device", device,
               "--no-progress", "--out", out]
        if quick:
            cmd += ["--set", "profile=smoke"]
        if threads:
            cmd += ["--set", f"threads={threads}"]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        shown = " ".join(cmd[1:]).replace(out, "TMP")
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["?"]
            return [("zoo run recipe cascaded-flare", shown, f"**failed** (exit "
                     f"{done.returncode}): {tail[0][:200]}", "must run")]
        metrics = json.loads(next(Path(out).glob("*/metrics.json")).read_text())
    psnr = ", ".join(f"{row} {vals['psnr']:.2f}" for row, vals in metrics.items() if "psnr" in vals)
    return [("zoo run recipe cascaded-flare", f"`{shown}`",
             f"**{wall:.0f} s** wall; PSNR (dB): {psnr}", "runs on the device")]


def table(rows: list[Row], header: str) -> str:
    lines = [header, "", "| check | setting | measured | target / note |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(cell.replace('|', '/') for cell in row)} |" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: tests the script itself")
    ap.add_argument("--out", type=Path, default=None, help="also write the table here")
    ap.add_argument("--reps", type=int, default=None, help="attention repetitions (5; quick 1)")
    ap.add_argument("--steps", type=int, default=None, help="timed cascade steps (10; quick 2)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["attention", "step", "recipe"],
                    help="parts to leave out")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: CUDA is not available (use --device cpu --quick to test the script)",
              file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    reps = args.reps or (1 if args.quick else 5)
    steps = args.steps or (2 if args.quick else 10)
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else \
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    header = (f"GPU check, {datetime.date.today()}: {name}, torch {torch.__version__}"
              f"{', CUDA ' + str(torch.version.cuda) if args.device.startswith('cuda') else ''}"
              f"{' -- QUICK (tiny sizes: tests the script, measures nothing)' if args.quick else ''}"
              f".  Command: `python benchmarks/gpu_check.py {' '.join(sys.argv[1:] if argv is None else argv)}`")
    rows: list[Row] = []
    parts = [("attention", lambda: attention_rows(args.device, args.quick, reps)),
             ("step", lambda: cascade_step_rows(args.device, args.quick, steps)),
             ("recipe", lambda: recipe_rows(args.device, args.quick, args.threads))]
    for part, run in parts:
        if part in args.skip:
            continue
        t0 = time.perf_counter()
        rows += run()
        print(f"gpu_check: {part} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr,
              flush=True)
    text = table(rows, header)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
