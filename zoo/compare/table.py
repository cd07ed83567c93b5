"""Result tables: mean ± sample standard deviation over seeds, as rich tables on screen, CSV and
Markdown on disk.

Rows are (group, row label) — for a comparison (task, loss), for the paper table ("", row) —
and columns are metrics.  A metric that could not run here (e.g. LPIPS without its AlexNet
weights) stays a column, shown as ``n/a`` with the reason under the table; a (task, loss) pair
that does not apply is a row saying so; a failed cell is counted and named under the table.
"""
from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from zoo.atomic import atomic_open

#: How metric names are shown in column headers.
DISPLAY = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "g-psnr": "G-PSNR",
           "s-psnr": "S-PSNR", "global-psnr": "Global-PSNR", "flare-score": "Flare score",
           "g-ssim": "G-SSIM", "s-ssim": "S-SSIM"}


def display(metric: str) -> str:
    return DISPLAY.get(metric, metric)


@dataclass
class Row:
    """One table row: values per metric over the seeds that finished, or why there are none."""

    group: str
    label: str
    values: dict[str, list[float]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    failed: list[tuple[int, str, str]] = field(default_factory=list)  # (seed, error, log)
    note: str = ""  # not applicable: reason

    def add(self, seed: int, result: Mapping | None, missing: str = "not run") -> None:
        """Record one cell's result (a cell JSON, or None when the cell never ran)."""
        if result is None:
            self.failed.append((seed, missing, ""))
        elif result.get("status") != "ok":
            self.failed.append((seed, str(result.get("error")), str(result.get("log") or "")))
        else:
            self.seeds.append(seed)
            for m, v in result.get("metrics", {}).items():
                self.values.setdefault(m, []).append(float(v))

    def stat(self, metric: str) -> tuple[float, float, int] | None:
        vals = [v for v in self.values.get(metric, []) if math.isfinite(v)]
        if not vals:
            return None
        std = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return statistics.fmean(vals), std, len(vals)


@dataclass
class ResultTable:
    title: str
    metrics: list[str]
    directions: dict[str, str]
    rows: list[Row]
    unavailable: dict[str, str] = field(default_factory=dict)  # metric -> reason
    decimals: dict[str, int] = field(default_factory=dict)
    group_name: str = "task"
    label_name: str = "loss"
    caption: str = ""  # the budget, shown under the title
    remarks: list[str] = field(default_factory=list)  # e.g. which encoder a loss used
    baselines: tuple[str, ...] = ()  # row labels never marked best (the input row)
    group_metrics: dict[str, list[str]] = field(default_factory=dict)  # columns per group

    def metrics_of(self, group: str) -> list[str]:
        """The columns of one group's table (default: every metric)."""
        return self.group_metrics.get(group, self.metrics)

    def groups(self) -> list[str]:
        out: list[str] = []
        for r in self.rows:
            if r.group not in out:
                out.append(r.group)
        return out

    def best(self, group: str, metric: str) -> str | None:
        """Label of the row with the best mean of ``metric`` within ``group``."""
        sign = -1.0 if self.directions.get(metric, "higher") == "lower" else 1.0
        cands = [(sign * s[0], r.label) for r in self.rows if r.group == group
                 and r.label not in self.baselines and (s := r.stat(metric)) is not None]
        return max(cands)[1] if len(cands) > 1 else None

    def fmt(self, row: Row, metric: str) -> str:
        if metric in self.unavailable:
            return "n/a"
        s = row.stat(metric)
        if s is None:
            return "–"
        d = self.decimals.get(metric, 4 if "ssim" in metric or metric == "lpips" else 2)
        mean, std, n = s
        return f"{mean:.{d}f} ± {std:.{d}f}" if n > 1 else f"{mean:.{d}f}"

    def notes(self) -> list[str]:
        out = [f"{display(m)}: not available here — {why}" for m, why in self.unavailable.items()]
        out += self.remarks
        for r in self.rows:
            where = f"{r.group} / {r.label}" if r.group else r.label
            if r.note:
                out.append(f"{where}: not applicable — {r.note}")
            by_error: dict[str, list[tuple[str, str]]] = {}
            for seed, error, log in r.failed:
                by_error.setdefault(error, []).append((str(seed), log))
            for error, items in by_error.items():
                seeds = ", ".join(s for s, _ in items)
                logs = ", ".join(lg for _, lg in items if lg)
                out.append(f"{where}: FAILED (seed{'s' if len(items) > 1 else ''} {seeds}): "
                           f"{error}" + (f" (log{'s' if len(items) > 1 else ''}: {logs})"
                                         if logs else ""))
        return out


def arrow(direction: str) -> str:
    return "↓" if direction == "lower" else "↑"


def write_csv(table: ResultTable, path: Path) -> Path:
    """One line per row: group, label, n, then ``<metric>_mean, <metric>_std`` pairs, status."""
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f)
        head = [table.group_name, table.label_name, "n_seeds"]
        for m in table.metrics:
            head += [f"{m}_mean", f"{m}_std"]
        w.writerow(head + ["status"])
        for r in table.rows:
            line = [r.group, r.label, len(r.seeds)]
            for m in table.metrics:
                s = None if m in table.unavailable else r.stat(m)
                line += ["", ""] if s is None else [f"{s[0]:.6g}", f"{s[1]:.6g}"]
            failures = "; ".join(f"failed seed {s}: {e} (log: {lg})" for s, e, lg in r.failed)
            status = ("not applicable: " + r.note) if r.note else (failures or "ok")
            if r.failed and r.seeds:
                status = "partial: " + status
            w.writerow(line + [status])
    return path


