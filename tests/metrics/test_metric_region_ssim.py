"""Region SSIM (g-ssim / s-ssim / global-ssim) against scikit-image's SSIM map."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

import zoo


def _images(seed=0, h=24, w=28):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(1, 3, h, w, generator=g)
    pred = (gt + 0.1 * torch.randn(1, 3, h, w, generator=g)).clamp(0, 1)
    mask = torch.zeros(1, 3, h, w)
    mask[:, 0, 4:14, 5:20] = 1.0           # streak: R only
    mask[:, 0:2, 10:20, 12:26] = 1.0       # glare: R and G
    mask[:, 2, 0:4, 0:4] = 1.0             # light source: B
    return pred, gt, mask


def _reference(pred, gt, weights):
    """Mean of scikit-image's full SSIM map over the interior window centres, weighted."""
    p = (pred[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    t = (gt[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    _, smap = structural_similarity(t, p, channel_axis=2, data_range=255, full=True)
    smap = smap[3:-3, 3:-3]  # windows lying inside the image, as the metric's definition
    m = weights[3:-3, 3:-3, None]
    return float((smap * m).sum() / (3 * m.sum()))


@pytest.mark.parametrize("name,weights", [
    ("g-ssim", lambda m: m[1]),
    ("s-ssim", lambda m: m[0] - m[1]),
    ("global-ssim", lambda m: 1 - m[2]),
])
def test_region_ssim_equals_weighted_skimage_map(name, weights):
    pred, gt, mask = _images()
    value = zoo.create_metric(name)(pred, gt, mask)
    expected = _reference(pred, gt, weights(mask[0]).numpy())
    assert value.shape == (1,)
    assert abs(float(value) - expected) < 1e-5


def test_global_ssim_without_light_source_equals_ssim():
    pred, gt, _ = _images(seed=1)
    empty = torch.zeros_like(pred)
    assert torch.allclose(zoo.create_metric("global-ssim")(pred, gt, empty),
                          zoo.create_metric("ssim")(pred, gt), atol=1e-6)


def test_empty_region_is_nan_and_mask_required():
    pred, gt, _ = _images()
    assert torch.isnan(zoo.create_metric("g-ssim")(pred, gt, torch.zeros_like(pred))).all()
    with pytest.raises(zoo.ZooError, match="needs a mask"):
        zoo.create_metric("s-ssim")(pred, gt)
