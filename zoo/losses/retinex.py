"""Retinex-Net losses (Wei, Wang, Yang, Liu, "Deep Retinex Decomposition for Low-Light
Enhancement", BMVC 2018; weights as in the authors' TensorFlow code,
github.com/weichen582/RetinexNet).

A decomposition splits an image ``S`` into reflectance ``R`` (3 channels) and illumination ``I``
(1 channel, broadcast over colour): ``S = R o I``.

``retinex-decom`` - inputs ``(r_low, i_low, r_high, i_high, low, high)``::

    L = |R_low o I_low - S_low|_1 + |R_high o I_high - S_high|_1                       (recon, 1)
      + 0.001 (|R_high o I_low - S_low|_1 + |R_low o I_high - S_high|_1)              (cross recon)
      + 0.01 |R_low - R_high|_1                                                        (invariable R)
      + 0.1 (smooth(I_low, R_low) + smooth(I_high, R_high))                            (I smoothness)

    smooth(I, R) = mean_d  |grad_d I| o exp(-lambda_g avg3x3 |grad_d grey(R)|),  d in {x, y}, lambda_g = 10

``retinex-relight`` - inputs ``(r_low, i_delta, high)``: the enhanced illumination ``I_delta``
re-lights the low-light reflectance::

    L = |R_low o I_delta - S_high|_1 + 3 smooth(I_delta, R_low)

``|.|_1`` is a mean absolute error; gradients are those of :mod:`zoo.losses.finite_difference`;
``grey`` is ITU-R 601 luma (kornia ``rgb_to_grayscale``).
"""
from __future__ import annotations

import torch
from kornia.color import rgb_to_grayscale

from zoo.errors import InputError
from zoo.losses.base import check_images
from zoo.losses.reducers import check_reduction, reduce, sum_terms
from zoo.losses.finite_difference import abs_gradient, average_abs_gradient
from zoo.losses.module import loss_module
from zoo.specs import describe

_CITATION = "Wei, Wang, Yang, Liu, Deep Retinex Decomposition, BMVC 2018"


def check_decomposition(name: str, reflectances: dict, illuminations: dict,
                        images: dict) -> None:
    """Reflectances (B,3,H,W), illuminations (B,1,H,W), images (B,3,H,W), all the same B,H,W."""
    check_images(name, *reflectances.values(), *images.values(), channels=3)
    check_images(name, *illuminations.values(), channels=1)
    sizes = {(k, tuple(t.shape[i] for i in (0, 2, 3)))
             for k, t in {**reflectances, **illuminations, **images}.items()}
    if len({s for _, s in sizes}) > 1:
        raise InputError(f"{name}: batch and image sizes differ: "
                         + ", ".join(f"{k}={s}" for k, s in sorted(sizes)))


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().flatten(1).mean(dim=1)


def illumination_smoothness(i: torch.Tensor, r: torch.Tensor,
                            lambda_g: float = 10.0) -> torch.Tensor:
    """``(B,)`` structure-aware smoothness of Retinex-Net: |grad I| o exp(-lambda_g avg|grad R|)."""
    grey = rgb_to_grayscale(r)
    total = sum_terms(abs_gradient(i, d) * torch.exp(-lambda_g * average_abs_gradient(grey, d))
                      for d in ("x", "y"))
    return total.flatten(1).mean(dim=1)


@describe(formula="|R_l I_l - S_l| + |R_h I_h - S_h| + 0.001 (|R_h I_l - S_l| + |R_l I_h - S_h|) "
                  "+ 0.01 |R_l - R_h| + 0.1 sum smooth(I, R), "
                  "smooth = |grad I| exp(-10 avg|grad R|)",
          citation=_CITATION,
          test="tests/losses/test_lowlight.py::test_retinex_decom_by_hand")
def retinex_decom_loss(r_low: torch.Tensor, i_low: torch.Tensor, r_high: torch.Tensor,
                       i_high: torch.Tensor, low: torch.Tensor, high: torch.Tensor, *,
                       cross_weight: float = 0.001, reflectance_weight: float = 0.01,
                       smooth_weight: float = 0.1, lambda_g: float = 10.0,
                       reduction: str = "mean") -> torch.Tensor:
    """Retinex-Net decomposition loss (reconstruction, cross reconstruction, invariable
    reflectance, illumination smoothness).

    Args:
        cross_weight: weight of the cross reconstruction terms.
        reflectance_weight: weight of the invariable-reflectance term.
        smooth_weight: weight of the illumination smoothness terms.
        lambda_g: how sharply reflectance edges relax the smoothness.
    """
    check_reduction("retinex-decom", reduction)
    check_decomposition("retinex-decom", {"r_low": r_low, "r_high": r_high},
                        {"i_low": i_low, "i_high": i_high}, {"low": low, "high": high})
    recon = _l1(r_low * i_low, low) + _l1(r_high * i_high, high)
    cross = _l1(r_high * i_low, low) + _l1(r_low * i_high, high)
    invariable = _l1(r_low, r_high)
    smooth = (illumination_smoothness(i_low, r_low, lambda_g)
              + illumination_smoothness(i_high, r_high, lambda_g))
    total = recon + cross_weight * cross + reflectance_weight * invariable + smooth_weight * smooth
    return reduce(total, reduction)


@describe(formula="|R_l I_delta - S_h|_1 + 3 smooth(I_delta, R_l)",
          citation=_CITATION,
          test="tests/losses/test_lowlight.py::test_retinex_relight_by_hand")
def retinex_relight_loss(r_low: torch.Tensor, i_delta: torch.Tensor, high: torch.Tensor, *,
                         smooth_weight: float = 3.0, lambda_g: float = 10.0,
                         reduction: str = "mean") -> torch.Tensor:
    """Retinex-Net enhancement loss: re-lit reconstruction + illumination smoothness.

    Args:
        smooth_weight: weight of the illumination smoothness term.
        lambda_g: how sharply reflectance edges relax the smoothness.
    """
    check_reduction("retinex-relight", reduction)
    check_decomposition("retinex-relight", {"r_low": r_low}, {"i_delta": i_delta},
                        {"high": high})
    total = (_l1(r_low * i_delta, high)
             + smooth_weight * illumination_smoothness(i_delta, r_low, lambda_g))
    return reduce(total, reduction)


RetinexDecomLoss = loss_module(retinex_decom_loss, "RetinexDecomLoss", "retinex-decom")
RetinexRelightLoss = loss_module(retinex_relight_loss, "RetinexRelightLoss", "retinex-relight")
