"""Zero-DCE non-reference losses (Guo, Li, Guo, Loy, Hou, Kwong, Cong, "Zero-Reference Deep Curve
Estimation for Low-Light Image Enhancement", CVPR 2020; constants and weights as in the authors'
PyTorch code, github.com/Li-Chongyi/Zero-DCE, ``Myloss.py`` and ``lowlight_train.py``).

* ``zero-dce-spatial`` - inputs ``(enhanced, low)``: spatial consistency, eq. (3).  Both images are
  reduced to their channel mean and average-pooled over 4x4 regions; with ``D_k(Y)`` the
  difference of a region to its left/right/up/down neighbour (zero padding),
  ``L_spa = mean sum_k (D_k(Y) - D_k(I))^2``.
* ``zero-dce-exposure`` - input ``(enhanced,)``: exposure control, eq. (4):
  ``L_exp = mean_patches (Y_patch - E)^2`` over non-overlapping 16x16 patches of the channel mean,
  well-exposedness E = 0.6.
* ``zero-dce-colour`` - input ``(enhanced,)``: colour constancy, eq. (5): with ``J^p`` the mean of
  channel p, ``L_col = sqrt(sum_{(p,q) in {(R,G),(R,B),(G,B)}} ((J^p - J^q)^2)^2)`` (the code's
  form: squared differences, squared again and summed under a square root).
* ``zero-dce-illumination-tv`` - input ``(curves,)``: illumination smoothness of the curve
  parameter maps A (any channel count; 24 in Zero-DCE), eq. (6) as the code computes it:
  ``L_tvA = 2 (sum (dA/dy)^2 / ((H-1) W) + sum (dA/dx)^2 / (H (W-1)))`` per image - the sums run
  over channels too, while the counts do not (so it grows with the channel count; the weight 200
  was tuned for this form).
* ``zero-dce`` - inputs ``(enhanced, low, curves)``: the training objective of
  ``lowlight_train.py``, ``L = 200 L_tvA + 1 L_spa + 5 L_col + 10 L_exp`` (E = 0.6, patch 16).

Reduction: each term is a per-image value (``reduction="none"``), averaged (mean) or summed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.errors import InputError
from zoo.losses.base import check_images
from zoo.losses.reducers import check_reduction, reduce, sum_terms
from zoo.losses.module import loss_module
from zoo.specs import describe

_CITATION = "Guo et al., Zero-Reference Deep Curve Estimation, CVPR 2020"


def _mean(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).mean(dim=1)


def _neighbour_differences(region_means: torch.Tensor) -> list[torch.Tensor]:
    """Differences to the left, right, up and down neighbour (zero padding)."""
    p = F.pad(region_means, (1, 1, 1, 1))
    centre = p[:, :, 1:-1, 1:-1]
    return [centre - p[:, :, 1:-1, :-2], centre - p[:, :, 1:-1, 2:],
            centre - p[:, :, :-2, 1:-1], centre - p[:, :, 2:, 1:-1]]


@describe(formula="mean sum_{k in l,r,u,d} (D_k(Y) - D_k(I))^2",
          citation=_CITATION,
          test="tests/losses/test_lowlight.py::test_zero_dce_terms_by_hand")
def zero_dce_spatial_loss(enhanced: torch.Tensor, low: torch.Tensor, *, region: int = 4,
                          reduction: str = "mean") -> torch.Tensor:
    """Spatial consistency: neighbour differences of 4x4 region means must be preserved.

    Args:
        region: side of the square regions whose means are compared.
    """
    check_reduction("zero-dce-spatial", reduction)
    check_images("zero-dce-spatial", enhanced, low, min_size=region)
    y = F.avg_pool2d(enhanced.mean(dim=1, keepdim=True), region)
    i = F.avg_pool2d(low.mean(dim=1, keepdim=True), region)
    total = sum_terms((dy - di).pow(2) for dy, di in zip(_neighbour_differences(y),
                                                        _neighbour_differences(i)))
    return reduce(_mean(total), reduction)


@describe(formula="mean_patches (Y_patch - 0.6)^2",
          citation=_CITATION,
          test="tests/losses/test_lowlight.py::test_zero_dce_terms_by_hand")
def zero_dce_exposure_loss(enhanced: torch.Tensor, *, well_exposed: float = 0.6,
                           patch: int = 16, reduction: str = "mean") -> torch.Tensor:
    """Exposure control: local 16x16 mean intensities pulled towards E = 0.6.

    Args:
        well_exposed: target mean intensity E of a patch.
        patch: side of the non-overlapping patches.
    """
    check_reduction("zero-dce-exposure", reduction)
    check_images("zero-dce-exposure", enhanced, min_size=patch)
    means = F.avg_pool2d(enhanced.mean(dim=1, keepdim=True), patch)
    return reduce(_mean((means - well_exposed).pow(2)), reduction)


@describe(formula="sqrt(sum_{(p,q)} ((J^p - J^q)^2)^2), (p,q) in (R,G), (R,B), (G,B)",
          citation=_CITATION,
          test="tests/losses/test_lowlight.py::test_zero_dce_terms_by_hand")
def zero_dce_colour_loss(enhanced: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Colour constancy (grey-world): channel means pulled together."""
    check_reduction("zero-dce-colour", reduction)
    check_images("zero-dce-colour", enhanced, channels=3)
    r, g, b = enhanced.mean(dim=(2, 3)).unbind(dim=1)
    d_rg, d_rb, d_gb = (r - g).pow(2), (r - b).pow(2), (g - b).pow(2)
    s = d_rg.pow(2) + d_rb.pow(2) + d_gb.pow(2)
    # sqrt has an infinite slope at 0 where the true gradient (of s ~ d^4) is 0: clamp there
    return reduce(torch.sqrt(s.clamp_min(torch.finfo(s.dtype).tiny)), reduction)


