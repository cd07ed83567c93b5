"""SSIM and MS-SSIM losses: ``1 - SSIM`` and ``1 - MS-SSIM``.

SSIM (Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to
structural similarity", IEEE TIP 13(4), 2004) with a Gaussian window of size 11 and sigma 1.5,
K1 = 0.01, K2 = 0.03, data range 1, valid filtering, averaged over pixels and channels:

    SSIM(x, y) = mean_p  (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))

MS-SSIM (Wang, Simoncelli, Bovik, "Multiscale structural similarity for image quality
assessment", Asilomar 2003), five scales with weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333:
contrast-structure ``cs_j`` at the first four scales and ``l * cs`` at the last, 2x2 average
pooling between scales, ``MS-SSIM = prod_j relu(cs_j)^w_j * relu(ssim_5)^w_5`` (the definition
pytorch_msssim computes).  Five scales need images of at least ``(win_size - 1) * 16 + 1`` pixels
(161 for the default window); pass a smaller ``win_size`` for smaller images.

The computation is the hand-written kernel in :mod:`zoo.losses.fast_ssim` (values equal to
pytorch_msssim within float32 rounding; faster forward+backward, see
``benchmarks/RESULTS-ssim.md``).
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.errors import InputError
from zoo.losses.base import check_images
from zoo.losses.reducers import check_reduction, reduce
from zoo.losses.fast_ssim import MS_SSIM_WEIGHTS, ms_ssim_per_image, ssim_per_channel


def _check_window(name: str, win_size: int, win_sigma: float) -> None:
    if int(win_size) != win_size or win_size < 1 or win_size % 2 == 0:
        raise InputError(f"{name}: win_size must be a positive odd integer, got {win_size!r}")
    if not win_sigma > 0:
        raise InputError(f"{name}: win_sigma must be positive, got {win_sigma!r}")


def ssim_loss(pred: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0,
              win_size: int = 11, win_sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03,
              reduction: str = "mean") -> torch.Tensor:
    """``1 - SSIM(pred, target)`` per image (mean over channels), then reduced."""
    check_reduction("ssim", reduction)
    _check_window("ssim", win_size, win_sigma)
    check_images("ssim", pred, target, min_size=win_size)
    per_image = ssim_per_channel(pred, target, data_range=data_range, win_size=win_size,
                                 win_sigma=win_sigma, k=(k1, k2)).mean(dim=1)
    return reduce(1 - per_image, reduction)


def ms_ssim_min_size(win_size: int, levels: int) -> int:
    """Smallest side for ``levels`` scales: the coarsest scale must still hold one window."""
    return (win_size - 1) * 2 ** (levels - 1) + 1


def ms_ssim_loss(pred: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0,
                 win_size: int = 11, win_sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03,
                 weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
                 reduction: str = "mean") -> torch.Tensor:
    """``1 - MS-SSIM(pred, target)`` per image, then reduced."""
    check_reduction("ms-ssim", reduction)
    _check_window("ms-ssim", win_size, win_sigma)
    weights = tuple(float(w) for w in weights)
    if not weights:
        raise InputError("ms-ssim: weights must name at least one scale")
    check_images("ms-ssim", pred, target,
                 min_size=ms_ssim_min_size(win_size, len(weights)))
    per_image = ms_ssim_per_image(pred, target, data_range=data_range, win_size=win_size,
                                  win_sigma=win_sigma, k=(k1, k2), weights=weights)
    return reduce(1 - per_image, reduction)


class SSIMLoss(nn.Module):
    """Module form of :func:`ssim_loss` (same options)."""

    def __init__(self, data_range: float = 1.0, win_size: int = 11, win_sigma: float = 1.5,
                 k1: float = 0.01, k2: float = 0.03, reduction: str = "mean"):
        super().__init__()
        _check_window("ssim", win_size, win_sigma)
        self.options = dict(data_range=data_range, win_size=win_size, win_sigma=win_sigma,
                            k1=k1, k2=k2, reduction=check_reduction("ssim", reduction))

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ssim_loss(pred, target, **self.options)


class MSSSIMLoss(nn.Module):
    """Module form of :func:`ms_ssim_loss` (same options)."""

    def __init__(self, data_range: float = 1.0, win_size: int = 11, win_sigma: float = 1.5,
                 k1: float = 0.01, k2: float = 0.03,
                 weights: tuple[float, ...] = MS_SSIM_WEIGHTS, reduction: str = "mean"):
        super().__init__()
        _check_window("ms-ssim", win_size, win_sigma)
        self.options = dict(data_range=data_range, win_size=win_size, win_sigma=win_sigma,
                            k1=k1, k2=k2, weights=tuple(weights),
                            reduction=check_reduction("ms-ssim", reduction))

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ms_ssim_loss(pred, target, **self.options)
