"""The run report: ``report.md`` plus PNGs in the run folder.

Sections: what ran (recipe, profile, seed, device, timing per stage), the loss encoders in use
(their ``pretrained_source``: pretrained weights or the generic random encoder), the final
evaluation table (one row per evaluated stage plus the unrestored input, mean over the held-out
test images), an image grid (input / each stage / ground truth / mask), loss curves per term and
the resolved configuration.  Written from a :class:`zoo.engine.run.RunResult` (which carries its
:class:`~zoo.engine.spec.Recipe`) by :func:`write_report`; matplotlib runs headless (Agg).
"""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

from zoo.engine.evaluation import EvalResult  # noqa: E402
from zoo.engine.run import RunResult  # noqa: E402
from zoo.atomic import atomic_write, atomic_write_text  # noqa: E402
from zoo.engine.run_folder import RunFolder, recipe_toml  # noqa: E402
from zoo.errors import ZooError  # noqa: E402
from zoo.registry import Registry  # noqa: E402

ROW_NOTES = {"input": "the degraded input itself (no restoration)"}


def _fmt(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def _directions(metrics, registry: Registry) -> dict[str, str]:
    out = {}
    for m in metrics:
        try:
            d = registry.get("metrics", m).direction
        except ZooError:
            d = None
        out[m] = " ↑" if d == "higher" else " ↓" if d == "lower" else ""
    return out


def metrics_table(metrics: Mapping[str, Mapping[str, float]], registry: Registry) -> str:
    """A markdown table: one row per evaluated model, one column per metric."""
    if not metrics:
        return "_no evaluation_\n"
    cols = list(next(iter(metrics.values())))
    arrows = _directions(cols, registry)
    lines = ["| model | " + " | ".join(f"{c}{arrows[c]}" for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for row, vals in metrics.items():
        lines.append(f"| {row} | " + " | ".join(_fmt(vals.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _plot_losses(path: Path, stage: str, history: list[dict]) -> bool:
    if not history:
        return False
    keys = [k for k in history[0] if k not in ("step", "lr")]
    steps = [r["step"] for r in history]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8), squeeze=False)
    win = max(1, len(history) // 50)
    for ax, k in zip(axes[0], keys):
        ys = [r.get(k, float("nan")) for r in history]
        ax.plot(steps, ys, alpha=0.3 if win > 1 else 1.0, lw=0.8)
        if win > 1:
            sm = [sum(ys[max(0, i - win + 1):i + 1]) / len(ys[max(0, i - win + 1):i + 1])
                  for i in range(len(ys))]
            ax.plot(steps, sm, lw=1.4)
        ax.set_title(k, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        if all(y > 0 for y in ys if y == y):
            ax.set_yscale("log")
    fig.suptitle(f"stage {stage}: total (weighted) and each term (unweighted)", fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=90))
    plt.close(fig)
    return True


def _grid(path: Path, evaluations: Mapping[str, EvalResult], n: int) -> bool:
    """Rows: test images; columns: input, each evaluated stage, ground truth, mask."""
    if not evaluations:
        return False
    first = next(iter(evaluations.values()))
    if "input" not in first.images or "gt" not in first.images:
        return False
    n = min(n, len(first.images["input"]))
    if n == 0:
        return False
    cols = [("input", first.images["input"])]
    for row, res in evaluations.items():
        if row == "input":
            continue
        out = [v for k, v in res.images.items() if k not in ("input", "gt", "mask")]
        if out:
            cols.append((row, out[-1]))
    cols.append(("ground truth", first.images["gt"]))
    if "mask" in first.images:
        cols.append(("mask", first.images["mask"]))
    fig, axes = plt.subplots(n, len(cols), figsize=(1.9 * len(cols), 1.9 * n), squeeze=False)
    for r in range(n):
        for c, (title, imgs) in enumerate(cols):
            ax = axes[r][c]
            img = imgs[r].clamp(0, 1)
            img = img.repeat(3, 1, 1) if img.shape[0] == 1 else img[:3]
            ax.imshow(img.permute(1, 2, 0).numpy())
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return True


def write_report(result: RunResult, *, registry: Registry) -> Path:
    """Write ``report.md`` and its PNGs into the run folder of ``result``; returns its path."""
    if result.run_dir is None:
        raise ValueError("a dry run has no run folder to report on")
    run_dir, recipe = Path(result.run_dir), result.recipe
    lines = [f"# Run report: {recipe.name}", ""]
    if recipe.description:
        lines += [recipe.description, ""]
    if recipe.citation:
        lines += [f"Method: {recipe.citation}", ""]
    lines += [f"- run folder: `{run_dir}`",
              f"- written: {_dt.datetime.now().isoformat(timespec='seconds')}",
              f"- profile: `{recipe.profile or '-'}`, seed {recipe.seed}, device {recipe.device}",
              f"- reproduce: `zoo run recipe {recipe.name} --set profile="
              f"{recipe.profile or '...'}` (plus the `--set` overrides recorded in "
              f"`config.toml`), or resume with `--resume {run_dir}`", ""]

    lines += ["## Timing", "", "| stage | kind | model | steps | seconds |", "|---|---|---|---|---|"]
    total = 0.0
    for name, res in result.stages.items():
        stage = recipe.stages[name]
        note = " (done in an earlier session)" if res.skipped else ""
        lines.append(f"| {name} | {stage.kind} | {stage.model} | {res.steps} | "
                     f"{res.seconds:.1f}{note} |")
        total += res.seconds
    lines += [f"| final evaluation | | | | {result.eval_seconds:.1f} |", "",
              f"Training + evaluation: {total + result.eval_seconds:.1f} s; wall time of this "
              f"session (incl. model building and IO): {result.seconds:.1f} s.", ""]

    lines += ["## Loss encoders", ""]
    any_enc = False
    for name, res in result.stages.items():
        for e in res.encoders:
            lines.append(f"- {name}: {e}")
            any_enc = True
    if not any_enc:
        lines.append("- none (pixel losses only)")
    lines.append("")

    if result.metrics and recipe.eval is not None:
        first = next(iter(result.evaluations.values()), None)
        n = len(next(iter(first.per_image.values()), [])) if first is not None else 0
        test = recipe.data.test
        args = ", ".join(f"{k}={v}" for k, v in (test.args if test else {}).items())
        lines += ["## Results on the held-out test set", "",
                  f"Mean over {n} test images of `{test.name if test else None}` ({args}).  "
                  "Region metrics (names starting with `s-`/`g-`, or as documented in "
                  "`zoo info <metric>`) average only the images where the region exists.", "",
                  metrics_table(result.metrics, registry)]
        for row in result.metrics:
            desc = ROW_NOTES.get(row) or (recipe.stages[row].description
                                          if row in recipe.stages else "")
            if desc:
                lines.append(f"- **{row}**: {desc}")
        lines.append("")
        if _grid(run_dir / "grid.png", result.evaluations, recipe.eval.grid_images):
            lines += ["## Examples", "", "![test images](grid.png)", ""]

    curves = []
    for name, res in result.stages.items():
        png = run_dir / f"loss_{name}.png"
        if _plot_losses(png, name, res.history):
            curves.append(f"![loss curves of {name}]({png.name})")
    if curves:
        lines += ["## Loss curves", ""] + [c + "\n" for c in curves]

    lines += ["## Resolved configuration", "", "```toml", recipe_toml(recipe).strip(), "```", ""]
    path = atomic_write_text("\n".join(lines), run_dir / "report.md")
    RunFolder(run_dir).log(f"report: {path}")
    return path
