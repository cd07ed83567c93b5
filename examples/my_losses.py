"""A local loss plugin: no packaging, just a file listed in ``registry.toml``::

    [plugins]
    local = ["examples/my_losses.py"]

It registers ``gamma-l1``: the L1 distance after gamma encoding,

    L(x, y) = mean | x^(1/γ) − y^(1/γ) |,   γ = 2.2 by default,

useful when a network works on linear-light images (as Flare7K's synthesis does) but errors
should be weighed as a viewer sees them, in a display-referred (gamma-encoded) space.
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.hookspecs import hookimpl
from zoo.losses.base import check_images
from zoo.losses.reducers import check_reduction, reduce


def gamma_l1(pred: torch.Tensor, target: torch.Tensor, gamma: float = 2.2,
             reduction: str = "mean") -> torch.Tensor:
    check_images("gamma-l1", pred, target)  # values below 0 are clamped, not refused
    check_reduction("gamma-l1", reduction)
    eps = 1e-6  # keeps the gradient of x^(1/γ) finite at 0
    diff = (pred.clamp_min(eps) ** (1 / gamma) - target.clamp_min(eps) ** (1 / gamma)).abs()
    return reduce(diff, reduction)


class GammaL1Loss(nn.Module):
    """Module form of :func:`gamma_l1`."""

    def __init__(self, gamma: float = 2.2, reduction: str = "mean"):
        super().__init__()
        self.gamma, self.reduction = gamma, check_reduction("gamma-l1", reduction)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return gamma_l1(pred, target, self.gamma, self.reduction)


@hookimpl
def zoo_register_losses(register):
    register("gamma-l1", GammaL1Loss, doc="L1 after gamma encoding (a local-module plugin).",
             formula="mean |x^(1/γ) − y^(1/γ)|", citation="sRGB-like display gamma, γ = 2.2",
             tags=("pixel",), extra={"test": "tests/test_plugins.py::test_local_module_loss"})