@describe(formula="2 (sum (dA/dy)^2 / ((H-1) W) + sum (dA/dx)^2 / (H (W-1)))",
          citation=_CITATION,
          test="tests/losses/test_lowlight.py::test_zero_dce_terms_by_hand")
def zero_dce_illumination_tv_loss(curves: torch.Tensor, *,
                                  reduction: str = "mean") -> torch.Tensor:
    """Illumination smoothness of the curve maps: 2 (sum dy^2 / (H-1)W + sum dx^2 / H(W-1))."""
    check_reduction("zero-dce-illumination-tv", reduction)
    check_images("zero-dce-illumination-tv", curves, min_size=2)
    channels = curves.shape[1]
    dy = channels * _mean((curves[:, :, 1:, :] - curves[:, :, :-1, :]).pow(2))
    dx = channels * _mean((curves[:, :, :, 1:] - curves[:, :, :, :-1]).pow(2))
    return reduce(2 * (dy + dx), reduction)


@describe(formula="200 L_tvA + 1 L_spa + 5 L_col + 10 L_exp (E = 0.6, patch 16)",
          citation=_CITATION + " (weights of the authors' lowlight_train.py)",
          test="tests/losses/test_lowlight.py::test_zero_dce_total_is_weighted_sum")
def zero_dce_loss(enhanced: torch.Tensor, low: torch.Tensor, curves: torch.Tensor, *,
                  tv_weight: float = 200.0, spatial_weight: float = 1.0,
                  colour_weight: float = 5.0, exposure_weight: float = 10.0,
                  well_exposed: float = 0.6, patch: int = 16,
                  reduction: str = "mean") -> torch.Tensor:
    """Zero-DCE objective ``200 L_tvA + L_spa + 5 L_col + 10 L_exp``.

    Args:
        tv_weight: weight of the illumination smoothness term.
        spatial_weight: weight of the spatial consistency term.
        colour_weight: weight of the colour constancy term.
        exposure_weight: weight of the exposure control term.
        well_exposed: target mean intensity E of the exposure term.
        patch: patch side of the exposure term.
    """
    check_reduction("zero-dce", reduction)
    if curves.dim() == 4 and enhanced.dim() == 4 and curves.shape[0] != enhanced.shape[0]:
        raise InputError(f"zero-dce: curves batch {curves.shape[0]} differs from enhanced "
                         f"batch {enhanced.shape[0]}")
    total = (tv_weight * zero_dce_illumination_tv_loss(curves, reduction="none")
             + spatial_weight * zero_dce_spatial_loss(enhanced, low, reduction="none")
             + colour_weight * zero_dce_colour_loss(enhanced, reduction="none")
             + exposure_weight * zero_dce_exposure_loss(enhanced, well_exposed=well_exposed,
                                                        patch=patch, reduction="none"))
    return reduce(total, reduction)


ZeroDCESpatialLoss = loss_module(zero_dce_spatial_loss, "ZeroDCESpatialLoss", "zero-dce-spatial")
ZeroDCEExposureLoss = loss_module(zero_dce_exposure_loss, "ZeroDCEExposureLoss",
                                  "zero-dce-exposure")
ZeroDCEColourLoss = loss_module(zero_dce_colour_loss, "ZeroDCEColourLoss", "zero-dce-colour")
ZeroDCEIlluminationTVLoss = loss_module(zero_dce_illumination_tv_loss,
                                        "ZeroDCEIlluminationTVLoss", "zero-dce-illumination-tv")
ZeroDCELoss = loss_module(zero_dce_loss, "ZeroDCELoss", "zero-dce")
