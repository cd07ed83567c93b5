"""Result tables: mean ± sample standard deviation over seeds (or, with ``spread="ci95"``, ± the
half-width of the 95 % Student-t interval of the mean, :func:`zoo.stats.t_interval`), as rich
tables on screen, CSV and Markdown on disk.

Rows are (group, row label) — for a comparison (task, loss), for the paper table ("", row) —
and columns are metrics.  **Best** (bold) is marked only when it is a significant lead
(:meth:`ResultTable.leader`): the row with the best mean is compared with the runner-up by
:func:`zoo.stats.seed_difference` -- the 95 % paired t-interval of the per-seed differences when
both rows ran on the same seeds, else Welch's t-interval -- and marked only when that interval
excludes zero (:data:`BEST_RULE`, printed under every table).  With one seed nothing is
marked.  A metric that could not run here (e.g. LPIPS without its AlexNet weights) stays a column, shown as ``n/a`` with the reason under the table; a (task, loss) pair
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
from zoo.stats import LEVEL, Interval, seed_difference, t_interval, verdict

#: How metric names are shown in column headers.
DISPLAY = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "g-psnr": "G-PSNR",
           "s-psnr": "S-PSNR", "global-psnr": "Global-PSNR", "flare-score": "Flare score",
           "g-ssim": "G-SSIM", "s-ssim": "S-SSIM",
           # the two readings of the region metrics (zoo.metrics.flare_regions), labelled
           "g-psnr.masked": "G-PSNR (masked)", "s-psnr.masked": "S-PSNR (masked)",
           "g-ssim.masked": "G-SSIM (masked)", "s-ssim.masked": "S-SSIM (masked)"}

#: what ``±`` means in a table: the seeds' standard deviation or the 95 % CI half-width
SPREADS = {"std": "± sample standard deviation over seeds",
           "ci95": "± half-width of the 95 % confidence interval of the mean over seeds "
                   "(Student t)"}


def display(metric: str) -> str:
    return DISPLAY.get(metric, metric)


#: How the best row of a column is decided; written under every table.
BEST_RULE = (f"Bold marks the best mean of a column only when it leads the runner-up "
             f"significantly: the {round(LEVEL * 100)} % t-interval of the difference over seeds "
             f"(paired by seed when both rows ran on the same seeds, else Welch's) excludes zero. "
             f"With one seed, or a lead inside that interval, nothing is marked.")


@dataclass(frozen=True)
class Lead:
    """The best row of a column and how far it leads the runner-up (best minus runner-up, in
    the metric's units; positive means better for a higher-is-better metric)."""

    best: str
    runner_up: str
    difference: Interval
    significant: bool


@dataclass
class Row:
    """One table row: values per metric over the seeds that finished, or why there are none."""

    group: str
    label: str
    values: dict[str, list[float]] = field(default_factory=dict)
    by_seed: dict[str, dict[int, float]] = field(default_factory=dict)  # metric -> seed -> value
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
                self.by_seed.setdefault(m, {})[seed] = float(v)

    def stat(self, metric: str) -> tuple[float, float, int] | None:
        vals = [v for v in self.values.get(metric, []) if math.isfinite(v)]
        if not vals:
            return None
        std = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return statistics.fmean(vals), std, len(vals)

    def finite_by_seed(self, metric: str) -> dict[int, float]:
        """``{seed: value}`` of ``metric`` over the seeds that gave a finite value."""
        return {s: v for s, v in self.by_seed.get(metric, {}).items() if math.isfinite(v)}


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
    spread: str = "std"  # what ± shows: a key of SPREADS

    def spread_of(self, row: Row, metric: str) -> float:
        """The ± of ``row``'s ``metric``: its std, or its 95 % CI half-width (0 for one seed)."""
        s = row.stat(metric)
        if s is None:
            return math.nan
        if self.spread == "ci95":
            vals = [v for v in row.values.get(metric, []) if math.isfinite(v)]
            half = t_interval(vals).half_width
            return half if math.isfinite(half) else 0.0
        return s[1]

    def metrics_of(self, group: str) -> list[str]:
        """The columns of one group's table (default: every metric)."""
        return self.group_metrics.get(group, self.metrics)

    def groups(self) -> list[str]:
        out: list[str] = []
        for r in self.rows:
            if r.group not in out:
                out.append(r.group)
        return out

    def leader(self, group: str, metric: str) -> Lead | None:
        """The row with the best mean of ``metric`` within ``group`` (baselines excluded) and
        its lead over the runner-up; None with fewer than two rows to rank."""
        higher = self.directions.get(metric, "higher") != "lower"
        sign = 1.0 if higher else -1.0
        cands = sorted(((sign * s[0], r.label, r) for r in self.rows if r.group == group
                        and r.label not in self.baselines and not r.note
                        and (s := r.stat(metric)) is not None),
                       key=lambda c: c[0], reverse=True)
        if len(cands) < 2:
            return None
        (_, best, top), (_, second, nxt) = cands[0], cands[1]
        diff = seed_difference(top.finite_by_seed(metric), nxt.finite_by_seed(metric))
        return Lead(best, second, diff, verdict(diff, higher_is_better=higher) == "helps")

    def best(self, group: str, metric: str) -> str | None:
        """Label of the row that leads ``metric`` within ``group`` significantly (see
        :data:`BEST_RULE`), else None."""
        lead = self.leader(group, metric)
        return lead.best if lead is not None and lead.significant else None

    def unmarked_leads(self, group: str) -> list[str]:
        """One phrase per column of ``group`` whose leader is not significantly ahead (columns
        where one seed leaves no interval are named together)."""
        out, no_interval = [], []
        for m in self.metrics_of(group):
            lead = None if m in self.unavailable else self.leader(group, m)
            if lead is None or lead.significant:
                continue
            iv = lead.difference
            if not iv.defined:
                no_interval.append(display(m))
                continue
            method = (f"paired t over {iv.n} seeds" if iv.method == "paired t"
                      else f"Welch, {iv.n} runs in all")
            out.append(f"{display(m)}: {lead.best} vs {lead.runner_up} "
                       f"{iv.format(self.digits(m))} ({method})")
        if no_interval:
            out.append(f"{', '.join(no_interval)}: one seed, no interval")
        return out

    def digits(self, metric: str) -> int:
        """Decimals shown for ``metric`` (4 for SSIM-like and LPIPS, else 2, unless set)."""
        return self.decimals.get(metric, 4 if "ssim" in metric or metric == "lpips" else 2)

    def fmt(self, row: Row, metric: str) -> str:
        if metric in self.unavailable:
            return "n/a"
        s = row.stat(metric)
        if s is None:
            return "–"
        d = self.digits(metric)
        mean, _, n = s
        return f"{mean:.{d}f} ± {self.spread_of(row, metric):.{d}f}" if n > 1 else f"{mean:.{d}f}"

    def notes(self) -> list[str]:
        out = [f"{display(m)}: not available here — {why}" for m, why in self.unavailable.items()]
        out += self.remarks
        for group in self.groups():
            ties = self.unmarked_leads(group)
            if ties:
                where = f"{group}: " if group else ""
                out.append(f"{where}no significant best — " + "; ".join(ties))
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
        ci = table.spread == "ci95"
        for m in table.metrics:
            head += [f"{m}_mean", f"{m}_std"] + ([f"{m}_ci95"] if ci else [])
        w.writerow(head + ["status"])
        for r in table.rows:
            line = [r.group, r.label, len(r.seeds)]
            for m in table.metrics:
                s = None if m in table.unavailable else r.stat(m)
                line += ["", ""] if s is None else [f"{s[0]:.6g}", f"{s[1]:.6g}"]
                if ci:
                    line.append("" if s is None else f"{table.spread_of(r, m):.6g}")
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
    """Markdown: one table per group (a significant best per column in bold, see
    :data:`BEST_RULE`), then the notes."""
    lines = [f"## {table.title}", ""]
    if table.caption:
        lines += [table.caption, ""]
    if table.spread != "std":
        lines += [f"Values: mean {SPREADS[table.spread]}.", ""]
    lines += [BEST_RULE, ""]
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
    parts.append(Text(BEST_RULE.replace("Bold marks", "Green marks"), style="dim"))
    notes = table.notes()
    if notes:
        parts.append(Text("\n".join(f"• {n}" for n in notes)))
    return Group(*parts)
