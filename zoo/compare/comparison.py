"""``zoo compare``: train every (task, loss, seed) cell with the same budget, evaluate each on the
task's held-out test split, and tabulate mean ± std over seeds (rich, CSV, Markdown) and plot it.

Order of work: check every loss name (did-you-mean) and task before anything trains; probe the
metrics once (a metric that cannot run here — LPIPS without its AlexNet weights — becomes an
"n/a" column with its reason); plan the cells (pairs where a loss does not apply are reported,
not trained: :mod:`zoo.compare.tasks`); open or reopen the output folder (its budget hash must
match); run the unfinished cells in parallel (:mod:`zoo.compare.runner`); write the outputs.

Outputs in the output folder: ``results.csv`` (one line per (task, loss): mean and std of each
metric), ``cells.csv`` (one line per cell), ``results.md``, ``results.png``, ``comparison.json``,
and ``cells/`` (per-cell JSON, log and engine files).
"""
from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from zoo.registry import Registry

from zoo.atomic import atomic_write_text

from .cells import INPUT_ROW, Cell, NotApplicable, all_metrics, plan_cells
from .executors import make_executor
from .data_report import data_caption, data_remarks
from .plot import plot_table
from .preflight import preflight
from .runner import (RunSummary, TrainFn, default_jobs, prepare_out_dir, probe_metrics,
                     run_cells)
from .settings import CompareSettings, RunOptions, budget_hash, default_losses
from .table import ResultTable, Row, to_markdown, write_cells_csv, write_csv
from .tasks import check_loss_names, get_task, task_metrics


@dataclass
class ComparisonResult:
    """Everything a comparison produced: the table, the files written, and what ran."""

    out: Path
    table: ResultTable
    summary: RunSummary
    cells: list[Cell]
    not_applicable: list[NotApplicable]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def default_out(settings: CompareSettings, h: str) -> Path:
    return Path("runs") / "compare" / (settings.name or f"compare-{h[:8]}")


def metric_directions(metrics, registry: Registry) -> dict[str, str]:
    known = set(registry.names("metrics"))
    return {m: (registry.get("metrics", m).direction if m in known else None) or "higher"
            for m in metrics}


def build_table(title: str, settings: CompareSettings, cells: list[Cell],
                skipped: list[NotApplicable], results: dict[str, dict],
                metrics: list[str], unavailable: dict[str, str],
                registry: Registry) -> ResultTable:
    """Rows per (task, loss) in the settings' order, from the cell results."""
    rows: dict[tuple[str, str], Row] = {}
    for task in settings.tasks:
        if settings.input_row:
            rows[(task, INPUT_ROW)] = Row(task, INPUT_ROW)
        for choice in settings.losses:
            rows[(task, choice.label)] = Row(task, choice.label)
    for na in skipped:
        rows[(na.task, na.loss)].note = na.reason
    for cell in cells:
        rows[(cell.task, cell.loss)].add(cell.seed, results.get(cell.id),
                                         "not run (interrupted)")
    encoders: dict[str, list[str]] = {}
    for cell in cells:
        for enc in (results.get(cell.id) or {}).get("encoders", []) or []:
            if enc not in encoders.setdefault(cell.loss, []):
                encoders[cell.loss].append(enc)
    remarks = [f"{label}: encoder weights in use — {'; '.join(encs)}"
               for label, encs in encoders.items()]
    per_task = {t: task_metrics(get_task(t, settings.datasets), settings.metrics, registry)
                for t in settings.tasks}
    return ResultTable(title, metrics, metric_directions(metrics, registry), list(rows.values()),
                       dict(unavailable),
                       caption=data_caption(budget_line(settings.budget()), settings, results),
                       remarks=data_remarks(settings) + remarks, baselines=(INPUT_ROW,),
                       group_metrics=per_task)


