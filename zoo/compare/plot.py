"""The comparison plots (matplotlib, Agg backend, PNG).

:func:`plot_table`: one panel per (metric, task), a bar per loss with its mean and, over several
seeds, an error bar of ± one sample standard deviation (as the table's ``±``).  **Each bar starts
at the task's baseline row** -- the degraded input scored as it is, drawn as a dashed line -- so
a bar's length and direction are the gain over doing nothing; a panel without a baseline row
starts its bars at 0.  The significant best of a column (:data:`zoo.compare.table.BEST_RULE`)
carries a star.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.atomic import atomic_write

from .table import BEST_RULE, ResultTable, arrow, display


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
        if r.label not in labels and r.label not in table.baselines:
            labels.append(r.label)
    colours: dict[str, Any] = {lab: plt.get_cmap("tab10")(i % 10) for i, lab in enumerate(labels)}
    baseline_label = ""
    fig, axes = plt.subplots(len(metrics), len(groups), squeeze=False,
                             figsize=(max(3.4 * len(groups), 4.5), 2.5 * len(metrics) + 1.3))
    for i, m in enumerate(metrics):
        for j, g in enumerate(groups):
            ax = axes[i][j]
            rows = [r for r in table.rows if r.group == g and r.stat(m) is not None
                    and r.label not in table.baselines]
            base_rows = [r for r in table.rows if r.group == g and r.label in table.baselines
                         and r.stat(m) is not None]
            if not rows:
                ax.set_axis_off()
                ax.set_title(f"{g}: no {display(m)}", fontsize=8, color="0.5")
                continue
            stats = [r.stat(m) for r in rows]
            means = [st[0] for st in stats if st is not None]
            stds = [st[1] for st in stats if st is not None]
            base_stat = base_rows[0].stat(m) if base_rows else None
            base = base_stat[0] if base_stat is not None else 0.0
            xs = list(range(len(rows)))
            ax.bar(xs, [v - base for v in means], bottom=base, yerr=stds, capsize=3,
                   color=[colours[r.label] for r in rows], error_kw={"elinewidth": 1})
            if base_rows:
                baseline_label = base_rows[0].label
                ax.axhline(base, color="0.35", linestyle="--", linewidth=1)
            lo = min([base] + [a - b for a, b in zip(means, stds)])
            hi = max([base] + [a + b for a, b in zip(means, stds)])
            pad = (hi - lo) * 0.12 or abs(hi) * 0.05 or 0.1
            ax.set_ylim(lo - pad, hi + pad)
            best = table.best(g, m)
            for x, r, v, sd in zip(xs, rows, means, stds):
                if r.label == best:
                    ax.annotate("★", (x, max(v + sd, base)), xytext=(0, 2),
                                textcoords="offset points", ha="center", va="bottom",
                                fontsize=10, color="black")
            ax.set_xticks(xs)
            ax.set_xticklabels([r.label for r in rows], rotation=35, ha="right", fontsize=8)
            ax.tick_params(axis="y", labelsize=8)
            if i == 0:
                ax.set_title(g or table.title, fontsize=10)
            if j == 0:
                ax.set_ylabel(f"{display(m)} {arrow(table.directions.get(m, 'higher'))}")
            ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or table.title, fontsize=11)
    start = (f"the dashed line, {baseline_label} (0 in a panel without it)" if baseline_label
             else "0")
    fig.text(0.01, 0.005, f"Bars start at {start}; error bars ± 1 std over seeds. ★ "
             + BEST_RULE.split(": ", 1)[0].replace("Bold marks", "marks") + ".",
             fontsize=7, color="0.3", wrap=True)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return path


def plot_lambda_sweep(table: ResultTable, path: Path, points: dict[str, tuple[int, float]],
                      reference: str, *, title: str | None = None) -> Path | None:
    """Paper-table plot: each metric against λ, one line per k (error bars: the table's
    ``spread``), the reference as a dashed line.

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
                    es.append(table.spread_of(rows[label], m))
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
