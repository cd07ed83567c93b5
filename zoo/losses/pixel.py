"""Pixel losses: L1, L2, smooth L1, Huber, Charbonnier and log-MSE (negative PSNR).

With ``d = pred - target`` per element:

* ``l1``           mean |d|
* ``l2``           mean d^2
* ``smooth-l1``    mean of 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta   (Girshick, Fast R-CNN, ICCV 2015)
* ``huber``        mean of 0.5 d^2 if |d| <= delta else delta (|d| - 0.5 delta) (Huber, Ann. Math. Stat. 1964)
* ``charbonnier``  mean sqrt(d^2 + eps^2)   (Charbonnier et al., ICIP 1994; LapSRN, Lai et al. CVPR 2017)
* ``log-mse``      10 log10(mean_image d^2 + eps), per image

``log-mse`` is ``-PSNR`` up to a constant: for data range 1, ``PSNR = -10 log10(MSE)``, so
minimising it maximises PSNR (each image counts in decibels, so a nearly perfect image keeps
pulling; ``eps`` bounds it at ``10 log10(eps)`` = -80 dB by default, its minimum).

The first four equal torch's ``F.l1_loss``, ``F.mse_loss``, ``F.smooth_l1_loss`` and
``F.huber_loss`` (tests/losses/test_pixel.py).  ``reduction="none"`` gives one value per image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.errors import InputError
from zoo.losses.base import check_images
from zoo.losses.reducers import check_reduction, reduce
from zoo.losses.module import loss_module
from zoo.specs import describe


def _prepare(name, pred, target, reduction):
    check_reduction(name, reduction)
    check_images(name, pred, target)


@describe(formula="mean |pred - target|",
          citation="(classical; = torch F.l1_loss)",
          test="tests/losses/test_pixel.py::test_matches_torch")
def l1_loss(pred: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Mean absolute error ``mean |pred - target|``."""
    _prepare("l1", pred, target, reduction)
    return reduce(F.l1_loss(pred, target, reduction="none"), reduction)


@describe(formula="mean (pred - target)^2",
          citation="(classical; = torch F.mse_loss)",
          test="tests/losses/test_pixel.py::test_matches_torch")
def l2_loss(pred: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error ``mean (pred - target)^2``."""
    _prepare("l2", pred, target, reduction)
    return reduce(F.mse_loss(pred, target, reduction="none"), reduction)


@describe(formula="mean(0.5 d^2/beta if |d| < beta else |d| - beta/2), d = pred - target",
          citation="Girshick, Fast R-CNN, ICCV 2015",
          test="tests/losses/test_pixel.py::test_matches_torch")
def smooth_l1_loss(pred: torch.Tensor, target: torch.Tensor, *, beta: float = 1.0,
                   reduction: str = "mean") -> torch.Tensor:
    """Smooth L1: quadratic ``0.5 d^2 / beta`` below ``beta``, linear ``|d| - beta/2`` above.

    Args:
        beta: threshold between the quadratic and the linear part (>= 0).
    """
    _prepare("smooth-l1", pred, target, reduction)
    if beta < 0:
        raise InputError(f"smooth-l1: beta must be >= 0, got {beta}")
    return reduce(F.smooth_l1_loss(pred, target, beta=beta, reduction="none"), reduction)


@describe(formula="mean(0.5 d^2 if |d| <= delta else delta (|d| - delta/2))",
          citation="Huber, Robust Estimation of a Location Parameter, Ann. Math. Stat. 1964",
          test="tests/losses/test_pixel.py::test_matches_torch")
def huber_loss(pred: torch.Tensor, target: torch.Tensor, *, delta: float = 1.0,
               reduction: str = "mean") -> torch.Tensor:
    """Huber: ``0.5 d^2`` for ``|d| <= delta``, ``delta (|d| - delta/2)`` beyond.

    Args:
        delta: threshold between the quadratic and the linear part (> 0).
    """
    _prepare("huber", pred, target, reduction)
    if not delta > 0:
        raise InputError(f"huber: delta must be > 0, got {delta}")
    return reduce(F.huber_loss(pred, target, delta=delta, reduction="none"), reduction)


@describe(formula="mean sqrt((pred - target)^2 + eps^2)",
          citation="Charbonnier et al., ICIP 1994; Lai et al., LapSRN, CVPR 2017",
          test="tests/losses/test_pixel.py::test_charbonnier_by_hand")
def charbonnier_loss(pred: torch.Tensor, target: torch.Tensor, *, eps: float = 1e-3,
                     reduction: str = "mean") -> torch.Tensor:
    """Charbonnier ``mean sqrt((pred - target)^2 + eps^2)``: a differentiable L1.

    Its minimum (identical inputs) is ``eps``, not 0.

    Args:
        eps: smoothing constant (> 0); the loss of identical inputs.
    """
    _prepare("charbonnier", pred, target, reduction)
    if not eps > 0:
        raise InputError(f"charbonnier: eps must be > 0, got {eps}")
    d = pred - target
    return reduce(torch.sqrt(d * d + eps * eps), reduction)


@describe(formula="10 log10(mean_image (pred - target)^2 + eps) = -PSNR",
          citation="PSNR: e.g. Huynh-Thu & Ghanbari, Electronics Letters 2008",
          test="tests/losses/test_pixel.py::test_log_mse_is_negative_psnr")
def log_mse_loss(pred: torch.Tensor, target: torch.Tensor, *, eps: float = 1e-8,
                 reduction: str = "mean") -> torch.Tensor:
    """``10 log10(MSE + eps)`` per image: ``-PSNR`` (data range 1) up to ``eps``.

    Args:
        eps: added to the MSE before the log (> 0); bounds the loss below at 10 log10(eps).
    """
    _prepare("log-mse", pred, target, reduction)
    if not eps > 0:
        raise InputError(f"log-mse: eps must be > 0, got {eps}")
    mse = (pred - target).pow(2).flatten(1).mean(dim=1)
    return reduce(10 * torch.log10(mse + eps), reduction)


L1Loss = loss_module(l1_loss, "L1Loss", "l1")
L2Loss = loss_module(l2_loss, "L2Loss", "l2")
SmoothL1Loss = loss_module(smooth_l1_loss, "SmoothL1Loss", "smooth-l1")
HuberLoss = loss_module(huber_loss, "HuberLoss", "huber")
CharbonnierLoss = loss_module(charbonnier_loss, "CharbonnierLoss", "charbonnier")
LogMSELoss = loss_module(log_mse_loss, "LogMSELoss", "log-mse")
