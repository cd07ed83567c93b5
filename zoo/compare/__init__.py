"""Loss comparisons across restoration tasks (``zoo compare``) and the cascaded-flare paper's
Table 1 structure (``zoo compare --paper-table``).

Modules: :mod:`~zoo.compare.settings` (what is compared, the budget, the config file),
:mod:`~zoo.compare.tasks` (tasks and which losses apply to each), :mod:`~zoo.compare.cells`
(planning), :mod:`~zoo.compare.runner` (running the unfinished cells, resume, crash reports)
on an executor of :mod:`~zoo.compare.executors` (local processes, Ray, Slurm) with
:mod:`~zoo.compare.worker` doing one cell where it runs,
:mod:`~zoo.compare.train` (the adapter onto :func:`zoo.engine.train_stage`),
:mod:`~zoo.compare.table` and :mod:`~zoo.compare.plot` (outputs),
:mod:`~zoo.compare.comparison` and :mod:`~zoo.compare.paper` (the two modes).
"""
from __future__ import annotations

from .settings import (CompareSettings, LossChoice, RunOptions, load_settings_file,
                       parse_loss_choice)

__all__ = ["CompareSettings", "LossChoice", "RunOptions", "load_settings_file", "parse_loss_choice",
           "run_comparison", "run_paper_table", "PaperSettings"]


def __getattr__(name):  # the heavy modules load on first use
    if name == "run_comparison":
        from .comparison import run_comparison

        return run_comparison
    if name in ("run_paper_table", "PaperSettings"):
        from . import paper

        return getattr(paper, name)
    raise AttributeError(f"module 'zoo.compare' has no attribute {name!r}")
