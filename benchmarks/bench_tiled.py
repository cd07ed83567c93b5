"""Peak memory of tiled inference on a large image (default 4096x4096) vs whole-image.

    python benchmarks/bench_tiled.py                          # unet.t, 4096x4096, tile 512
    python benchmarks/bench_tiled.py --model uformer.t --size 2048 --whole

Each measurement runs in a fresh subprocess: build the model (random weights, eval mode), make a
random 1x3xSIZExSIZE image, run :func:`zoo.models.tiling.tiled_forward` (or, with ``--whole``,
also one whole-image forward for comparison) and read the peak resident set size during the
forward from /proc/self/status (VmHWM, reset with /proc/self/clear_refs just before; Linux only).
The peak includes the interpreter, torch, the model and the input image (printed as "before").
The target is a tiled peak <= 4 GiB.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _proc_memory import peak_mib as _peak_mib, reset_peak as _reset_peak, rss_mib as _rss_mib


def _child(model_name: str, size: int, tile: int, overlap: int, whole: bool) -> None:
    import torch

    import zoo
    from zoo.models.tiling import tiled_forward

    torch.manual_seed(0)
    model = zoo.create_model(model_name).eval()
    x = torch.rand(1, 3, size, size)
    base = _rss_mib()
    _reset_peak()
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model(x) if whole else tiled_forward(model, x, tile, overlap)
    seconds = time.perf_counter() - t0
    peak = _peak_mib()
    print(json.dumps({"base_mib": base, "peak_mib": peak, "seconds": seconds,
                      "shape": list(out.shape)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="unet.t")
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--whole", action="store_true", help="also measure one whole-image forward")
    ap.add_argument("--child", choices=["tiled", "whole"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        _child(args.model, args.size, args.tile, args.overlap, args.child == "whole")
        return
    print(f"torch {torch.__version__}, {args.threads} thread(s), model {args.model}, "
          f"{args.size}x{args.size}, tile {args.tile}, overlap {args.overlap}")
    res = {}
    for mode in ("tiled", "whole") if args.whole else ("tiled",):
        cmd = [sys.executable, __file__, "--child", mode, "--model", args.model, "--size",
               str(args.size), "--tile", str(args.tile), "--overlap", str(args.overlap),
               "--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f"{mode}: failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
            continue
        r = res[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{mode}: peak RSS {r['peak_mib']:.0f} MiB = {r['peak_mib'] / 1024:.2f} GiB "
              f"(before the forward, model + input loaded: {r['base_mib']:.0f} MiB), "
              f"{r['seconds']:.1f} s")
    if "tiled" in res:
        ok = res["tiled"]["peak_mib"] <= 4096
        print(f"tiled peak <= 4 GiB: {'yes' if ok else 'NO'}")
    if len(res) == 2:
        ratio = res["tiled"]["peak_mib"] / res["whole"]["peak_mib"]
        print(f"peak RSS ratio tiled/whole: {ratio:.2f}")


if __name__ == "__main__":
    main()
