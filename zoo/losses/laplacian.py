"""``laplacian``: L1 distance between Laplacian pyramids.

    L = sum_{j=0}^{levels-1} mean | Lap_j(pred) - Lap_j(target) |

with ``Lap_j`` the j-th band of the Laplacian pyramid (Burt & Adelson, IEEE Trans. Commun. 1983)
built by ``kornia.geometry.transform.build_laplacian_pyramid`` (5x5 Gaussian, reflect border; the
last band is the low-pass residual).  Each band's error is its per-pixel mean, so all levels weigh
the same.  This is the "Lap1" loss of Bojanowski, Joulin, Lopez-Paz, Szlam, "Optimizing the
Latent Space of Generative Networks", ICML 2018, up to their per-level weighting.
"""
from __future__ import annotations

import torch
from kornia.geometry.transform import build_laplacian_pyramid

from zoo.errors import InputError
from zoo.losses.base import check_images
from zoo.losses.reducers import check_reduction, reduce, sum_terms
from zoo.losses.module import loss_module
from zoo.specs import describe


@describe(formula="sum_j mean |Lap_j(pred) - Lap_j(target)|",
          citation="Bojanowski et al., Optimizing the Latent Space of Generative Networks, ICML "
                   "2018 (Lap1)",
          test="tests/losses/test_structural.py::test_laplacian_by_hand")
def laplacian_loss(pred: torch.Tensor, target: torch.Tensor, *, levels: int = 3,
                   reduction: str = "mean") -> torch.Tensor:
    """Sum over pyramid levels of the mean absolute band difference.

    Args:
        levels: number of pyramid bands (the last is the low-pass residual).
    """
    check_reduction("laplacian", reduction)
    if int(levels) != levels or levels < 1:
        raise InputError(f"laplacian: levels must be a positive integer, got {levels!r}")
    check_images("laplacian", pred, target, min_size=2 ** levels)
    bands_p = build_laplacian_pyramid(pred, levels)
    bands_t = build_laplacian_pyramid(target, levels)
    per_image = sum_terms((bp - bt).abs().flatten(1).mean(dim=1)
                          for bp, bt in zip(bands_p, bands_t))
    return reduce(per_image, reduction)


LaplacianLoss = loss_module(laplacian_loss, "LaplacianLoss", "laplacian")
