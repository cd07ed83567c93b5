"""``psnr``: peak signal-to-noise ratio per image.

    PSNR = 10 log10(1 / MSE),   MSE = mean over C, H, W of (pred - gt)^2,   images in [0, 1]

which equals ``skimage.metrics.peak_signal_noise_ratio(gt, pred, data_range=255)`` on the uint8
images (the call of Flare7K's ``evaluate.py``) when ``quantize=True``.  Identical images give
``inf``, as scikit-image does.
"""
from __future__ import annotations

import torch

from zoo.specs import describe

from .base import SKIMAGE_CITATION, Metric, work_dtype


def psnr(pred: torch.Tensor, gt: torch.Tensor, *, on_uint8_grid: bool = False) -> torch.Tensor:
    """Per-image PSNR of (B, C, H, W) tensors in [0, 1] (no checks, no quantisation).

    ``on_uint8_grid``: the images hold 8-bit levels ``k / 255``; the differences are then the
    integers of the levels (exact in float32) and only their sum is taken in float64.
    """
    dt = work_dtype(pred)
    if on_uint8_grid:
        d = (pred * 255).round().float() - (gt * 255).round().float()
        mse = (d * d).flatten(1).sum(dim=1, dtype=dt) / (d[0].numel() * 255.0 ** 2)
    else:
        mse = (pred.to(dt) - gt.to(dt)).pow(2).flatten(1).mean(dim=1)
    return (10.0 * torch.log10(1.0 / mse)).float()


@describe(formula="10 log10(1 / mean((pred - gt)^2)), images in [0, 1]",
          citation=SKIMAGE_CITATION, test="tests/metrics/test_metric_psnr_ssim.py")
class PSNR(Metric):
    """PSNR in dB per image (higher is better); ``quantize`` rounds to 8 bits first."""

    name = "psnr"

    def forward(self, pred: torch.Tensor, gt: torch.Tensor, mask=None) -> torch.Tensor:
        pred, gt = self.prepare(pred, gt)
        return psnr(pred, gt, on_uint8_grid=self.quantize)
