"""``tv``: anisotropic total variation of one image (Rudin, Osher, Fatemi, Physica D 1992):

    TV(x) = mean |x[:, :, i+1, j] - x[:, :, i, j]| + mean |x[:, :, i, j+1] - x[:, :, i, j]|

(means over all vertical / horizontal neighbour pairs).  A smoothness prior: zero for a constant
image.  Single input (``inputs=("pred",)``).
"""
from __future__ import annotations

import torch

from zoo.losses.base import check_images
from zoo.losses.reducers import check_reduction, reduce
from zoo.losses.module import loss_module
from zoo.specs import describe


@describe(formula="mean |x[i+1,j] - x[i,j]| + mean |x[i,j+1] - x[i,j]|",
          citation="Rudin, Osher, Fatemi, Physica D 1992",
          test="tests/losses/test_structural.py::test_tv_by_hand")
def tv_loss(pred: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Mean absolute vertical plus mean absolute horizontal neighbour difference, per image."""
    check_reduction("tv", reduction)
    check_images("tv", pred, min_size=2)
    dv = (pred[:, :, 1:, :] - pred[:, :, :-1, :]).abs().flatten(1).mean(dim=1)
    dh = (pred[:, :, :, 1:] - pred[:, :, :, :-1]).abs().flatten(1).mean(dim=1)
    return reduce(dv + dh, reduction)


TVLoss = loss_module(tv_loss, "TVLoss", "tv")
