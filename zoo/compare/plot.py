"""The comparison plot: one panel per (metric, task), a bar per loss with its mean and, over
several seeds, an error bar of ± one sample standard deviation (matplotlib, Agg backend, PNG).
Baseline rows (the degraded input scored as it is) are grey and hatched.  Each panel's y axis
spans the bars' range plus a margin, not from zero: the differences between losses are the point.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.atomic import atomic_write

from .table import ResultTable, arrow, display


def plot_table(table: ResultTable, path: Path, *, title: str | None = None) -> Path | None:
    """Write the bar-chart grid of ``table`` to ``path``; None when nothing can be plotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = table.groups()
    metrics = [m for m in table.metrics if m not in table.unavailable
               and any(r.stat(m) for r in table.rows)]
    if not metrics or not groups:
        return None
    labels = []
    for r in table.rows:
        if r.label not in labels:
            labels.append(r.label)
    trained = [lab for lab in labels if lab not in table.baselines]
    colours: dict[str, Any] = {lab: plt.get_cmap("tab10")(i % 10) for i, lab in enumerate(trained)}
    colours.update({lab: "0.75" for lab in table.baselines})  # baselines in grey, hatched
    fig, axes = plt.subplots(len(metrics), len(groups), squeeze=False,
                             figsize=(max(3.2 * len(groups), 4.5), 2.4 * len(metrics) + 0.8))
    for i, m in enumerate(metrics):
        for j, g in enumerate(groups):
            ax = axes[i][j]
            rows = [r for r in table.rows if r.group == g and r.stat(m) is not None]
            if not rows:
                ax.set_axis_off()
                ax.set_title(f"{g}: no {display(m)}", fontsize=9)
                continue
            stats = [r.stat(m) for r in rows]
            means = [st[0] for st in stats if st is not None]
            stds = [st[1] for st in stats if st is not None]
            xs = range(len(rows))
            bars = ax.bar(xs, means, yerr=stds, capsize=3,
                          color=[colours[r.label] for r in rows])
            for bar, r in zip(bars, rows):
                if r.label in table.baselines:
                    bar.set_hatch("//")
            lo = min(a - b for a, b in zip(means, stds))
            hi = max(a + b for a, b in zip(means, stds))
            pad = (hi - lo) * 0.25 or abs(hi) * 0.05 or 0.1
            ax.set_ylim(lo - pad, hi + pad)  # differences, not absolute levels, are the point
            ax.set_xticks(list(xs))
            ax.set_xticklabels([r.label for r in rows], rotation=35, ha="right", fontsize=8)
            ax.tick_params(axis="y", labelsize=8)
            if i == 0:
                ax.set_title(g or table.title, fontsize=10)
            if j == 0:
                ax.set_ylabel(f"{display(m)} {arrow(table.directions.get(m, 'higher'))}")
            ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or table.title, fontsize=11)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return path


def plot_lambda_sweep(table: ResultTable, path: Path, points: dict[str, tuple[int, float]],
                      reference: str, *, title: str | None = None) -> Path | None:
    """Paper-table plot: each metric against λ, one line per k, the reference as a dashed line.

    ``points`` maps a row label to its (k, λ); ``reference`` is the reference row's label.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {r.label: r for r in table.rows}
    metrics = [m for m in table.metrics if m not in table.unavailable
               and any(r.stat(m) for r in table.rows)]
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), squeeze=False, figsize=(3.2 * len(metrics), 3.0))
    for ax, m in zip(axes[0], metrics):
        for k in sorted({k for k, _ in points.values()}):
            xs, ys, es = [], [], []
            for label, (kk, lam) in sorted(points.items(), key=lambda kv: kv[1][1]):
                st = rows[label].stat(m) if label in rows else None
                if kk == k and st is not None:
                    xs.append(lam)
                    ys.append(st[0])
                    es.append(st[1])
            if xs:
                ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=f"k = {k}")
        ref = rows.get(reference)
        ref_stat = ref.stat(m) if ref is not None else None
        if ref_stat is not None:
            ax.axhline(ref_stat[0], color="0.4", linestyle="--", label="reference")
        ax.set_xlabel("λ")
        ax.set_title(f"{display(m)} {arrow(table.directions.get(m, 'higher'))}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title or table.title, fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return path
