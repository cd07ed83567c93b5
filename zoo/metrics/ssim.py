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

Window sums over exactly those windows (:func:`box_sum`); computed in float64 (float32 on MPS),
the window sums of quantised images exactly in float32 (:func:`ssim_map`).  Images must be at
least 7 x 7.
"""
from __future__ import annotations

import torch

from zoo.specs import describe

from .base import SKIMAGE_CITATION, Metric, work_dtype

WINDOW = 7
K1, K2 = 0.01, 0.03


def box_sum(t: torch.Tensor, k: int = WINDOW) -> torch.Tensor:
    """Sum over every ``k x k`` window lying inside the image ('valid'), separably as ``k``
    shifted adds per axis: ``(..., H, W) -> (..., H - k + 1, W - k + 1)``."""
    h, w = t.shape[-2] - k + 1, t.shape[-1] - k + 1
    rows = t[..., 0:h, :].clone()
    for i in range(1, k):
        rows += t[..., i:i + h, :]
    out = rows[..., 0:w].clone()
    for i in range(1, k):
        out += rows[..., i:i + w]
    return out


def ssim(pred: torch.Tensor, gt: torch.Tensor, data_range: float = 1.0, *,
         on_uint8_grid: bool = False) -> torch.Tensor:
    """Per-image SSIM of (B, C, H, W) tensors (no checks, no quantisation)."""
    return ssim_map(pred, gt, data_range, on_uint8_grid=on_uint8_grid).mean(dim=(2, 3)) \
        .mean(dim=1).float()


def ssim_map(pred: torch.Tensor, gt: torch.Tensor, data_range: float = 1.0, *,
             on_uint8_grid: bool = False) -> torch.Tensor:
    """The (B, C, H - 6, W - 6) SSIM map: one value per window lying inside the image.

    Entry ``[i, j]`` belongs to the window centred on pixel ``(i + 3, j + 3)``.
    ``on_uint8_grid``: the images hold 8-bit levels ``k / 255`` (``quantize=True``); the window
    sums of ``x``, ``y``, ``x^2 + y^2`` and ``x y`` are then taken in float32 on the integers
    ``k`` -- exact, since no sum exceeds ``49 * 2 * 255^2 < 2^24`` -- and the rest in float64,
    which gives float64's values at a quarter of its cost.
    """
    dt = work_dtype(pred)
    if on_uint8_grid:
        x, y = (gt * 255).round().float(), (pred * 255).round().float()
        scale = 255.0 * data_range
    else:
        x, y = gt.to(dt), pred.to(dt)
        scale = data_range
    n = WINDOW * WINDOW
    cov_norm = n / (n - 1)
    c = x.shape[1]
    sums = box_sum(torch.cat([x, y, x * x + y * y, x * y], dim=1)).to(dt) / n
    ux, uy, squares, cross = sums.split(c, dim=1)
    uxuy = ux * uy
    uu = ux * ux + uy * uy
    v = cov_norm * (squares - uu)  # s_x^2 + s_y^2
    vxy = cov_norm * (cross - uxuy)
    c1, c2 = (K1 * scale) ** 2, (K2 * scale) ** 2
    return ((2 * uxuy + c1) * (2 * vxy + c2)) / ((uu + c1) * (v + c2))


@describe(formula="mean over valid windows and channels of (2 ux uy + C1)(2 sxy + C2) / "
                  "((ux^2 + uy^2 + C1)(sx^2 + sy^2 + C2)), C1 = (0.01 L)^2, C2 = (0.03 L)^2",
          citation="Wang et al., IEEE TIP 2004; " + SKIMAGE_CITATION,
          test="tests/metrics/test_metric_psnr_ssim.py")
class SSIM(Metric):
    """SSIM per image (higher is better), equal to scikit-image's on 8-bit images."""

    name = "ssim"

    def forward(self, pred: torch.Tensor, gt: torch.Tensor, mask=None) -> torch.Tensor:
        pred, gt = self.prepare(pred, gt, min_size=WINDOW)
        return ssim(pred, gt, on_uint8_grid=self.quantize)
