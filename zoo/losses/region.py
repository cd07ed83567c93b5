"""``region``: the region loss of MBLLEN (Lv, Lu, Wu, Lim, "MBLLEN: Low-light Image/Video
Enhancement Using CNNs", BMVC 2018, eq. (5)) -- the paper's equation:

    L_region = w_L * mean_{p in dark} |pred_p - gt_p| + w_H * mean_{p not in dark} |pred_p - gt_p|

``dark`` is the darkest ``dark_fraction`` (40 %) of the pixels of the *prediction* by the grey
value ``0.39 R + 0.5 G + 0.11 B`` (the weights of the released code,
github.com/Lvfeifan/MBLLEN ``main/train.py``, ``my_loss``), w_L = 4, w_H = 1; means run over
pixels and channels of each image.  The selection itself is not differentiated.

The released ``my_loss`` does not compute this.  It takes the threshold ``yu`` from
``top_k(-grey)``, i.e. *minus* the 40 % grey quantile, and keeps the pixels with
``grey <= yu``: for non-negative images that mask is empty, so its ``Region_loss`` is plain L1
over the image (``l1`` here), ``0.4 m_dark + 0.6 m_rest`` where this loss is
``4 m_dark + m_rest`` -- between a tenth and 0.6 of it.  That is a sign error, not a design
choice, so it is not offered as a variant.  With the sign fixed, the code's
``mean(4 |e| o dark + |e| o (1 - dark))`` averages over *all* pixels: this loss with
``dark_weight = 4 k / N`` and ``bright_weight = (N - k) / N`` (k dark pixels of N; 1.6 and 0.6
for 40 %), available through those two options.  ``tests/losses/test_lowlight.py`` checks both
statements against a hand port of ``my_loss``.
"""
from __future__ import annotations

import torch

from zoo.errors import InputError
from zoo.losses.base import check_images
from zoo.losses.reducers import check_reduction, reduce
from zoo.losses.module import loss_module
from zoo.specs import describe

GREY_WEIGHTS = (0.39, 0.5, 0.11)


@describe(formula="4 mean_dark |pred - gt| + 1 mean_rest |pred - gt|, dark = lowest 40% of 0.39R "
                  "+ 0.5G + 0.11B of pred",
          citation="Lv, Lu, Wu, Lim, MBLLEN, BMVC 2018",
          test="tests/losses/test_lowlight.py::test_region_by_hand")
def region_loss(pred: torch.Tensor, target: torch.Tensor, *, dark_fraction: float = 0.4,
                dark_weight: float = 4.0, bright_weight: float = 1.0,
                reduction: str = "mean") -> torch.Tensor:
    """``dark_weight`` x L1 on the darkest pixels of pred + ``bright_weight`` x L1 on the rest.

    Args:
        dark_fraction: share of pixels, darkest first, in the dark region, in (0, 1).
        dark_weight: weight of the L1 error on the dark region.
        bright_weight: weight of the L1 error on the rest.
    """
    check_reduction("region", reduction)
    check_images("region", pred, target, channels=3)
    if not 0 < dark_fraction < 1:
        raise InputError(f"region: dark_fraction must lie in (0, 1), got {dark_fraction}")
    b, c, h, w = pred.shape
    n = h * w
    k = min(max(int(n * dark_fraction), 1), n - 1) if n > 1 else 1
    weights = pred.new_tensor(GREY_WEIGHTS).view(1, 3, 1, 1)
    grey = (pred.detach() * weights).sum(dim=1).flatten(1)              # (B, HW)
    dark_idx = torch.topk(grey, k, dim=1, largest=False).indices
    dark = torch.zeros_like(grey, dtype=torch.bool).scatter_(1, dark_idx, True)
    err = (pred - target).abs().mean(dim=1).flatten(1)                  # (B, HW), mean over C
    dark_f = dark.to(err.dtype)
    dark_mean = (err * dark_f).sum(dim=1) / dark_f.sum(dim=1)
    bright_n = (1 - dark_f).sum(dim=1)
    bright_mean = (err * (1 - dark_f)).sum(dim=1) / bright_n.clamp_min(1)
    return reduce(dark_weight * dark_mean + bright_weight * bright_mean, reduction)


RegionLoss = loss_module(region_loss, "RegionLoss", "region")
