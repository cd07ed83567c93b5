"""Stop training on a non-finite loss, naming the loss term(s) responsible.

The composer returns ``(total, parts)``; when ``total`` is NaN or ±Inf the step is not taken
(no backward, no optimizer update), the last checkpoint on disk is left as it is, and a
:class:`NonFiniteLossError` names the stage, the step and every non-finite term.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch

from zoo.errors import ZooError


class NonFiniteLossError(ZooError):
    """The loss became NaN/Inf; the message names the term(s) and the last good checkpoint."""


def _finite(value) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value.detach()).all())
    return math.isfinite(float(value))


def check_finite(total: torch.Tensor, parts: Mapping[str, torch.Tensor], *, stage: str, step: int,
                 checkpoint: str | None = None) -> None:
    """Raise :class:`NonFiniteLossError` unless ``total`` is finite."""
    if _finite(total):
        return
    bad = [name for name, v in parts.items() if not _finite(v)]
    terms = ", ".join(bad) if bad else "none of the terms alone (their weighted sum overflowed)"
    kept = f"; last good checkpoint kept: {checkpoint}" if checkpoint else \
        "; no checkpoint was written yet"
    raise NonFiniteLossError(f"stage {stage!r} step {step}: loss is {float(total.detach())} "
                             f"(non-finite term(s): {terms}){kept}")
