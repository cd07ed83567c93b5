"""Shared parts of every loss: input validation (reductions: :mod:`zoo.losses.reducers`).

Conventions (all built-in losses follow them; third-party losses are encouraged to):

* images are ``(B, C, H, W)`` float tensors; ``pred`` and ``target`` have equal shapes;
* ``reduction`` is ``"mean"`` (default, a scalar), ``"sum"`` or ``"none"`` (one value per
  sample, shape ``(B,)``);
* every loss is minimised: a similarity ``s`` becomes ``1 - s`` (said in its docstring);
* bad input raises :class:`zoo.errors.InputError` naming the loss and what was wrong.
"""
from __future__ import annotations

from typing import Sequence

import torch

from zoo.errors import InputError
# re-exported: plugins written against this module import them from here
from zoo.losses.reducers import check_reduction, reduce  # noqa: F401

def check_images(name: str, *tensors: torch.Tensor, channels: int | tuple[int, ...] | None = None,
                 value_range: tuple[float, float] | None = None, min_size: int | None = None,
                 same_shape: bool = True, names: Sequence[str] | None = None) -> None:
    """Validate 4-D image tensors up front with a message naming the component.

    ``value_range`` is checked with a small tolerance; ``min_size`` is the smallest H and W;
    ``names`` labels the tensors in messages (default: "argument 0", "argument 1", ...).
    Shared by the losses and the metrics (:func:`zoo.metrics.base.check_pair`).
    """
    labels = list(names) if names is not None else [f"argument {i}" for i in range(len(tensors))]
    allowed = None if channels is None else (
        (channels,) if isinstance(channels, int) else tuple(channels))
    want = "C" if allowed is None else " or ".join(map(str, allowed))
    for label, t in zip(labels, tensors):
        if not isinstance(t, torch.Tensor):
            raise InputError(f"{name}: {label} is a {type(t).__name__}, expected a tensor")
        if t.dim() != 4:
            raise InputError(f"{name}: expected (B, {want}, H, W) tensors, {label} has shape "
                             f"{tuple(t.shape)}")
        if not t.is_floating_point():
            raise InputError(f"{name}: expected floating-point tensors, {label} is {t.dtype}")
        if allowed is not None and t.shape[1] not in allowed:
            raise InputError(f"{name}: expected {want} channels: {label} must be "
                                 f"(B, {want}, H, W), got {tuple(t.shape)}")
        if min_size is not None and min(t.shape[-2:]) < min_size:
            raise InputError(f"{name}: images must be at least {min_size}x{min_size}, {label} "
                             f"is {t.shape[-2]}x{t.shape[-1]}")
        if value_range is not None and t.numel():
            lo, hi = value_range
            tmin, tmax = float(t.detach().min()), float(t.detach().max())
            if tmin < lo - 1e-3 or tmax > hi + 1e-3:
                raise InputError(f"{name}: values must lie in [{lo}, {hi}], {label} spans "
                                 f"[{tmin:.4g}, {tmax:.4g}]")
    if same_shape and len(tensors) > 1:
        shapes = {tuple(t.shape) for t in tensors}
        if len(shapes) > 1:
            raise InputError(f"{name}: inputs differ in shape: " + ", ".join(
                f"{label} {tuple(t.shape)}" for label, t in zip(labels, tensors)))

