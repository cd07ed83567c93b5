"""Train candidate reference models of the demo (`cascaded-flare`, `cpu` profile) and score them
on a VALIDATION split, never the test split.

Each run is the recipe's ``reference`` stage alone, through the engine (``run_recipe`` on the
resolved recipe with the other stages dropped), with ``--set``-style overrides.  The validation
set is ``synthetic-flare`` with ``split="train"`` and another seed (``--val-seed``, default 7):
new flares (its own PSF bank and item seeds) on the training photos; the test split's photos,
PSF bank and seeds are not touched.  Periodic validation (``eval.every``) gives the PSNR curve.

The validation flares are the recipe's default distribution whatever a candidate trains on:
a candidate's ``energy`` range (e.g. faint flares mixed into training) is not copied to them.

Prints one JSON line per run (validation PSNR/SSIM/S-PSNR/G-PSNR of the input, of the model
f(x) and of the untrained cascade f(f(x)) -- the model applied to its own output, what a
cascade starts from --, the f∘f − f gap, the gain over the last 20 % of the steps (the
convergence criterion: < 0.1 dB), seconds, steps per second, load average before/after) and
writes a contact sheet (input / output / ground truth / |output - gt| x 4, magnified) beside
the JSON in ``--out``.  Periodic validation runs isolated from training (its own RNG stream;
:func:`zoo.engine.evaluation.isolated_from_training`), so it does not change the weights.

    python benchmarks/demo_reference.py --name base --out /tmp/demo-ref
    python benchmarks/demo_reference.py --name u16x2 --out /tmp/demo-ref \\
        --set 'stages.reference.model_args={embed_dim=16, win_size=4, depths=[2,2,2,2,2,2,2,2,2]}'
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from zoo.engine.evaluation import evaluate_model
from zoo.engine.forward import ForwardStep
from zoo.engine.recipe import load_recipe_source, resolve
from zoo.engine.run import run_recipe
from zoo.registry import get_registry

VAL_METRICS = ["psnr", "ssim", "s-psnr", "g-psnr"]
#: the model applied to its own output: the untrained cascade f(f(x))
TWICE = (ForwardStep("self", ("input",), "once"), ForwardStep("self", ("once",), "twice"))


def late_gain(curve: list[tuple[int, float]], steps: int, fraction: float = 0.2) -> float | None:
    """Validation PSNR gained over the last ``fraction`` of the steps: the last value minus the
    value at the latest evaluation at or before ``(1 - fraction) * steps``."""
    start = [v for s, v in curve if s <= (1 - fraction) * steps]
    return round(curve[-1][1] - start[-1], 3) if start and curve else None


def contact_sheet(path: Path, images: dict, output: str, n: int, zoom: int = 2) -> None:
    from PIL import Image

    rows = []
    for i in range(min(n, len(images["input"]))):
        out = images[output][i]
        diff = ((out - images["gt"][i]).abs() * 4).clamp(0, 1)
        rows.append(torch.cat([images["input"][i], out, images["gt"][i], diff], dim=2))
    sheet = torch.cat(rows, dim=1).clamp(0, 1)
    arr = (sheet.permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8")
    img = Image.fromarray(arr)
    img = img.resize((img.width * zoom, img.height * zoom), Image.NEAREST)
    img.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", default="/tmp/demo-ref")
    ap.add_argument("--set", dest="sets", action="append", default=[],
                    help="a recipe override KEY=VALUE (repeatable)")
    ap.add_argument("--val-seed", type=int, default=7)
    ap.add_argument("--val-length", type=int, default=32)
    ap.add_argument("--every", type=int, default=100, help="periodic validation every N steps")
    ap.add_argument("--every-images", type=int, default=0,
                    help="images of each periodic validation (0: all, as the final one)")
    ap.add_argument("--sheet", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    registry = get_registry()
    raw, name, source = load_recipe_source("cascaded-flare", registry)
    cfg = resolve(raw, args.sets, name=name, source=source).to_dict()
    cfg["stages"] = {"reference": cfg["stages"]["reference"]}
    train_args = dict(cfg["data"]["train"]["args"])
    val_args = {**train_args, "split": "train", "seed": args.val_seed, "length": args.val_length}
    for key in ("erasing", "energy"):  # the validation flares stay the default distribution
        val_args.pop(key, None)
    cfg["data"]["test"] = {"name": cfg["data"]["train"]["name"], "args": val_args}
    st = cfg["stages"]["reference"]
    st["eval"] = {**st.get("eval", {}), "metrics": ["psnr"], "every": args.every,
                   "max_images": args.every_images}
    cfg["eval"] = {**cfg.get("eval", {}), "metrics": VAL_METRICS, "stages": ["reference"],
                   "contrasts": [],
                   "grid_images": args.sheet}
    cfg["threads"] = args.threads
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    res = run_recipe(cfg, registry=registry, out_dir=out / "runs", progress=False,
                     log=lambda m: None)
    seconds = time.perf_counter() - t0
    load1 = os.getloadavg()
    ref, inp = res.metrics["reference"], res.metrics["input"]
    stage = res.stages["reference"]
    val = registry.create("datasets", cfg["data"]["test"]["name"], **val_args)
    twice = evaluate_model({"self": stage.model}, TWICE, val, VAL_METRICS, registry=registry,
                           output="twice", batch_size=4).means
    curve = [(e["step"], round(e["psnr"], 3)) for e in stage.evals]
    if not curve or curve[-1][0] < stage.steps:
        curve.append((stage.steps, round(ref["psnr"], 3)))  # the final evaluation
    row = {
        "name": args.name, "sets": args.sets,
        "model": st["model"], "model_args": st.get("model_args", {}),
        "size": train_args.get("size"), "steps": stage.steps,
        "batch": st["schedule"].get("batch_size"),
        "input": {k: round(v, 3) for k, v in inp.items()},
        "val": {k: round(v, 3) for k, v in ref.items()},
        "twice": {k: round(v, 3) for k, v in twice.items()},
        "twice_minus_once": {k: round(twice[k] - ref[k], 3) for k in twice},
        "gain_psnr": round(ref["psnr"] - inp["psnr"], 2),
        "curve": curve,
        "late_gain_psnr": late_gain(curve, stage.steps),
        "train_seconds": round(stage.seconds, 1), "total_seconds": round(seconds, 1),
        "s_per_step": round(stage.seconds / max(stage.steps, 1), 4),
        "params": sum(p.numel() for p in stage.model.parameters()),
        "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in load1],
        "threads": args.threads, "run_dir": str(res.run_dir),
    }
    contact_sheet(out / f"{args.name}.png", res.evaluations["reference"].images,
                  next(k for k in res.evaluations["reference"].images
                       if k not in ("input", "gt", "mask")), args.sheet)
    line = json.dumps(row)
    print(line, flush=True)
    with open(out / "results.jsonl", "a") as fh:
        fh.write(line + "\n")


if __name__ == "__main__":
    main()
