"""Reducers: turn per-sample losses ``(B,)`` into what a loss returns.

* ``mean``: average over the batch; ``sum``: total over the batch; ``none``: the ``(B,)`` vector;
* ``mean-of-positive``: average over the samples whose loss is > 0 (0 when there are none).  For
  a hinge loss such as the triplet loss this keeps the many already-satisfied ("easy") triplets
  from diluting the gradient; pytorch-metric-learning calls it ``AvgNonZeroReducer``
  (Musgrave et al., arXiv:2008.09164).
"""
from __future__ import annotations

import torch

from zoo.errors import InputError

REDUCERS = ("mean", "sum", "none", "mean-of-positive")


def check_reducer(loss_name: str, reduction: str) -> str:
    if reduction not in REDUCERS:
        raise InputError(f"{loss_name}: reduction must be one of {', '.join(REDUCERS)}, "
                         f"got {reduction!r}")
    return reduction


def reduce_per_sample(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce a ``(B,)`` tensor of per-sample losses with one of :data:`REDUCERS`."""
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    if reduction == "mean-of-positive":
        positive = (losses > 0).to(losses.dtype)
        # sum / max(count, 1): 0 (with a graph) when no sample is positive
        return (losses * positive).sum() / positive.sum().clamp_min(1.0)
    raise InputError(f"reduction must be one of {', '.join(REDUCERS)}, got {reduction!r}")
