"""The report's pictures (matplotlib, headless Agg backend, PNG written atomically).

* :func:`image_grid` -- per test image two rows: the images (input, each evaluated model,
  ground truth, the colour-code mask) and under each output its absolute error against the
  ground truth on one shared colour scale, so a reader sees *where* the models differ; a legend
  names the mask's colours (and the light-source convention of the test set).
* :func:`loss_figure` -- a stage's loss: the weighted total and each term (unweighted), raw per
  step (faint) and smoothed, with a legend; then each term's **weighted share** of the total
  (``weight * value / total``, smoothed), the panel that shows which term drives the gradient.
* :func:`validation_figure` -- the periodic validation metrics of every stage over training
  steps (a stage starting from another's weights continues its step count), the unrestored
  input's final score as a dashed line.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, MaxNLocator, NullFormatter  # noqa: E402

from zoo.atomic import atomic_write  # noqa: E402
from zoo.engine.evaluation import EvalResult  # noqa: E402

#: Outputs of an evaluation that are not the scored prediction.
_NOT_OUTPUT = ("input", "gt", "mask")
RAW_ALPHA = 0.3


def _save(fig, path: Path, dpi: int = 100) -> None:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi))
    plt.close(fig)


def _rgb(img: torch.Tensor) -> np.ndarray:
    img = img.clamp(0, 1)
    img = img.repeat(3, 1, 1) if img.shape[0] == 1 else img[:3]
    return img.permute(1, 2, 0).numpy()


def _output(res: EvalResult) -> torch.Tensor | None:
    outs = [v for k, v in res.images.items() if k not in _NOT_OUTPUT]
    return outs[-1] if outs else None


def short_names(names: Sequence[str]) -> list[str]:
    """Image names without the prefix they all share (``synthetic-flare-test-000001-x`` ->
    ``000001-x``), cut at 26 characters."""
    names = [str(n) for n in names]
    if len(names) > 1:
        cut = len(os.path.commonprefix(names))
        cut = names[0].rfind("-", 0, cut) + 1 if "-" in names[0][:cut] else cut
        names = [n[cut:] or n for n in names]
    return [n if len(n) <= 26 else "…" + n[-25:] for n in names]


def image_grid(path: Path, evaluations: Mapping[str, EvalResult],
               columns: Mapping[str, str], n: int, *,
               mask_colours: Mapping[str, tuple[float, float, float]] | None = None,
               mask_notes: Mapping[str, str] | None = None) -> bool:
    """Write the grid of the first ``n`` test images; ``columns`` maps a column title to the
    evaluation row shown there (the first is the reference the others are compared with).

    Per image, a row of images (input, each column's output, ground truth, mask) and under it
    the absolute errors ``|output - gt|`` (mean over RGB, one scale for the figure); the free
    places under ground truth and mask show, for the second and third column, the change of
    error against the first (``|e_k| - |e_1|``: blue where it is better, red where worse).
    ``mask_colours`` (region -> RGB) makes the legend of the mask column, ``mask_notes`` adds
    to a region's entry (e.g. the light-source convention).  False when there is nothing to
    show."""
    if not evaluations:
        return False
    first = next(iter(evaluations.values()))
    if "input" not in first.images or "gt" not in first.images:
        return False
    gt = first.images["gt"]
    n = min(n, len(gt))
    if n == 0:
        return False
    shown: list[tuple[str, torch.Tensor]] = [("input", first.images["input"])]
    for title, row in columns.items():
        out = _output(evaluations[row]) if row in evaluations else None
        if out is not None and row != "input":
            shown.append((title, out))
    has_mask = "mask" in first.images
    ncols = len(shown) + 1 + has_mask
    errors = [(imgs[:n].float() - gt[:n].float()).abs().mean(dim=1) for _, imgs in shown]
    vmax = float(torch.quantile(torch.cat([e.reshape(-1) for e in errors]), 0.99)) or 1.0
    # error changes against the first model, in the places left free under gt and mask
    changes = [(f"{shown[k][0]} − {shown[1][0]}", errors[k] - errors[1])
               for k in range(2, len(shown))][:1 + has_mask]
    dmax = max((float(torch.quantile(d.abs().reshape(-1), 0.99)) for _, d in changes),
               default=0.0) or 1.0
    # fixed margins (inches) instead of tight_layout, which doubles the drawing time
    size, left, right, top, bottom = 1.55, 0.3, 1.45, 0.5, 0.6 if has_mask else 0.15
    width, height = left + size * ncols + right, top + size * 2 * n + bottom
    fig, axes = plt.subplots(2 * n, ncols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height,
                        bottom=bottom / height, wspace=0.06, hspace=0.14)
    heat = change = None
    labels = short_names(first.names[:n]) if len(first.names) >= n else \
        [f"image {r + 1}" for r in range(n)]
    for r in range(n):
        top, bottom = axes[2 * r], axes[2 * r + 1]
        for c, (title, imgs) in enumerate(shown):
            top[c].imshow(_rgb(imgs[r]), interpolation="nearest")
            heat = bottom[c].imshow(errors[c][r].numpy(), cmap="inferno", vmin=0, vmax=vmax,
                                    interpolation="nearest")
            if r == 0:
                top[c].set_title(title, fontsize=9)
        top[len(shown)].imshow(_rgb(gt[r]), interpolation="nearest")
        if r == 0:
            top[len(shown)].set_title("ground truth", fontsize=9)
        if has_mask:
            top[-1].imshow(_rgb(first.images["mask"][r]), interpolation="nearest")
            if r == 0:
                top[-1].set_title("mask", fontsize=9)
        for k, (title, d) in enumerate(changes):
            ax = bottom[len(shown) + k]
            change = ax.imshow(d[r].numpy(), cmap="RdBu_r", vmin=-dmax, vmax=dmax,
                               interpolation="nearest")
            if r == 0:
                ax.text(0.03, 0.97, f"error change\n{title}", transform=ax.transAxes,
                        va="top", ha="left", fontsize=6.5,
                        bbox={"facecolor": "white", "alpha": 0.8, "pad": 1.5, "lw": 0})
        top[0].set_ylabel(labels[r], fontsize=7)
        bottom[0].set_ylabel("|error|", fontsize=8)
        for ax in (*top, *bottom):
            ax.set_xticks([]), ax.set_yticks([])
        for ax in bottom[len(shown) + len(changes):]:
            ax.set_axis_off()
    handles = []
    if has_mask and mask_colours:
        notes = mask_notes or {}
        handles = [Patch(facecolor=rgb, edgecolor="0.4",
                         label=region + (f" ({notes[region]})" if region in notes else ""))
                   for region, rgb in mask_colours.items()]
    x = 1 - (right - 0.12) / width
    if heat is not None:
        bar = fig.colorbar(heat, cax=fig.add_axes((x, 0.55, 0.1 / width, 0.35)))
        bar.set_label("|output − ground truth|\n(mean over RGB)", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    if change is not None:
        bar = fig.colorbar(change, cax=fig.add_axes((x, 0.12, 0.1 / width, 0.35)))
        bar.set_label("error change vs the first model\n(blue: lower error, red: higher)",
                      fontsize=7)
        bar.ax.tick_params(labelsize=7)
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8,
                   title="mask colours", title_fontsize=8, frameon=False)
    _save(fig, path)
    return True


def _smooth(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """Trailing moving mean over ``window`` steps (NaN-aware)."""
    arr = np.asarray(values, dtype=np.float64)
    if window <= 1:
        return arr
    out = np.empty_like(arr)
    for i in range(len(arr)):
        chunk = arr[max(0, i - window + 1):i + 1]
        chunk = chunk[np.isfinite(chunk)]
        out[i] = chunk.mean() if chunk.size else np.nan
    return out


def smoothing_window(steps: int) -> int:
    """The moving-mean window of a curve of ``steps`` points: about a twentieth of them."""
    return max(1, round(steps / 20)) if steps >= 30 else 1


def _curve(ax, steps: Sequence[int], ys: Sequence[float], window: int, colour: str,
           label: str | None = None) -> None:
    if window > 1:
        ax.plot(steps, ys, color=colour, alpha=RAW_ALPHA, lw=0.7,
                label="each step" if label is None else None)
        ax.plot(steps, _smooth(ys, window), color=colour, lw=1.5,
                label=f"mean of {window} steps" if label is None else label)
    else:
        ax.plot(steps, ys, color=colour, lw=1.2, marker="." if len(ys) <= 30 else None,
                label="each step" if label is None else label)
    finite = [y for y in ys if math.isfinite(y)]
    if finite and min(finite) > 0 and max(finite) / min(finite) > 30:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.25)


def term_shares(history: Sequence[Mapping[str, float]],
                weights: Mapping[str, float]) -> dict[str, np.ndarray] | None:
    """Per step, each term's weighted share of the total, ``weight * value / sum``; None when
    the logged terms and ``weights`` do not add up to the logged total (then the weights are
    not those of the run and no share is drawn)."""
    labels = [k for k in weights if weights[k] > 0 and all(k in row for row in history)]
    if not labels or not history:
        return None
    contrib = {k: np.array([weights[k] * row[k] for row in history]) for k in labels}
    total = np.sum(list(contrib.values()), axis=0)
    logged = np.array([row["total"] for row in history])
    if not np.allclose(total, logged, rtol=1e-3, atol=1e-6):
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        return {k: np.where(total > 0, v / total, np.nan) for k, v in contrib.items()}


def loss_figure(path: Path, stage: str, history: Sequence[Mapping[str, float]],
                weights: Mapping[str, float] | None = None) -> bool:
    """Write the loss curves of ``stage`` (see the module doc); ``weights`` maps each term's
    label to its weight (for the titles and the share panel).  False without history."""
    if not history:
        return False
    steps = [int(r["step"]) for r in history]
    terms = [k for k in history[0] if k not in ("step", "lr", "total")]
    weights = dict(weights or {})
    window = smoothing_window(len(history))
    shares = term_shares(history, weights) if len(terms) > 1 else None
    single = len(terms) == 1
    panels = 1 + (0 if single else len(terms)) + (shares is not None)
    fig, axes = plt.subplots(1, panels, figsize=(3.3 * panels, 3.0), squeeze=False)
    ax = axes[0][0]
    _curve(ax, steps, [r["total"] for r in history], window, "C0")
    if single:
        w = weights.get(terms[0])
        ax.set_title(f"total = {w:g} × {terms[0]}" if w is not None else f"total ({terms[0]})",
                     fontsize=9)
    else:
        ax.set_title("total (weighted sum)", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_xlabel("step", fontsize=8)
    colours = {k: f"C{i + 1}" for i, k in enumerate(terms)}
    if not single:
        for ax, k in zip(axes[0][1:], terms):
            _curve(ax, steps, [r.get(k, math.nan) for r in history], window, colours[k])
            w = weights.get(k)
            ax.set_title(f"{k}, unweighted" + (f" (weight {w:g})" if w is not None else ""),
                         fontsize=9)
            ax.set_xlabel("step", fontsize=8)
    if shares is not None:
        ax = axes[0][-1]
        keys = list(shares)
        smoothed = [np.nan_to_num(_smooth(shares[k], window)) * 100 for k in keys]
        final = {k: float(np.nanmean(shares[k][-max(1, window):])) * 100 for k in keys}
        ax.stackplot(steps, *smoothed, colors=[colours[k] for k in keys], alpha=0.85,
                     labels=[f"{k}: {final[k]:.0f} % at the end" for k in keys])
        ax.set_ylim(0, 100)
        ax.set_xlim(steps[0], steps[-1])
        ax.set_title("share of the weighted total (%)", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="lower left", framealpha=0.8)
    fig.suptitle(f"stage {stage}: training loss", fontsize=10)
    fig.tight_layout()
    _save(fig, path, dpi=90)
    return True


def validation_figure(path: Path, stages: Sequence[tuple[str, int, Sequence[Mapping]]],
                      metrics: Sequence[str], input_scores: Mapping[str, float] | None = None,
                      arrows: Mapping[str, str] | None = None,
                      level_of: str | None = None) -> bool:
    """Write the validation metrics over training steps: ``stages`` lists
    ``(stage, its first step, evals)`` with evals ``[{"step": s, metric: value}]``, every stage
    on one step axis; ``input_scores`` (the unrestored input's final scores) are drawn dashed;
    ``level_of`` names a stage whose final value is drawn as a dotted horizontal line (the
    reference the later stages start from), and then a second row zooms on the stages that
    start after step 0.  False when no stage validated."""
    metrics = [m for m in metrics if any(m in e for _, _, evs in stages for e in evs)]
    if not metrics:
        return False
    later = [st for st in stages if st[1] > 0 and any(m in e for e in st[2] for m in metrics)]
    zoom = level_of is not None and bool(later)
    nrows = 2 if zoom else 1
    fig, axes = plt.subplots(nrows, len(metrics),
                             figsize=(max(6.0, 3.3 * len(metrics)), 3.0 * nrows), squeeze=False)
    colours = {stage: f"C{i}" for i, (stage, _, _) in enumerate(stages)}
    for col, m in enumerate(metrics):
        level = None
        for stage, offset, evs in stages:
            pts = [(offset + int(e["step"]), float(e[m])) for e in evs if m in e]
            if stage == level_of and pts:
                level = pts[-1][1]
        for r in range(nrows):
            ax = axes[r][col]
            shown = stages if r == 0 else later
            for stage, offset, evs in shown:
                pts = [(offset + int(e["step"]), float(e[m])) for e in evs if m in e]
                if pts:
                    ax.plot(*zip(*pts), marker="o", ms=3, lw=1.2, color=colours[stage],
                            label=stage)
            if level is not None and math.isfinite(level):
                ax.axhline(level, color="k", ls=":", lw=1, label=f"{level_of} (final)")
            if r == 0 and input_scores and m in input_scores and \
                    math.isfinite(input_scores[m]):
                ax.axhline(input_scores[m], color="0.4", ls="--", lw=1,
                           label="input (unrestored)")
            title = m + (arrows or {}).get(m, "")
            ax.set_title(title if r == 0 else f"{title}: stages from {level_of}", fontsize=9)
            ax.set_xlabel("training steps since the start from scratch", fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
            ax.ticklabel_format(axis="y", style="plain", useOffset=False)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.25)
    axes[0][0].legend(fontsize=7)
    if zoom:
        axes[1][0].legend(fontsize=7)
    fig.suptitle("validation during training (held-out test images)", fontsize=10)
    fig.tight_layout()
    _save(fig, path, dpi=90)
    return True
