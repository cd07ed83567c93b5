"""``gamma-l1``: the L1 distance after gamma encoding (the implementation behind
``examples/my_losses.py``, imported only when the loss is first built or described).

    L(x, y) = mean | x^(1/γ) − y^(1/γ) |,   γ = 2.2 by default,

useful when a network works on linear-light images (as Flare7K's synthesis does) but errors
should be weighed as a viewer sees them, in a display-referred (gamma-encoded) space.
"""
from __future__ import annotations

import torch
from torch import nn

from zoo import describe
from zoo.losses.base import check_images, check_reduction, reduce


FACTS = dict(formula="mean |x^(1/γ) − y^(1/γ)|", citation="sRGB-like display gamma, γ = 2.2",
             test="tests/test_plugins.py::test_example_registry_registers_the_local_module")


@describe(**FACTS)
def gamma_l1(pred: torch.Tensor, target: torch.Tensor, gamma: float = 2.2,
             reduction: str = "mean") -> torch.Tensor:
    """L1 between gamma-encoded images; values below 0 are clamped, not refused.

    Args:
        gamma: the display gamma γ; both images are raised to 1/γ.
        reduction: mean (a scalar), sum, or none (one value per image).
    """
    check_images("gamma-l1", pred, target)
    check_reduction("gamma-l1", reduction)
    eps = 1e-6  # keeps the gradient of x^(1/γ) finite at 0
    diff = (pred.clamp_min(eps) ** (1 / gamma) - target.clamp_min(eps) ** (1 / gamma)).abs()
    return reduce(diff, reduction)


@describe(**FACTS)
class GammaL1Loss(nn.Module):
    """L1 between gamma-encoded images (module form of :func:`gamma_l1`).

    Args:
        gamma: the display gamma γ; both images are raised to 1/γ.
        reduction: mean (a scalar), sum, or none (one value per image).
    """

    def __init__(self, gamma: float = 2.2, reduction: str = "mean"):
        super().__init__()
        self.gamma, self.reduction = gamma, check_reduction("gamma-l1", reduction)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return gamma_l1(pred, target, self.gamma, self.reduction)
