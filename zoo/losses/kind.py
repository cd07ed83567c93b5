"""KinD losses (Zhang, Zhang, Guo, "Kindling the Darkness: A Practical Low-light Image
Enhancer", ACM MM 2019; weights as in the authors' code, github.com/zhangyhuaee/KinD).

``kind-decom`` - inputs ``(r_low, i_low, r_high, i_high, low, high)`` (R: 3 channels, I: 1)::

    L = |R_l o I_l - S_l|_1 + |R_h o I_h - S_h|_1                       (reconstruction, 1)
      + 0.01 |R_l - R_h|_1                                              (reflectance similarity)
      + 0.15 (is(I_l, S_l) + is(I_h, S_h))                              (illumination smoothness)
      + 0.2 mc(I_l, I_h)                                                (mutual consistency)

    is(I, S) = mean_d | grad_d I / max(|grad_d grey(S)|, eps) |,          eps = 0.01
    mc(I_l, I_h) = mean_d  M_d exp(-c M_d),  M_d = |grad_d I_l| + |grad_d I_h|,   c = 10

``kind-restore`` - inputs ``(r_restored, r_high)``::

    L = |R^ - R_h|_2^2 + (1 - SSIM(R^, R_h)) + |grad R^ - grad R_h|_2^2

(the paper writes ``- SSIM``; ``1 - SSIM`` differs by a constant and keeps the loss >= 0.  SSIM is
:mod:`zoo.losses.ssim` with its defaults; |.|_2^2 are mean squared errors, gradients signed.)

``kind-adjust`` - inputs ``(i_adjusted, i_target)`` (1 channel)::

    L = |L^ - L_t|_2^2 + | |grad L^| - |grad L_t| |_2^2

Gradients are the forward differences of :mod:`zoo.losses.finite_difference`, summed over
d in {x, y}; ``grey`` is ITU-R 601 luma (kornia ``rgb_to_grayscale``).
"""
from __future__ import annotations

import torch
from kornia.color import rgb_to_grayscale

from zoo.losses.base import check_images, check_reduction, reduce
from zoo.losses.finite_difference import abs_gradient, same_gradient
from zoo.losses.module import loss_module
from zoo.specs import describe

_CITATION = "Zhang, Zhang, Guo, Kindling the Darkness, ACM MM 2019"
from zoo.losses.retinex import check_decomposition
from zoo.losses.ssim import ssim_loss


def _mean(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).mean(dim=1)


def illumination_structure(i: torch.Tensor, image: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """``(B,)`` KinD illumination smoothness: |grad I| relative to the image's grey gradient."""
    grey = rgb_to_grayscale(image)
    return sum(_mean((abs_gradient(i, d) / abs_gradient(grey, d).clamp_min(eps)))
               for d in ("x", "y"))


def mutual_consistency(i_low: torch.Tensor, i_high: torch.Tensor, c: float = 10.0) -> torch.Tensor:
    """``(B,)`` KinD mutual consistency ``M exp(-c M)`` with ``M = |grad I_l| + |grad I_h|``."""
    total = 0
    for d in ("x", "y"):
        m = abs_gradient(i_low, d) + abs_gradient(i_high, d)
        total = total + _mean(m * torch.exp(-c * m))
    return total


@describe(formula="recon + 0.01 |R_l - R_h| + 0.15 sum |grad I / max(|grad S|, 0.01)| + 0.2 M "
                  "exp(-10 M), M = |grad I_l| + |grad I_h|",
          citation=_CITATION,
          test="tests/losses/test_lowlight.py::test_kind_decom_by_hand")
def kind_decom_loss(r_low: torch.Tensor, i_low: torch.Tensor, r_high: torch.Tensor,
                    i_high: torch.Tensor, low: torch.Tensor, high: torch.Tensor, *,
                    reflectance_weight: float = 0.01, smooth_weight: float = 0.15,
                    mutual_weight: float = 0.2, eps: float = 0.01, c: float = 10.0,
                    reduction: str = "mean") -> torch.Tensor:
    """KinD layer-decomposition loss.

    Args:
        reflectance_weight: weight of the reflectance similarity term.
        smooth_weight: weight of the illumination smoothness terms.
        mutual_weight: weight of the mutual consistency term.
        eps: floor of the image gradient dividing the illumination gradient.
        c: decay of the mutual consistency term M exp(-c M).
    """
    check_reduction("kind-decom", reduction)
    check_decomposition("kind-decom", {"r_low": r_low, "r_high": r_high},
                        {"i_low": i_low, "i_high": i_high}, {"low": low, "high": high})
    recon = _mean((r_low * i_low - low).abs()) + _mean((r_high * i_high - high).abs())
    similarity = _mean((r_low - r_high).abs())
    smooth = illumination_structure(i_low, low, eps) + illumination_structure(i_high, high, eps)
    total = (recon + reflectance_weight * similarity + smooth_weight * smooth
             + mutual_weight * mutual_consistency(i_low, i_high, c))
    return reduce(total, reduction)


@describe(formula="|R^ - R_h|^2 + (1 - SSIM(R^, R_h)) + |grad R^ - grad R_h|^2",
          citation=_CITATION,
          test="tests/losses/test_lowlight.py::test_kind_restore_by_parts")
def kind_restore_loss(r_restored: torch.Tensor, r_high: torch.Tensor, *,
                      reduction: str = "mean") -> torch.Tensor:
    """KinD reflectance-restoration loss: MSE + (1 - SSIM) + gradient MSE."""
    check_reduction("kind-restore", reduction)
    check_images("kind-restore", r_restored, r_high, min_size=11)
    mse = _mean((r_restored - r_high).pow(2))
    grad = sum(_mean((same_gradient(r_restored, d) - same_gradient(r_high, d)).pow(2))
               for d in ("x", "y"))
    structure = ssim_loss(r_restored, r_high, reduction="none")
    return reduce(mse + structure + grad, reduction)


@describe(formula="|L^ - L_t|^2 + | |grad L^| - |grad L_t| |^2",
          citation=_CITATION,
          test="tests/losses/test_lowlight.py::test_kind_adjust_by_hand")
def kind_adjust_loss(i_adjusted: torch.Tensor, i_target: torch.Tensor, *,
                     reduction: str = "mean") -> torch.Tensor:
    """KinD illumination-adjustment loss: MSE + MSE of gradient magnitudes."""
    check_reduction("kind-adjust", reduction)
    check_images("kind-adjust", i_adjusted, i_target, channels=1)
    mse = _mean((i_adjusted - i_target).pow(2))
    grad = sum(_mean((abs_gradient(i_adjusted, d) - abs_gradient(i_target, d)).pow(2))
               for d in ("x", "y"))
    return reduce(mse + grad, reduction)


KinDDecomLoss = loss_module(kind_decom_loss, "KinDDecomLoss", "kind-decom")
KinDRestoreLoss = loss_module(kind_restore_loss, "KinDRestoreLoss", "kind-restore")
KinDAdjustLoss = loss_module(kind_adjust_loss, "KinDAdjustLoss", "kind-adjust")
