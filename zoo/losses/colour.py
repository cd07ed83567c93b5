"""``colour``: angular colour error between RGB vectors, the colour loss of Wang, Zhang, Fu, Shen,
Zheng, Jia, "Underexposed Photo Enhancement using Deep Illumination Estimation" (DeepUPE),
CVPR 2019, eq. (7):

    L_c = mean_p  angle(pred_p, target_p) = mean_p arccos( <pred_p, target_p> / (|pred_p| |target_p|) )

in radians, per pixel p over the 3 colour channels.  The cosine is clamped to
``[-1 + eps, 1 - eps]`` (arccos has an infinite slope at 1) and the norms to ``>= 1e-12``, so the
gradient stays finite: identical colours give ``arccos(1 - eps)`` (about 1.4e-3 rad for the
default eps = 1e-6), the minimum.
"""
from __future__ import annotations

import torch

from zoo.errors import InputError
from zoo.losses.base import check_images
from zoo.losses.reducers import check_reduction, reduce
from zoo.losses.module import loss_module
from zoo.specs import describe


@describe(formula="mean_p arccos(<pred_p, target_p> / (|pred_p| |target_p|))",
          citation="Wang et al., Underexposed Photo Enhancement using Deep Illumination "
                   "Estimation, CVPR 2019",
          test="tests/losses/test_structural.py::test_colour_by_hand")
def colour_loss(pred: torch.Tensor, target: torch.Tensor, *, eps: float = 1e-6,
                reduction: str = "mean") -> torch.Tensor:
    """Mean angle (radians) between the RGB vectors of pred and target at each pixel.

    Args:
        eps: the cosine is clamped to [-1 + eps, 1 - eps] to keep the gradient finite.
    """
    check_reduction("colour", reduction)
    check_images("colour", pred, target, channels=3)
    if not 0 < eps < 1:
        raise InputError(f"colour: eps must lie in (0, 1), got {eps}")
    cos = torch.nn.functional.cosine_similarity(pred, target, dim=1, eps=1e-12)
    angle = torch.acos(cos.clamp(-1 + eps, 1 - eps))
    return reduce(angle, reduction)


ColourLoss = loss_module(colour_loss, "ColourLoss", "colour")
