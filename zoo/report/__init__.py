"""The run report: ``report.md`` plus PNGs in the run folder, written by :func:`write_report`.

* :mod:`zoo.report.writer` -- the sections of ``report.md`` and :func:`write_report`;
* :mod:`zoo.report.statistics` -- paired per-image differences with bootstrap CIs, verdicts;
* :mod:`zoo.report.figures` -- the image grid with error maps, loss and validation curves;
* :mod:`zoo.report.environment` -- versions, threads, load, plugins and registry files.
"""
from __future__ import annotations

from .writer import build_context, metrics_table, write_report

__all__ = ["build_context", "metrics_table", "write_report"]