def run_comparison(settings: CompareSettings, *, registry: Registry,
                   out: str | Path | None = None, jobs: int | None = None,
                   options: RunOptions | None = None,
                   train_fn: str | TrainFn | None = None,
                   on_result: Callable[[dict, int, int, bool], None] | None = None,
                   command: str | None = None) -> ComparisonResult:
    """Run (or resume) a comparison and write its outputs; returns them.

    ``options`` say where the cells run (executor and resources), the logger and the default
    output folder (:class:`~zoo.compare.settings.RunOptions`); ``out`` and ``jobs`` given here
    win over theirs.  ``train_fn`` replaces the engine adapter (a callable or
    ``"module:function"``, called as ``fn(cell, context, cell_dir, registry)``:
    :func:`zoo.compare.train.train_cell`); ``command`` is the shell command shown above the
    Markdown table (the CLI passes its own).
    """
    options = options or RunOptions()
    t0 = time.perf_counter()
    if not settings.losses:
        settings.losses = default_losses()
    for t in settings.tasks:
        get_task(t, settings.datasets)
    check_loss_names(settings.losses, registry)
    registry.canonical("models", settings.model)
    metrics = all_metrics(settings, registry)
    for m in metrics:
        registry.get("metrics", m)
    unavailable = probe_metrics(metrics, registry)
    preflight(settings, registry)
    cells, skipped = plan_cells(settings, registry, unavailable=list(unavailable))
    budget = settings.budget()
    out = Path(out or options.out or default_out(settings, budget_hash(budget)))
    executor = make_executor(options, out, jobs or options.jobs or default_jobs())
    h = prepare_out_dir(out, "compare", budget, settings.to_dict())
    ctx: dict[str, Any] = {"budget_hash": h, "budget": budget, **cell_context(options)}
    if train_fn is not None:
        ctx["train_fn"] = train_fn
    summary = run_cells(cells, out, ctx, registry=registry, executor=executor,
                        on_result=on_result)
    title = f"Loss comparison ({settings.name})" if settings.name else "Loss comparison"
    table = build_table(title, settings, cells, skipped, summary.results, metrics, unavailable,
                        registry)
    result = ComparisonResult(out, table, summary, cells, skipped)
    result.files = write_outputs(result, command)
    result.seconds = time.perf_counter() - t0
    return result


def cell_context(options: RunOptions) -> dict[str, Any]:
    """What a cell needs to know of the run options: its torch threads (a local worker shares
    the cores: one; a Ray task or Slurm job has ``num_cpus``), its device (``cuda`` when it was
    given GPUs) and its logger."""
    remote = options.executor != "local"
    return {"threads": options.num_cpus if remote else 1,
            "device": "cuda" if remote and options.num_gpus > 0 else "cpu",
            "logger": options.logger}


def shell_command() -> str:
    argv = sys.argv[:]
    if argv and Path(argv[0]).name in ("zoo", "__main__.py", "cli.py"):
        argv[0] = "zoo"
    return " ".join(shlex.quote(a) for a in argv) if argv else ""


def budget_line(settings_budget: dict) -> str:
    b = settings_budget
    return (f"model {b['model']}, {b['steps']} steps × batch {b['batch_size']} (Adam, lr "
            f"{b['lr']:g}), {b['size']}×{b['size']} images, {b['train_length']} train / "
            f"{b['test_length']} test samples")


def write_outputs(result: ComparisonResult, command: str | None) -> dict[str, Path]:
    out = result.out
    files = {"csv": write_csv(result.table, out / "results.csv")}
    metric_names = result.table.metrics
    files["cells_csv"] = write_cells_csv(
        [result.summary.results[c.id] for c in result.cells if c.id in result.summary.results],
        metric_names, out / "cells.csv")
    md = to_markdown(result.table, command=command or None)
    atomic_write_text(md, out / "results.md")
    files["md"] = out / "results.md"
    png = plot_table(result.table, out / "results.png")
    if png:
        files["png"] = png
    return files
