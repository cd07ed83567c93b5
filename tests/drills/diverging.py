"""Drill components of the trust and NaN-guard drills (tests/test_drills.py, "trust" block)."""
from __future__ import annotations

import os
import time
from pathlib import Path

from torch import nn

from zoo.hookspecs import hookimpl


class Diverging(nn.Module):
    """L1 for ``calm`` calls, then 10x larger each call (a run that diverges slowly, its loss
    still finite), then NaN after ``after`` calls: the last checkpoint before the NaN holds
    weights far worse than an early one."""

    def __init__(self, calm: int = 2, after: int = 5):
        super().__init__()
        self.calm, self.after, self.calls = calm, after, 0

    def forward(self, pred, target):
        self.calls += 1
        v = (pred - target).abs().mean()
        if self.calls > self.after:
            return v * float("nan")
        return v * 10.0 ** max(0, self.calls - self.calm)


def sleeping_cell(cell, ctx, cell_dir: Path, registry):
    """A compare train function that writes its pid and sleeps (the worker-lifetime drill)."""
    cell_dir.mkdir(parents=True, exist_ok=True)
    (Path(ctx["out"]) / f"worker-{os.getpid()}.pid").write_text(str(os.getpid()))
    time.sleep(120)
    return {"psnr": 0.0}


@hookimpl
def zoo_register_losses(register):
    register("diverging", Diverging, doc="drill: diverges, then NaN")
