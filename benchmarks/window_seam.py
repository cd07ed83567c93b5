"""Does a Uformer without shifted windows leave steps on its window grid?  (the demo's block step)

Trains the demo's cpu-profile Uformer (``uformer.t`` with embed 8, window 4) twice on 64-px
``synthetic-flare`` crops, with one LeWin block per level (``depths = [1] * 9``: block 0 of a
level is never shifted, so no level has shifted windows) and with two (block 1 is shifted by
half a window), same seed, L1 loss, AdamW lr 1e-3 with a cosine schedule, batch 4.  Then, on 64
held-out test crops, it measures the mean |horizontal / vertical step| of what the model changed
(``output - input``) across each column / row boundary, divided by the median over the interior
boundaries: a window grid shows as peaks at multiples of 8 px (level 1: 2 x 4), 16 px (level 2)
and 32 px (level 3).

    PYTHONPATH=. .venv/bin/python benchmarks/window_seam.py [--steps 600]

Results: benchmarks/RESULTS-window-seam.md.  About 10 minutes per model on one CPU core.
"""
from __future__ import annotations

import argparse
import time

import torch

import zoo
from zoo.data.synthetic_flare import SyntheticFlare


def train(depth: int, steps: int, data: SyntheticFlare) -> torch.nn.Module:
    torch.manual_seed(0)
    model = zoo.create_model("uformer.t", embed_dim=8, win_size=4, depths=[depth] * 9)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=5e-5)
    for step in range(steps):
        items = [data[(step * 4 + k) % len(data)] for k in range(4)]
        x = torch.stack([i["input"] for i in items])
        y = torch.stack([i["gt"] for i in items])
        loss = (model(x) - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def boundary_profile(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean |step| of ``model(x) - x`` across each boundary i | i+1 (columns and rows averaged),
    relative to the median over the interior boundaries."""
    with torch.no_grad():
        d = model(x) - x
    dx = (d[..., :, 1:] - d[..., :, :-1]).abs().mean(dim=(0, 1, 2))
    dy = (d[..., 1:, :] - d[..., :-1, :]).abs().mean(dim=(0, 1, 3))
    prof = (dx + dy) / 2
    return prof / prof[2:-2].median()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = SyntheticFlare("train", size=64, length=4096, seed=0)
    test = SyntheticFlare("test", size=64, length=64, seed=1)
    x = torch.stack([test[i]["input"] for i in range(len(test))])
    grid = [8, 16, 24, 32, 40, 48, 56]
    off_grid = [4 * k + 2 for k in range(3, 13)]
    print(f"| blocks per level | steps | test L1 | step at 32 px | at 16/48 px | at 8/24/40/56 px "
          f"| off the grid (4k+2) | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for depth in (1, 2):
        t = time.perf_counter()
        model = train(depth, args.steps, data)
        seconds = time.perf_counter() - t
        prof = boundary_profile(model, x)
        with torch.no_grad():
            gt = torch.stack([test[i]["gt"] for i in range(len(test))])
            l1 = float((model(x) - gt).abs().mean())
        at = lambda cols: float(prof[[c - 1 for c in cols]].mean())  # noqa: E731
        print(f"| {depth} | {args.steps} | {l1:.4f} | {at([32]):.2f} | {at([16, 48]):.2f} | "
              f"{at([8, 24, 40, 56]):.2f} | {at(off_grid):.2f} | {seconds:.0f} |")
    print(f"(boundary i = between pixels i-1 and i; grid boundaries {grid})")


if __name__ == "__main__":
    main()
