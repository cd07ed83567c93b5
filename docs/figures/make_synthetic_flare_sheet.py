"""Regenerate docs/figures/synthetic-flare-sheet.png and the mask statistics of docs/data.md.

    PYTHONPATH=. .venv/bin/python docs/figures/make_synthetic_flare_sheet.py \
        [--size 64] [--count 16] [--stats 500] [--out docs/figures/synthetic-flare-sheet.png]

The sheet shows ``--count`` training items of ``synthetic-flare`` (seed 0) at the demo's crop
size, each as three panels: the input, the flare layer alone on black (glare, streaks, ghosts and
light source: what a flare-removal model has to take away, the light source aside), and the
Flare7K colour-code mask (glare yellow, streak red, light source blue), magnified with nearest
neighbours.  ``--stats N`` then prints the distribution of the mask's area fractions over the
first N items, and of the blown-out blob (the region of input luminance >= 0.99 that touches the
light source) relative to the light source.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from zoo.data.synthetic_flare import SyntheticFlare, luminance

PANELS = ("input", "flare layer", "mask")


def flare_layer(sample: dict) -> torch.Tensor:
    """Glare (with ghosts) + streaks + light source, on black, display domain."""
    linear = sample["glare"] + sample["streak"] + sample["light_linear"]
    return linear.clamp(0, 1) ** (1 / sample["gamma"])


def contact_sheet(ds: SyntheticFlare, count: int, per_row: int = 4, zoom: int = 2) -> Image.Image:
    size, gap, label_h = ds.size * zoom, 4, 18
    cols = per_row * len(PANELS)
    rows = math.ceil(count / per_row)
    width = cols * size + (cols - 1) * gap + (per_row - 1) * 3 * gap
    sheet = Image.new("RGB", (width, label_h + rows * (size + gap)), (40, 40, 40))
    draw = ImageDraw.Draw(sheet)
    for i in range(count):
        s = ds.sample(i)
        row, slot = divmod(i, per_row)
        for p, image in enumerate((s["input"], flare_layer(s), s["mask"])):
            big = F.interpolate(image[None], scale_factor=zoom, mode="nearest")[0]
            array = (big.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
            x = (slot * len(PANELS) + p) * (size + gap) + slot * 3 * gap
            sheet.paste(Image.fromarray(array), (x, label_h + row * (size + gap)))
            if row == 0:
                draw.text((x + 4, 3), PANELS[p], fill=(230, 230, 230))
    return sheet


def statistics(ds: SyntheticFlare, n: int) -> dict[str, torch.Tensor]:
    from skimage.measure import label

    fractions: dict[str, list[float]] = {"glare": [], "streak": [], "light source": [],
                                         "blown-out blob / light source": []}
    for i in range(n):
        item = ds[i]
        m = item["mask"]
        is_light = m[2] == 1
        fractions["light source"].append(float(is_light.float().mean()))
        fractions["streak"].append(float(((m[0] == 1) & (m[1] == 0)).float().mean()))
        fractions["glare"].append(float(((m[0] == 1) & (m[1] == 1)).float().mean()))
        if is_light.any():
            # the saturated region of the input that touches the light source
            regions = torch.from_numpy(label((luminance(item["input"]) >= 0.99).numpy()))
            touching = set(regions[is_light].tolist()) - {0}
            blob = torch.isin(regions, torch.tensor(sorted(touching), dtype=regions.dtype))
            fractions["blown-out blob / light source"].append(
                float(blob.sum()) / float(is_light.sum()))
    return {k: torch.tensor(v) for k, v in fractions.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--stats", type=int, default=500)
    ap.add_argument("--out", default=str(Path(__file__).with_name("synthetic-flare-sheet.png")))
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = SyntheticFlare("train", size=args.size, length=max(args.count, args.stats), seed=0)
    contact_sheet(ds, args.count).save(args.out)
    print(f"wrote {args.out}")
    if args.stats:
        t = time.perf_counter()
        stats = statistics(ds, args.stats)
        seconds = time.perf_counter() - t
        print(f"\n{args.stats} training items at {args.size} px ({seconds / args.stats * 1e3:.1f} "
              f"ms/item including the statistics)\n")
        print("| region | mean | p10 | median | p90 | items without it |")
        print("|---|---|---|---|---|---|")
        for name, v in stats.items():
            q = torch.quantile(v, torch.tensor([0.1, 0.5, 0.9]))
            pct = "" if "/" in name else " %"
            scale = 1.0 if "/" in name else 100.0
            print(f"| {name} | {v.mean() * scale:.2f}{pct} | {q[0] * scale:.2f}{pct} | "
                  f"{q[1] * scale:.2f}{pct} | {q[2] * scale:.2f}{pct} | "
                  f"{(v == 0).float().mean() * 100:.1f} % |")


if __name__ == "__main__":
    main()