def write_cells_csv(results: Iterable[Mapping], metrics: Sequence[str], path: Path) -> Path:
    """The raw per-cell numbers (one line per cell) behind the aggregated table."""
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["cell", "task", "loss", "seed", "status", *metrics, "wall_s", "error"])
        for res in results:
            c = res["cell"]
            w.writerow([c["id"], c["task"], c["loss"], c["seed"], res["status"],
                        *[("" if m not in res.get("metrics", {}) else
                           f"{res['metrics'][m]:.6g}") for m in metrics],
                        res.get("wall_s", ""), res.get("error") or ""])
    return path


def to_markdown(table: ResultTable, command: str | None = None) -> str:
    """Markdown: one table per group (the best mean per column in bold), then the notes."""
    lines = [f"## {table.title}", ""]
    if table.caption:
        lines += [table.caption, ""]
    if command:
        lines += ["```", command, "```", ""]
    for group in table.groups():
        if group:
            lines += [f"### {group}", ""]
        metrics = table.metrics_of(group)
        head = [table.label_name] + [f"{display(m)} {arrow(table.directions.get(m, 'higher'))}"
                                     for m in metrics] + ["seeds"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
        best = {m: table.best(group, m) for m in metrics}
        for r in (r for r in table.rows if r.group == group):
            if r.note:
                lines.append("| " + " | ".join([r.label] + ["not applicable"]
                                                + [""] * (len(head) - 2)) + " |")
                continue
            cells = []
            for m in metrics:
                text = table.fmt(r, m)
                cells.append(f"**{text}**" if best[m] == r.label else text)
            n = f"{len(r.seeds)}" + (f" ({len(r.failed)} failed)" if r.failed else "")
            lines.append("| " + " | ".join([r.label, *cells, n]) + " |")
        lines.append("")
    notes = table.notes()
    if notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def to_rich(table: ResultTable) -> Group:
    """rich renderables: one table per group, then the notes."""
    parts: list[RenderableType] = []
    for group in table.groups():
        t = Table(title=f"{table.title}{' — ' + group if group else ''}", title_justify="left")
        metrics = table.metrics_of(group)
        t.add_column(table.label_name, style="bold", no_wrap=True)
        for m in metrics:
            t.add_column(f"{display(m)} {arrow(table.directions.get(m, 'higher'))}",
                         justify="right")
        t.add_column("seeds", justify="right")
        best = {m: table.best(group, m) for m in metrics}
        for r in (r for r in table.rows if r.group == group):
            if r.note:
                t.add_row(r.label, *(["[dim]not applicable[/]"] + [""] * (len(metrics) - 1)), "")
                continue
            cells = [f"[green bold]{table.fmt(r, m)}[/]" if best[m] == r.label
                     else table.fmt(r, m) for m in metrics]
            n = f"{len(r.seeds)}" + (f" [red]({len(r.failed)} failed)[/]" if r.failed else "")
            t.add_row(r.label, *cells, n)
        parts.append(t)
    if table.caption:
        parts.append(Text(table.caption, style="dim"))
    notes = table.notes()
    if notes:
        parts.append(Text("\n".join(f"• {n}" for n in notes)))
    return Group(*parts)
