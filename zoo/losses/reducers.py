"""Reductions: how a loss turns its per-element or per-sample values into what it returns.

Every built-in loss takes ``reduction=`` and hands its values to :func:`reduce`:

* ``mean`` (default): one scalar, the mean over everything;
* ``sum``: one scalar, the sum over everything;
* ``none``: one value per sample, shape ``(B,)`` (the per-sample mean of a ``(B, ...)`` tensor);
* ``mean-of-positive`` (hinge losses that accept it, e.g. the triplet loss): the mean of the
  per-sample values that are > 0 (0 when there are none).  This keeps the many already-satisfied
  ("easy") triplets from diluting the gradient; pytorch-metric-learning calls it
  ``AvgNonZeroReducer`` (Musgrave et al., arXiv:2008.09164).

For a ``(B,)`` tensor of per-sample losses, ``mean``/``sum``/``none`` are the batch mean, the
batch sum and the vector itself.
"""
from __future__ import annotations

import functools
import operator
from typing import Iterable, Sequence

import torch

from zoo.errors import InputError

#: Reductions every built-in loss accepts.
REDUCTIONS = ("mean", "sum", "none")
#: Reductions of hinge losses (the triplet loss): :data:`REDUCTIONS` + ``mean-of-positive``.
HINGE_REDUCTIONS = REDUCTIONS + ("mean-of-positive",)


def check_reduction(name: str, reduction: str, allowed: Sequence[str] = REDUCTIONS) -> str:
    """``reduction`` if it is one of ``allowed``, else an :class:`InputError` naming ``name``."""
    if reduction not in allowed:
        raise InputError(f"{name}: reduction must be one of {', '.join(allowed)}, "
                         f"got {reduction!r}")
    return reduction


def sum_terms(terms: Iterable[torch.Tensor]) -> torch.Tensor:
    """``terms[0] + terms[1] + ...``: the builtin ``sum`` but typed as a tensor (at least one
    term; an empty ``terms`` is a ``TypeError`` rather than ``0``)."""
    return functools.reduce(operator.add, terms)


def reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce a ``(B, ...)`` tensor of per-element (or ``(B,)`` per-sample) losses."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    per_sample = values.reshape(values.shape[0], -1).mean(dim=1) if values.dim() > 1 else values
    if reduction == "none":
        return per_sample
    if reduction == "mean-of-positive":
        positive = (per_sample > 0).to(per_sample.dtype)
        # sum / max(count, 1): 0 (with a graph) when no sample is positive
        return (per_sample * positive).sum() / positive.sum().clamp_min(1.0)
    raise InputError(f"reduction must be one of {', '.join(HINGE_REDUCTIONS)}, got {reduction!r}")
