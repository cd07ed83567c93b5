"""``gradient``: L1 distance between image gradients.

    L = mean | grad(pred) - grad(target) |,   grad = normalised Sobel x and y derivatives per channel

(``kornia.filters.spatial_gradient``, replicate border).  A gradient-difference term of this kind
is used e.g. by Mathieu, Couprie, LeCun, "Deep multi-scale video prediction beyond mean square
error", ICLR 2016 (GDL, with finite differences; Sobel here).
"""
from __future__ import annotations

import torch
from kornia.filters import spatial_gradient

from zoo.errors import InputError
from zoo.losses.base import check_images
from zoo.losses.reducers import check_reduction, reduce
from zoo.losses.module import loss_module
from zoo.specs import describe


@describe(formula="mean |grad(pred) - grad(target)|, grad = normalised Sobel x, y",
          citation="Mathieu, Couprie, LeCun, ICLR 2016 (gradient difference loss)",
          test="tests/losses/test_structural.py::test_gradient_by_hand")
def gradient_loss(pred: torch.Tensor, target: torch.Tensor, *, mode: str = "sobel",
                  reduction: str = "mean") -> torch.Tensor:
    """Mean absolute difference of the x/y gradients (``mode``: ``"sobel"`` or ``"diff"``).

    Args:
        mode: "sobel" (normalised Sobel) or "diff" (central differences).
    """
    check_reduction("gradient", reduction)
    check_images("gradient", pred, target, min_size=2)
    if mode not in ("sobel", "diff"):
        raise InputError(f"gradient: mode must be 'sobel' or 'diff', got {mode!r}")
    diff = spatial_gradient(pred, mode=mode) - spatial_gradient(target, mode=mode)
    return reduce(diff.abs(), reduction)


GradientLoss = loss_module(gradient_loss, "GradientLoss", "gradient")
