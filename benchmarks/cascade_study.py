"""The cascaded-flare study: recipes, margins and the summary behind docs/study.md.

Everything is scored on a VALIDATION split, never the test split: ``synthetic-flare`` with
``split="train"`` and seed 7 (new flares -- their own PSF bank and item seeds -- on the training
photos; the test split's photos, PSF bank and seeds are not touched), 64 images of 64 px.

Steps (the commands, with the load they ran at, are in docs/recipes.md):

1. ``reference``: the cpu profile's reference stage alone (what the demo trains and what the
   paper table's reference cell trains: the same cut recipe, the same seed), saved as a bare
   state dict;
2. ``embed-recipe``: a recipe whose one stage trains arm (c)'s encoder, a ``conv-embedding``,
   with ``info-nce`` on the synthetic training data (clean crop vs its mirror image vs the
   flare-corrupted input), run with ``zoo run recipe``;
3. ``margins``: at the cascade's start (anchor = sampler = reference: ``n = f(x)``, ``a =
   f(n)``, ``p = gt``) the quantiles of the triplet's distances on the validation images for
   each embedding arm; each arm's margin is the lower quartile of ``d(p, n)`` (the rule of
   ``benchmarks/RESULTS-triplet-scale.md``: the hinge closes before ``a`` passes ``p`` for
   three triplets in four);
4. ``grid``: the paper table (:func:`zoo.compare.paper.run_paper_table`, what ``zoo compare
   --paper-table`` runs) over k x lambda x seeds with arm (a), its reference cell given the
   weights of step 1 (so every cell of the study starts from the one reference);
5. ``ablation-recipe``: at the best (k, lambda < 1) of the grid, the other embedding arms and
   the lambda = 1 control, each ``repeats = N``, contrasts against the control, run with
   ``zoo run recipe``.  Only the triplet's embedding changes between arms: L_PL keeps the
   recipe's encoder in every arm and in the control, so each arm minus the control is the
   triplet term's own effect (with the L_PL encoder swapped too, the contrast would mix both);
6. ``summary`` (grid) and ``ablation-summary``: the tables (means, 95 % CIs, paired
   differences, verdicts) and the plot.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import re
import statistics
import sys
from pathlib import Path

import tomli_w
import torch

import zoo
from zoo.checkpoint import model_from_checkpoint
from zoo.compare.paper import CASCADE0_ROW as CASCADE0
from zoo.compare.paper import REFERENCE_ROW as REFERENCE
from zoo.engine.recipe import load_recipe_source, resolve
from zoo.engine.run import run_recipe
from zoo.losses.triplet import embed
from zoo.stats import paired_t_interval, t_interval, verdict

VALIDATION = {"split": "train", "size": 64, "length": 64, "seed": 7, "psf_size": 128}
METRICS = ["psnr", "ssim", "s-psnr", "g-psnr", "s-psnr.masked", "g-psnr.masked"]
#: the embedding arms of the ablation: (a) generic random encoder, (b) the frozen reference's own
#: encoder features (the negative sampler), (c) a small encoder trained with info-nce
ARMS = {
    "generic": {"encoder": "vgg16.generic-small", "embedding": "gap"},
    "sampler": {"encoder": "model-features", "source": "negative-sampler", "embedding": "gap"},
    "infonce": {"encoder": "model-features", "source": "stage:embed"},
}
EMBED_STAGE = {
    "description": "arm (c): a small clean-vs-flare encoder, info-nce (clean crop vs its mirror "
                   "image vs flare-corrupted inputs of the batch)",
    "kind": "train", "model": "conv-embedding", "model_args": {"widths": [16, 32, 64], "dim": 64},
    "weights": "scratch", "optimizer": {"name": "adam", "args": {"lr": 0.001}},
    "schedule": {"steps": 400, "batch_size": 16, "log_every": 20},
    "forward": [{"op": "hflip", "inputs": ["gt"], "output": "view"},
                {"model": "self", "inputs": ["gt"], "output": "clean"},
                {"model": "self", "inputs": ["view"], "output": "other"},
                {"model": "self", "inputs": ["input"], "output": "flared"}],
    "loss": [{"name": "info-nce", "weight": 1.0, "inputs": ["clean", "other", "flared"],
              "args": {"temperature": 0.1}}],
    "checkpoint_every": 100}


def base_recipe(overrides: list[str]) -> dict:
    """cascaded-flare, cpu profile, one thread, tested on the validation split: a flat dict."""
    registry = zoo.get_registry()
    raw, name, source = load_recipe_source("cascaded-flare", registry)
    pairs = ["profile=cpu", "threads=1", "data.test.args=" + _toml_inline(VALIDATION),
             *overrides]
    return resolve(raw, pairs, name=name, source=source).to_dict()


def _toml_inline(d: dict) -> str:
    return "{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in d.items()) + "}"


def cmd_reference(a) -> None:
    """The reference stage alone (the paper table's reference cell: the same cut and seed)."""
    cfg = base_recipe(a.set)
    cfg["stages"] = {"reference": cfg["stages"]["reference"]}
    cfg["eval"] = {**cfg["eval"], "stages": ["reference"], "grid_images": 0, "contrasts": [],
                   "metrics": METRICS}
    res = run_recipe(cfg, registry=zoo.get_registry(), out_dir=a.out, progress=False)
    path = Path(a.out) / "reference_weights.pt"
    torch.save(res.stages["reference"].model.state_dict(), path)
    print(json.dumps({"weights": str(path), "run_dir": str(res.run_dir),
                      "validation": res.metrics}))


def cmd_grid(a) -> None:
    """The k x lambda x seeds grid of arm (a) as a paper table, from the reference of step 1."""
    from zoo.compare.paper import PaperSettings, run_paper_table

    pairs = ["profile=cpu", "threads=1", "data.test.args=" + _toml_inline(VALIDATION),
             f"stages.reference.weights={Path(a.reference).resolve()}", *a.set]
    ps = PaperSettings(overrides=pairs, seeds=list(range(a.seeds)),
                       ks=tuple(int(k) for k in a.ks.split(",")),
                       lambdas=tuple(float(v) for v in a.lambdas.split(",")),
                       name="cascade-study-grid")
    res = run_paper_table(ps, registry=zoo.get_registry(), out=a.out, jobs=a.jobs,
                          command="python benchmarks/cascade_study.py grid " +
                          " ".join(f"--set {x}" for x in a.set))
    print(json.dumps({k: str(v) for k, v in res.files.items()}))
    print(f"{len(res.summary.ran)} ran, {len(res.summary.failed)} failed, "
          f"{res.seconds:.0f} s")


def cmd_embed_recipe(a) -> None:
    cfg = base_recipe(a.set)
    cfg["name"] = "study-embed"
    cfg["stages"] = {"embed": EMBED_STAGE}
    cfg.pop("eval", None)
    Path(a.out).write_text(tomli_w.dumps(cfg))
    print(a.out)


def _sampler(cfg: dict, weights: str) -> torch.nn.Module:
    st = cfg["stages"]["reference"]
    net = zoo.create_model(st["model"], **st["model_args"])
    net.load_state_dict(torch.load(weights, weights_only=True))
    return net.eval().requires_grad_(False)


def cmd_margins(a) -> None:
    cfg = base_recipe(a.set)
    sampler = _sampler(cfg, a.reference)
    embedder = None
    if a.embed:
        embedder = model_from_checkpoint(a.embed, zoo.get_registry()).eval().requires_grad_(False)
    data = zoo.create_dataset("synthetic-flare", **VALIDATION)
    batch = torch.utils.data.default_collate([data[i] for i in range(len(data))])
    torch.set_num_threads(1)
    with torch.no_grad():
        n = sampler(batch["input"]).clamp(0, 1)
        anchor = sampler(n).clamp(0, 1)
    out = {}
    for arm, args in ARMS.items():
        if arm == "infonce" and embedder is None:
            continue
        model = embedder if arm == "infonce" else sampler
        enc_args = {k: v for k, v in args.items() if k not in ("source", "embedding")}
        if args["encoder"] == "model-features":
            enc = zoo.create_encoder("model-features", model=model)
        else:
            enc = zoo.create_encoder(enc_args["encoder"])
        how = args.get("embedding", "flatten")
        with torch.no_grad():
            ea, ep, en = (embed(enc(t), how) for t in (anchor, batch["gt"], n))
        d = {"d(p,n)": ((ep - en) ** 2).mean(1), "d(a,n)": ((ea - en) ** 2).mean(1),
             "d(a,p)": ((ea - ep) ** 2).mean(1)}
        row = {k: {q: float(torch.quantile(v, q / 100)) for q in (25, 50, 75)}
               for k, v in d.items()}
        row["D"] = int(ea.shape[1])
        row["margin (p25 of d(p,n), 2 significant digits)"] = float(
            f"{row['d(p,n)'][25]:.2g}")
        out[arm] = row
    text = json.dumps(out, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text)


def cmd_ablation_recipe(a) -> None:
    cfg = base_recipe(a.set)
    margins = json.loads(Path(a.margins).read_text())
    ref = copy.deepcopy(cfg["stages"]["reference"])
    ref.update(weights=str(Path(a.reference).resolve()), skip_with_weights=True)
    embed_stage = copy.deepcopy(EMBED_STAGE)
    embed_stage.update(weights=str(Path(a.embed).resolve()), skip_with_weights=True)
    ft = cfg["stages"]["finetune"]
    stages = {"reference": ref}
    if "infonce" in a.arms.split(","):
        stages["embed"] = embed_stage
    arms = a.arms.split(",")
    for arm in arms:
        st = copy.deepcopy(ft)
        st["description"] = f"cascade, k = {a.k}, lambda = {a.lam}, triplet embedding: {arm}"
        st["cascade"].update(k=a.k, **{"lambda": a.lam},
                             margin=margins[arm]["margin (p25 of d(p,n), 2 significant digits)"],
                             triplet=ARMS[arm])
        st["repeats"] = a.repeats
        stages[f"ft-{arm}"] = st
    ctl = copy.deepcopy(ft)
    ctl["description"] = f"control: k = {a.k}, lambda = 1 (no triplet term)"
    ctl["cascade"].update(k=a.k, **{"lambda": 1.0})
    ctl["repeats"] = a.repeats
    stages["control"] = ctl
    cfg.update(name="study-ablation", stages=stages)
    cfg["eval"] = {**cfg["eval"], "metrics": METRICS, "grid_images": 0,
                   "stages": ["reference", *[f"ft-{arm}" for arm in arms], "control"],
                   "contrasts": [[f"ft-{arm}", "control"] for arm in arms]}
    Path(a.out).write_text(tomli_w.dumps(cfg))
    print(a.out)


# ------------------------------------------------------------------------------------ summary
def _ci(values: list[float]) -> str:
    iv = t_interval(values)
    half = iv.half_width if iv.defined else 0.0
    return f"{iv.mean:.3f} ± {half:.3f}"


def cmd_summary(a) -> None:
    """Mean ± 95 % CI per row of one or several grids (``--grid`` repeated or a comma list: the
    cells of grids run with the same setting, e.g. a later run of the missing lambdas), and each
    lambda < 1 row minus its k's lambda = 1 control, paired by seed."""
    rows = _grid_cells(a.grid)
    lines = ["| setting | " + " | ".join(METRICS) + " | n |",
             "|---|" + "---:|" * (len(METRICS) + 1)]
    for label, seeds in rows.items():
        vals = [_ci([s[m] for s in seeds.values()]) for m in METRICS]
        lines.append(f"| {label} | " + " | ".join(vals) + f" | {len(seeds)} |")
    for base in (REFERENCE, CASCADE0):
        fixed = rows.get(base)
        if not fixed:
            continue
        start = next(iter(fixed.values()))  # one reference (and its f∘f) for every seed
        lines += ["", f"Each row minus {base} (one {base} for every seed: the interval covers "
                  f"the fine-tuning seeds, not the reference's training):", "",
                  "| setting | " + " | ".join(f"Δ {m}" for m in METRICS) + " |",
                  "|---|" + "---|" * len(METRICS)]
        for label, seeds in rows.items():
            if label in (REFERENCE, base):
                continue
            cells = [_paired([s[m] for s in seeds.values()], [start[m]] * len(seeds))
                     if len(seeds) > 1 else f"{next(iter(seeds.values()))[m] - start[m]:+.3f}"
                     for m in METRICS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Paired by seed, each row minus its k's lambda = 1 control:", "",
              "| setting | " + " | ".join(f"Δ {m}" for m in METRICS) + " |",
              "|---|" + "---|" * len(METRICS)]
    for label, seeds in rows.items():
        if not label.startswith("k=") or label.endswith("λ=1.0"):
            continue
        control = rows.get(label.split(",")[0] + ", λ=1.0", {})
        common = sorted(set(seeds) & set(control))
        cells = []
        for m in METRICS:
            cells.append(_paired([seeds[s][m] for s in common], [control[s][m] for s in common]))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    if a.plot:
        plot(rows, Path(a.plot), _grid_cells(a.matched) if a.matched else {})


def _paired(new: list[float], base: list[float]) -> str:
    """One contrast cell: the mean paired difference, its 95 % t-interval and the verdict."""
    iv = paired_t_interval(new, base)
    return f"{iv.mean:+.3f} [{iv.low:+.3f}, {iv.high:+.3f}] {verdict(iv)}"


def _cells(grid: str) -> dict[str, dict[int, dict[str, float]]]:
    """``{row label: {seed: {metric: value}}}`` of a paper table's ``cells.csv``, with the
    untrained cascade f∘f (row :data:`CASCADE0`) from the reference cell's record."""
    rows: dict[str, dict[int, dict[str, float]]] = {}
    with open(Path(grid) / "cells.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["status"] == "ok":
                rows.setdefault(r["loss"], {})[int(r["seed"])] = {
                    m: float(r[m]) for m in METRICS if r.get(m)}
    record = Path(grid) / "cells" / "reference.json"
    if record.is_file():
        ref = json.loads(record.read_text())
        if ref.get("status") == "ok" and ref.get("cascade_at_0"):
            rows[CASCADE0] = {int(ref["cell"]["seed"]): {
                m: float(v) for m, v in ref["cascade_at_0"].items() if m in METRICS}}
    return rows


def _row_order(label: str) -> tuple[int, float]:
    """Rows in table order: the reference, the untrained cascade, then by k, lambda from 1
    down to 0."""
    found = re.fullmatch(r"k=(\d+), λ=([0-9.]+)", label)
    return (int(found[1]), -float(found[2])) if found else (0, 1.0 if label == CASCADE0 else 0.0)


def _grid_cells(grids: list[str]) -> dict[str, dict[int, dict[str, float]]]:
    """The cells of several grid folders (each ``--grid`` may be a comma list) as one table.

    A (row, seed) found in two grids must agree: the reference cell, handed the same weights,
    is in every grid; any other repeat would mean the grids were run with different settings.
    """
    merged: dict[str, dict[int, dict[str, float]]] = {}
    for grid in (g for item in grids for g in item.split(",") if g):
        for label, seeds in _cells(grid).items():
            for seed, values in seeds.items():
                seen = merged.setdefault(label, {}).get(seed)
                if seen is not None and any(abs(seen[m] - values[m]) > 1e-3
                                            for m in seen.keys() & values.keys()):
                    print(f"{grid}/cells.csv: {label!r} seed {seed} differs from the same "
                          f"cell of an earlier --grid (other settings?)", file=sys.stderr)
                    raise SystemExit(2)
                merged[label].setdefault(seed, values)
    return dict(sorted(merged.items(), key=lambda item: _row_order(item[0])))


def cmd_matched(a) -> None:
    """The triplet term's own contribution: each lambda < 1 row of the grid minus the
    weight-matched control (lambda = 1 with the SGD lr times lambda and delta divided by lambda:
    with plain SGD the same steps on lambda L_REG + delta L_PL, without the triplet), paired by
    seed (the same data order)."""
    grid, matched = _grid_cells(a.grid), _cells(a.matched)
    lines = ["| setting | " + " | ".join(f"Δ {m}" for m in METRICS) + " |",
             "|---|" + "---|" * len(METRICS)]
    for label in a.rows.split(";"):
        k = label.split(",")[0]
        mine, ctl = grid[label], matched[f"{k}, λ=1.0"]
        common = sorted(set(mine) & set(ctl))
        cells = []
        for m in METRICS:
            cells.append(_paired([mine[s][m] for s in common], [ctl[s][m] for s in common]))
        lines.append(f"| {label} minus matched | " + " | ".join(cells) + " |")
    lines += ["", "| matched control | " + " | ".join(METRICS) + " | n |",
              "|---|" + "---:|" * (len(METRICS) + 1)]
    for label, seeds in matched.items():
        if label.startswith("k="):
            lines.append(f"| {label} (lr × λ, δ / λ) | " + " | ".join(
                _ci([s[m] for s in seeds.values()]) for m in METRICS) + f" | {len(seeds)} |")
    print("\n".join(lines))


def cmd_ablation_summary(a) -> None:
    """Mean ± 95 % CI over repeats per stage, and each arm minus the control paired by repeat."""
    metrics = json.loads((Path(a.run) / "metrics.json").read_text())
    groups: dict[str, list[str]] = {}
    for row in metrics:
        groups.setdefault(row.split("/s")[0], []).append(row)
    shown = [m for m in METRICS if m in next(iter(metrics.values()))]
    lines = ["| stage | " + " | ".join(shown) + " | n |", "|---|" + "---:|" * (len(shown) + 1)]
    for g, rows in groups.items():
        lines.append(f"| {g} | " + " | ".join(_ci([metrics[r][m] for r in rows]) for m in shown)
                     + f" | {len(rows)} |")
    lines += ["", "Paired by repeat, each arm minus the control:", "",
              "| arm | " + " | ".join(f"Δ {m}" for m in shown) + " |",
              "|---|" + "---|" * len(shown)]
    for g, rows in groups.items():
        if not g.startswith("ft-"):
            continue
        ctl = groups["control"]
        cells = []
        for m in shown:
            cells.append(_paired([metrics[r][m] for r in rows], [metrics[r][m] for r in ctl]))
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    print("\n".join(lines))


def plot(rows: dict, path: Path, matched: dict | None = None) -> None:
    """The lambda sweep per k (mean ± 95 % CI over seeds) and, at lambda = 0.6, the
    weight-matched control of ``matched`` (the same steps without the triplet) when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # the masked readings differ from s-/g-psnr by a per-image constant (the region's area), so
    # their differences between settings are the same: not drawn twice
    shown = ["psnr", "s-psnr", "g-psnr"]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.4 * len(shown), 3.2), squeeze=False)
    ref, start = rows.get(REFERENCE), rows.get(CASCADE0)
    for ax, m in zip(axes[0], shown):
        for k in (1, 2):
            xs, ys, es = [], [], []
            for lam in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
                seeds = rows.get(f"k={k}, λ={lam:.1f}")
                if not seeds:
                    continue
                iv = t_interval([s[m] for s in seeds.values()])
                xs.append(lam + (k - 1.5) * 0.015)
                ys.append(iv.mean)
                es.append(iv.half_width if iv.defined else 0.0)
            line = ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=f"k = {k}")
            same = (matched or {}).get(f"k={k}, λ=1.0")
            if same:
                ax.plot([0.6 + (k - 1.5) * 0.015], [statistics.fmean(s[m] for s in same.values())],
                        marker="x", ms=9, ls="", color=line[0].get_color(),
                        label=f"k = {k}: λ = 1, lr × 0.6 (no triplet)")
        if ref:
            ax.axhline(statistics.fmean(s[m] for s in ref.values()), color="0.4", ls="--",
                       label="reference f(x)")
        if start:
            ax.axhline(statistics.fmean(s[m] for s in start.values()), color="0.4", ls=":",
                       label="cascade@0, f(f(x)) (untrained)")
        ax.set_xlabel("λ")
        ax.set_title(f"{m} (dB), validation", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("cascaded-flare cpu: mean ± 95 % CI over 3 seeds (validation split)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("reference", "grid", "embed-recipe", "margins", "ablation-recipe", "summary",
                 "ablation-summary", "matched"):
        p = sub.add_parser(name)
        p.add_argument("--set", action="append", default=[], help="extra recipe overrides")
        p.add_argument("--out", default="")
        if name == "grid":
            p.add_argument("--reference", required=True)
            p.add_argument("--ks", default="1,2")
            p.add_argument("--lambdas", default="1.0,0.6,0.2")
            p.add_argument("--seeds", type=int, default=3)
            p.add_argument("--jobs", type=int, default=1)
        if name == "matched":
            p.add_argument("--grid", action="append", required=True,
                           help="a grid folder; repeat it (or give a comma list) to combine grids")
            p.add_argument("--matched", required=True)
            p.add_argument("--rows", default="k=1, λ=0.6;k=2, λ=0.6")
        if name == "ablation-summary":
            p.add_argument("--run", required=True)
        if name in ("margins", "ablation-recipe"):
            p.add_argument("--reference", required=True)
            p.add_argument("--embed", default="")
        if name == "ablation-recipe":
            p.add_argument("--margins", required=True)
            p.add_argument("--k", type=int, required=True)
            p.add_argument("--lam", type=float, required=True)
            p.add_argument("--repeats", type=int, default=3)
            p.add_argument("--arms", default="sampler,infonce")
        if name == "summary":
            p.add_argument("--grid", action="append", required=True,
                           help="a grid folder; repeat it (or give a comma list) to combine grids")
            p.add_argument("--plot", default="")
            p.add_argument("--matched", action="append", default=[])
    a = ap.parse_args()
    torch.set_num_threads(1)
    {"reference": cmd_reference, "grid": cmd_grid, "embed-recipe": cmd_embed_recipe,
     "margins": cmd_margins, "ablation-recipe": cmd_ablation_recipe, "summary": cmd_summary,
     "ablation-summary": cmd_ablation_summary, "matched": cmd_matched}[a.cmd](a)


if __name__ == "__main__":
    main()
