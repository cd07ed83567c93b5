"""``l1+ms-ssim``: the mixed loss of Zhao, Gallo, Frosio, Kautz, "Loss Functions for Image
Restoration with Neural Networks", IEEE TCI 3(1), 2017, eq. (12):

    L_mix = alpha * (1 - MS-SSIM(pred, target)) + (1 - alpha) * G_sigma * |pred - target|,  alpha = 0.84

The L1 variant implemented here: the absolute error ``|pred - target|`` of every channel is
filtered by the normalised 2-D Gaussian ``G_sigma`` (separable, ``l1_win_size`` taps, sigma
``l1_sigma``, valid filtering - the same window and border handling as the SSIM maps) and averaged
over the remaining pixels and channels.  Zhao et al. weight the L1 term with the Gaussian of the
coarsest MS-SSIM scale (their sigma_G^M); as this MS-SSIM uses one window (11 taps, sigma 1.5)
on downsampled images, the defaults use that window at full resolution.  Pass ``l1_sigma`` (and a
matching ``l1_win_size``) to change it.  Filtering is linear, so away from the border this is a
weighted L1 whose weights sum to one.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.errors import InputError
from zoo.losses.base import check_images
from zoo.losses.reducers import check_reduction, reduce
from zoo.losses.fast_ssim import MS_SSIM_WEIGHTS, gaussian_window
from zoo.losses.module import loss_module
from zoo.specs import describe
from zoo.losses.ssim import ms_ssim_loss


def gaussian_l1(pred: torch.Tensor, target: torch.Tensor, win_size: int,
                sigma: float) -> torch.Tensor:
    """``(B,)`` mean of the Gaussian-filtered absolute error (valid filtering)."""
    err = (pred - target).abs()
    c = err.shape[1]
    g = gaussian_window(win_size, sigma, err.dtype, err.device)
    k = g.numel()
    err = F.conv2d(err, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    err = F.conv2d(err, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return err.flatten(1).mean(dim=1)


@describe(formula="alpha (1 - MS-SSIM) + (1 - alpha) mean(G_sigma * |pred - target|), alpha = 0.84",
          citation="Zhao, Gallo, Frosio, Kautz, Loss Functions for Image Restoration with Neural "
                   "Networks, IEEE TCI 2017",
          test="tests/losses/test_structural.py::test_l1_ms_ssim_by_parts")
def l1_ms_ssim_loss(pred: torch.Tensor, target: torch.Tensor, *, alpha: float = 0.84,
                    data_range: float = 1.0, win_size: int = 11, win_sigma: float = 1.5,
                    l1_win_size: int = 11, l1_sigma: float = 1.5,
                    weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
                    reduction: str = "mean") -> torch.Tensor:
    """``alpha (1 - MS-SSIM) + (1 - alpha) G_sigma * L1`` per image (Zhao et al. 2017).

    Args:
        alpha: weight of the MS-SSIM term, in [0, 1]; the L1 term gets 1 - alpha.
        data_range: value range of the images (1 for [0, 1]).
        win_size: MS-SSIM Gaussian window side (odd).
        win_sigma: MS-SSIM Gaussian window standard deviation.
        l1_win_size: side of the Gaussian window weighting the L1 error (odd).
        l1_sigma: standard deviation of that window.
        weights: MS-SSIM scale exponents, finest first.
    """
    check_reduction("l1+ms-ssim", reduction)
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"l1+ms-ssim: alpha must lie in [0, 1], got {alpha}")
    if l1_win_size < 1 or l1_win_size % 2 == 0:
        raise InputError(f"l1+ms-ssim: l1_win_size must be a positive odd integer, "
                         f"got {l1_win_size}")
    check_images("l1+ms-ssim", pred, target, min_size=l1_win_size)
    ms = ms_ssim_loss(pred, target, data_range=data_range, win_size=win_size,
                      win_sigma=win_sigma, weights=weights, reduction="none")
    l1 = gaussian_l1(pred, target, l1_win_size, l1_sigma)
    return reduce(alpha * ms + (1 - alpha) * l1, reduction)


L1MSSSIMLoss = loss_module(l1_ms_ssim_loss, "L1MSSSIMLoss", "l1+ms-ssim")
