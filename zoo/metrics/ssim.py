"""``ssim``: structural similarity per image, exactly scikit-image's default.

Wang et al., "Image Quality Assessment: From Error Visibility to Structural Similarity", IEEE
TIP 2004, as computed by ``skimage.metrics.structural_similarity(gt, pred, channel_axis=2,
data_range=255)`` (the call of Flare7K's ``evaluate.py``, written there with the older
``multichannel=True``):

* 7 x 7 uniform window, sample covariances (normalised by ``N - 1 = 48``);
* ``SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))``
  with ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2`` and ``L`` the data range (1 here, 255 there:
  the index does not change under a common scaling);
* the map is averaged over the positions whose window lies inside the image (scikit-image
  filters with reflection, then crops 3 pixels from each border: the same set), then over the
  channels.

A stride-1 ``avg_pool2d`` without padding computes exactly those windows.  Computed in float64
(float32 on MPS).  Images must be at least 7 x 7.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.specs import describe

from .base import SKIMAGE_CITATION, Metric, work_dtype

WINDOW = 7
K1, K2 = 0.01, 0.03


def ssim(pred: torch.Tensor, gt: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image SSIM of (B, C, H, W) tensors (no checks, no quantisation)."""
    return ssim_map(pred, gt, data_range).mean(dim=(2, 3)).mean(dim=1).float()


def ssim_map(pred: torch.Tensor, gt: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """The (B, C, H - 6, W - 6) SSIM map: one value per window lying inside the image.

    Entry ``[i, j]`` belongs to the window centred on pixel ``(i + 3, j + 3)``.
    """
    dt = work_dtype(pred)
    x, y = gt.to(dt), pred.to(dt)
    n = WINDOW * WINDOW
    cov_norm = n / (n - 1)

    def mean(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, WINDOW, stride=1)

    ux, uy = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


@describe(formula="mean over valid windows and channels of (2 ux uy + C1)(2 sxy + C2) / "
                  "((ux^2 + uy^2 + C1)(sx^2 + sy^2 + C2)), C1 = (0.01 L)^2, C2 = (0.03 L)^2",
          citation="Wang et al., IEEE TIP 2004; " + SKIMAGE_CITATION,
          test="tests/metrics/test_metric_psnr_ssim.py")
class SSIM(Metric):
    """SSIM per image (higher is better), equal to scikit-image's on 8-bit images."""

    name = "ssim"

    def forward(self, pred: torch.Tensor, gt: torch.Tensor, mask=None) -> torch.Tensor:
        pred, gt = self.prepare(pred, gt, min_size=WINDOW)
        return ssim(pred, gt)
