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

from zoo.errors import InputError
from zoo.losses.base import check_images
from zoo.losses.reducers import check_reduction, reduce
from zoo.losses.fast_ssim import MS_SSIM_WEIGHTS, ms_ssim_per_image, ssim_per_channel
from zoo.losses.module import loss_module
from zoo.specs import describe


def _check_window(name: str, win_size: int, win_sigma: float) -> None:
    if int(win_size) != win_size or win_size < 1 or win_size % 2 == 0:
        raise InputError(f"{name}: win_size must be a positive odd integer, got {win_size!r}")
    if not win_sigma > 0:
        raise InputError(f"{name}: win_sigma must be positive, got {win_sigma!r}")


@describe(formula="1 - mean (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + "
                  "s_y^2 + C2)), C1 = (0.01 L)^2, C2 = (0.03 L)^2",
          citation="Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 2004",
          test="tests/losses/test_ssim.py::test_ssim_matches_pytorch_msssim_and_piq")
def ssim_loss(pred: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0,
              win_size: int = 11, win_sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03,
              reduction: str = "mean") -> torch.Tensor:
    """``1 - SSIM(pred, target)`` per image (mean over channels), then reduced.

    Args:
        data_range: value range L of the images (1 for [0, 1]).
        win_size: side of the Gaussian window (odd).
        win_sigma: standard deviation of the Gaussian window.
        k1: stabilising constant, C1 = (k1 L)^2.
        k2: stabilising constant, C2 = (k2 L)^2.
    """
    check_reduction("ssim", reduction)
    _check_window("ssim", win_size, win_sigma)
    check_images("ssim", pred, target, min_size=win_size)
    per_image = ssim_per_channel(pred, target, data_range=data_range, win_size=win_size,
                                 win_sigma=win_sigma, k=(k1, k2)).mean(dim=1)
    return reduce(1 - per_image, reduction)


def ms_ssim_min_size(win_size: int, levels: int) -> int:
    """Smallest side for ``levels`` scales: the coarsest scale must still hold one window."""
    return (win_size - 1) * 2 ** (levels - 1) + 1


@describe(formula="1 - prod_{j<5} relu(cs_j)^w_j * relu(ssim_5)^w_5, 2x2 avg-pool between scales",
          citation="Wang, Simoncelli, Bovik, Asilomar 2003",
          test="tests/losses/test_ssim.py::test_ms_ssim_matches_pytorch_msssim_and_piq")
def ms_ssim_loss(pred: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0,
                 win_size: int = 11, win_sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03,
                 weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
                 reduction: str = "mean") -> torch.Tensor:
    """``1 - MS-SSIM(pred, target)`` per image, then reduced.

    Args:
        data_range: value range L of the images (1 for [0, 1]).
        win_size: side of the Gaussian window (odd); five scales need images of at least
            (win_size - 1) * 16 + 1 pixels.
        win_sigma: standard deviation of the Gaussian window.
        k1: stabilising constant, C1 = (k1 L)^2.
        k2: stabilising constant, C2 = (k2 L)^2.
        weights: exponent of each scale, finest first (their count is the number of scales).
    """
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


def _check_ssim_options(*, win_size: int, win_sigma: float, **_: object) -> None:
    _check_window("ssim", win_size, win_sigma)


def _check_ms_ssim_options(*, win_size: int, win_sigma: float, weights: tuple[float, ...],
                           **_: object) -> None:
    _check_window("ms-ssim", win_size, win_sigma)
    if not tuple(weights):
        raise InputError("ms-ssim: weights must name at least one scale")


SSIMLoss = loss_module(ssim_loss, "SSIMLoss", "ssim", check_options=_check_ssim_options)
MSSSIMLoss = loss_module(ms_ssim_loss, "MSSSIMLoss", "ms-ssim",
                         check_options=_check_ms_ssim_options)
