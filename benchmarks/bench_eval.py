"""``zoo eval`` against scikit-image + numpy computing the same metrics (issue 23, item 5).

Writes ``--images`` synthetic 512 x 512 pairs with Flare7K colour-code masks as PNG into a
temporary folder, then times, interleaved in one process (each round runs both in a rotating
order), the median over rounds of:

* **zoo**: :func:`zoo.commands.evaluate.evaluate_folders` -- what ``zoo eval --pred --gt
  --mask`` runs (reading, pairing, the default metrics ``psnr, ssim, g-psnr, s-psnr,
  global-psnr, flare-score``), without printing;
* **peer**: Pillow reads the same files, ``skimage.metrics.peak_signal_noise_ratio`` /
  ``structural_similarity`` (the calls of Flare7K's ``evaluate.py``) and numpy computes the
  three region PSNRs from the mask (Flare7K's ``compare_score`` formula, the area reading) and
  their mean.

It also checks that both give the same numbers (largest difference printed).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_eval.py [--images 4] [--rounds 7]
        [--threads 1]

The ratio zoo / peer is what counts (target <= 1); the load average is printed with it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def make_folders(root: Path, images: int, size: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for sub in ("pred", "gt", "mask"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:size, :size]
    for i in range(images):
        base = rng.random((size // 8, size // 8, 3))
        gt = np.kron(base, np.ones((8, 8, 1)))  # some structure
        gt = np.clip(gt + 0.05 * rng.standard_normal(gt.shape), 0, 1)
        pred = np.clip(gt + 0.06 * rng.standard_normal(gt.shape), 0, 1)
        cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
        r = np.hypot(yy - cy, xx - cx)
        mask = np.zeros((size, size, 3))
        mask[r < size / 4] = (1, 0, 0)  # streak
        mask[r < size / 8] = (1, 1, 0)  # glare
        mask[r < size / 32] = (0, 0, 1)  # light source
        for name, arr in (("pred", pred), ("gt", gt), ("mask", mask)):
            Image.fromarray((arr * 255).round().astype(np.uint8)).save(
                root / name / f"{i:06d}.png")


def peer_scores(root: Path) -> dict[str, list[float]]:
    """scikit-image + numpy, reading the files as Flare7K's evaluate.py does."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    out: dict[str, list[float]] = {k: [] for k in ("psnr", "ssim", "g-psnr", "s-psnr",
                                                   "global-psnr")}
    for path in sorted((root / "gt").iterdir()):
        gt = np.asarray(Image.open(path).convert("RGB"))
        pred = np.asarray(Image.open(root / "pred" / path.name).convert("RGB"))
        mask = np.asarray(Image.open(root / "mask" / path.name).convert("RGB")) / 255.0
        out["psnr"].append(peak_signal_noise_ratio(gt, pred, data_range=255))
        out["ssim"].append(structural_similarity(gt, pred, channel_axis=2, data_range=255))
        d = pred / 255.0 - gt / 255.0
        for name, m in (("g-psnr", mask[..., 1]), ("s-psnr", mask[..., 0] - mask[..., 1]),
                        ("global-psnr", 1.0 - mask[..., 2])):
            area = m.sum()
            mse = ((d * m[..., None]) ** 2).sum() / (3 * area) if area else np.nan
            out[name].append(10 * np.log10(1 / mse) if area else np.nan)
    return out


def zoo_scores(root: Path, registry) -> tuple[list[dict], dict]:
    from zoo.commands.evaluate import MASK_METRICS, DEFAULT_METRICS, evaluate_folders

    return evaluate_folders(root / "pred", root / "gt", root / "mask",
                            [*DEFAULT_METRICS, *MASK_METRICS], registry=registry)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import zoo

    registry = zoo.get_registry()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_folders(root, args.images, args.size)
        rows, _ = zoo_scores(root, registry)  # warm-up (imports, caches) and the values
        peer = peer_scores(root)
        worst = 0.0
        for name, values in peer.items():
            for row, v in zip(rows, values):
                if np.isfinite(v):
                    worst = max(worst, abs(row[name] - v))
        times: dict[str, list[float]] = {"zoo": [], "peer": []}
        jobs = {"zoo": lambda: zoo_scores(root, registry), "peer": lambda: peer_scores(root)}
        order = list(jobs)
        for r in range(args.rounds):
            for name in (order if r % 2 == 0 else order[::-1]):
                t0 = time.perf_counter()
                jobs[name]()
                times[name].append(time.perf_counter() - t0)
        zoo_s = statistics.median(times["zoo"]) / args.images
        peer_s = statistics.median(times["peer"]) / args.images
        print(f"images {args.images} x {args.size}x{args.size}, rounds {args.rounds}, torch "
              f"threads {torch.get_num_threads()}, load average "
              f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}, cpus "
              f"{len(os.sched_getaffinity(0))}")
        print(f"| zoo s/image | peer s/image | zoo / peer | max |zoo - peer| |")
        print(f"| {zoo_s:.3f} | {peer_s:.3f} | **{zoo_s / peer_s:.2f}** | {worst:.1e} |")


if __name__ == "__main__":
    main()
