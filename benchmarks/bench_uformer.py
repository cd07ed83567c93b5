"""Uformer attention: fused SDPA vs explicit softmax, and inference peak memory.

    python benchmarks/bench_uformer.py                       # 256x256 fwd+bwd, 1024x1024 memory
    python benchmarks/bench_uformer.py --reps 5 --threads 2 --mem-size 512
    python benchmarks/bench_uformer.py --device cuda --skip-memory   # the speed part on a GPU

1. Speed: the ``uformer.flare7k`` config (20.5M parameters), one 3x``SIZE``x``SIZE`` image,
   forward + backward of a mean-squared loss, the two attention paths interleaved on the SAME
   weights (``Uformer.set_fused_attention``) so machine noise hits both alike; then the same
   for inference (forward under ``torch.inference_mode``).  Prints the medians and the ratio
   fused / explicit, and the largest output difference between the paths; then the same A/B
   for one shifted-window attention layer alone (level 0 and bottleneck shapes).  SDPA is
   forced in training too (``WindowAttention.sdpa_in_cpu_training``): by default a CPU model
   in training uses the explicit formula, which this benchmark found faster there.
2. Memory: each path runs one ``MEM_SIZE`` x ``MEM_SIZE`` inference forward in a fresh
   subprocess; its peak resident set size during the forward is read from /proc/self/status
   (VmHWM, reset with /proc/self/clear_refs just before the forward; Linux only).  The peak
   includes the interpreter, torch and the 82 MB of weights, so the RSS before the forward is
   printed too.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from _proc_memory import peak_mib as _peak_mib, reset_peak as _reset_peak, rss_mib as _rss_mib


def _model(fused: bool = True, model_args: dict | None = None):
    import torch

    import zoo

    torch.manual_seed(0)
    return zoo.create_model("uformer.flare7k", fused_attention=fused, **(model_args or {}))


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure_speed(size: int, reps: int, device: str = "cpu",
                  model_args: dict | None = None) -> dict[str, float]:
    """Medians (s) of fwd+bwd (``train_*``) and inference (``inference_*``) with the fused and
    the explicit attention on the same weights, interleaved; ``max_diff`` of the eval outputs.
    ``model_args`` changes the ``uformer.flare7k`` configuration (e.g. a small one for a quick
    check)."""
    import torch

    from zoo.models.uformer import WindowAttention

    # time SDPA in training too (by default the model uses the explicit formula there on CPU)
    default, WindowAttention.sdpa_in_cpu_training = WindowAttention.sdpa_in_cpu_training, True
    try:
        return _measure_speed(size, reps, device, model_args)
    finally:
        WindowAttention.sdpa_in_cpu_training = default


def _measure_speed(size: int, reps: int, device: str, model_args: dict | None
                   ) -> dict[str, float]:
    import torch

    model = _model(model_args=model_args).to(device)
    x = torch.rand(1, 3, size, size, device=device)
    times: dict[str, list[float]] = {"fused": [], "explicit": []}
    inf_times: dict[str, list[float]] = {"fused": [], "explicit": []}
    outs = {}
    for rep in range(reps + 1):  # the first round warms up and is not counted
        for mode in ("fused", "explicit"):
            model.set_fused_attention(mode == "fused")
            model.train()
            model.zero_grad(set_to_none=True)
            _sync(device)
            t0 = time.perf_counter()
            out = model(x)
            out.square().mean().backward()
            _sync(device)
            dt = time.perf_counter() - t0
            model.eval()
            t0 = time.perf_counter()
            with torch.inference_mode():
                outs[mode] = model(x)
            _sync(device)
            di = time.perf_counter() - t0
            if rep:
                times[mode].append(dt)
                inf_times[mode].append(di)
    return {"train_fused": statistics.median(times["fused"]),
            "train_explicit": statistics.median(times["explicit"]),
            "inference_fused": statistics.median(inf_times["fused"]),
            "inference_explicit": statistics.median(inf_times["explicit"]),
            "max_diff": (outs["fused"] - outs["explicit"]).abs().max().item()}


def speed(size: int, reps: int, device: str = "cpu") -> None:
    m = measure_speed(size, reps, device)
    for label, key in (("forward+backward", "train"), ("inference forward", "inference")):
        f, e = m[f"{key}_fused"], m[f"{key}_explicit"]
        print(f"{label} {size}x{size}: fused {f:.3f} s, explicit {e:.3f} s, "
              f"ratio fused/explicit {f / e:.2f}  (median of {reps}, interleaved)")
    print(f"max |fused - explicit| (eval outputs): {m['max_diff']:.2e}")


def attention_only(size: int, reps: int) -> None:
    """One shifted-window attention layer of the flare7k config at level 0 and the bottleneck."""
    import torch

    from zoo.models.uformer import WindowAttention, shift_attention_mask

    WindowAttention.sdpa_in_cpu_training = True
    torch.manual_seed(0)
    for level, dim, heads in ((0, 32, 1), (4, 512, 16)):
        side = size // 2 ** level
        if side < 16:  # needs at least 2x2 windows of 8
            continue
        attn = WindowAttention(dim, 8, heads)
        x = torch.randn(1, (side // 8) ** 2, 64, dim)
        mask = shift_attention_mask(side, side, 8, 4)
        t = {"fused": [], "explicit": [], "fused-inf": [], "explicit-inf": []}
        for rep in range(reps + 1):
            for mode in ("fused", "explicit"):
                attn.fused = mode == "fused"
                t0 = time.perf_counter()
                attn(x, mask).square().mean().backward()
                dt = time.perf_counter() - t0
                t0 = time.perf_counter()
                with torch.inference_mode():
                    attn(x, mask)
                di = time.perf_counter() - t0
                if rep:
                    t[mode].append(dt)
                    t[mode + "-inf"].append(di)
        med = {k: statistics.median(v) for k, v in t.items()}
        print(f"attention only, level {level} ({side}x{side} tokens, {heads} head(s), width "
              f"{dim}): fwd+bwd ratio fused/explicit {med['fused'] / med['explicit']:.2f} "
              f"({med['fused'] * 1e3:.0f} / {med['explicit'] * 1e3:.0f} ms), inference ratio "
              f"{med['fused-inf'] / med['explicit-inf']:.2f} "
              f"({med['fused-inf'] * 1e3:.0f} / {med['explicit-inf'] * 1e3:.0f} ms)")


def _memory_child(fused: bool, size: int) -> None:
    import torch

    model = _model(fused).eval()
    x = torch.rand(1, 3, size, size)
    base = _rss_mib()
    _reset_peak()
    t0 = time.perf_counter()
    with torch.inference_mode():
        model(x)
    peak = _peak_mib()
    print(json.dumps({"base_mib": base, "peak_mib": peak,
                      "seconds": time.perf_counter() - t0}))


def memory(size: int, threads: int) -> None:
    res = {}
    for mode in ("fused", "explicit"):
        cmd = [sys.executable, __file__, "--child", mode, "--mem-size", str(size),
               "--threads", str(threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        res[mode] = json.loads(out.strip().splitlines()[-1])
        r = res[mode]
        print(f"inference {size}x{size} {mode}: peak RSS {r['peak_mib']:.0f} MiB (before the "
              f"forward {r['base_mib']:.0f} MiB, so +{r['peak_mib'] - r['base_mib']:.0f} MiB), "
              f"{r['seconds']:.1f} s")
    grow = {m: r["peak_mib"] - r["base_mib"] for m, r in res.items()}
    print(f"peak RSS ratio fused/explicit: "
          f"{res['fused']['peak_mib'] / res['explicit']['peak_mib']:.2f}; growth during the "
          f"forward fused/explicit: {grow['fused'] / grow['explicit']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mem-size", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the speed part; memory is "
                                                     "measured on the CPU)")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--child", choices=["fused", "explicit"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        _memory_child(args.child == "fused", args.mem_size)
        return
    print(f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}")
    if not args.skip_speed:
        speed(args.size, args.reps, args.device)
        if args.device == "cpu":
            attention_only(args.size, args.reps)
    if not args.skip_memory:
        memory(args.mem_size, args.threads)


if __name__ == "__main__":
    main()
