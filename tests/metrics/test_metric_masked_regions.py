"""The masked reading of the region metrics (`s-psnr.masked` ...) against scikit-image."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import zoo
from zoo.errors import ZooError


def _images(seed=0, h=30, w=36):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(2, 3, h, w, generator=g)
    pred = (gt + 0.08 * torch.randn(2, 3, h, w, generator=g)).clamp(0, 1)
    mask = torch.zeros(2, 3, h, w)
    mask[:, 0, 3:15, 4:22] = 1.0           # streak: R only
    mask[:, 0:2, 12:25, 14:30] = 1.0       # glare: R and G (overwrites part of the streak)
    mask[:, 2, 0:5, 0:5] = 1.0             # light source: B
    mask[1, :, 3:15, 4:22] = 0.0           # image 1: less streak
    mask[1, 0, 3:6, 4:10] = 1.0
    return pred, gt, mask


def _uint8(t):
    """(3, H, W) in [0, 1] -> the HWC float image an 8-bit file holds."""
    return (t.permute(1, 2, 0).numpy().astype(np.float64) * 255).round() / 255


WEIGHTS = {"g": lambda m: m[:, :, 1], "s": lambda m: m[:, :, 0] - m[:, :, 1]}


def _skimage(kind, pred, gt, mask, region):
    out = []
    for b in range(pred.shape[0]):
        m = WEIGHTS[region](_uint8(mask[b]))[:, :, None]
        p, t = _uint8(pred[b]) * m, _uint8(gt[b]) * m
        if kind == "psnr":
            out.append(peak_signal_noise_ratio(t, p, data_range=1))
        else:
            out.append(structural_similarity(t, p, channel_axis=2, data_range=1))
    return np.array(out)


@pytest.mark.parametrize("name", ["s-psnr.masked", "g-psnr.masked", "s-ssim.masked",
                                  "g-ssim.masked"])
def test_masked_region_metrics_equal_scikit_image(name):
    pred, gt, mask = _images()
    region, kind = name.split("-")[0], name.split("-")[1].split(".")[0]
    ours = zoo.create_metric(name)(pred, gt, mask).double().numpy()
    ref = _skimage(kind, pred, gt, mask, region)
    assert ours.shape == (2,)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("region", ["g", "s"])
def test_masked_psnr_is_the_area_psnr_shifted_by_the_area_ratio(region):
    pred, gt, mask = _images(seed=3)
    h, w = gt.shape[-2:]
    masked = zoo.create_metric(f"{region}-psnr.masked")(pred, gt, mask).double()
    area = zoo.create_metric(f"{region}-psnr")(pred, gt, mask).double()
    weights = [WEIGHTS[region](_uint8(mask[b])).sum() for b in range(2)]
    expected = torch.tensor([10 * math.log10(h * w / a) for a in weights], dtype=torch.float64)
    torch.testing.assert_close(masked - area, expected, rtol=0, atol=1e-4)
    assert (masked > area).all()  # a small region: the masked reading sits above


def test_masked_reading_empty_region_is_nan_and_options():
    pred, gt, mask = _images()
    mask[:, :2] = 0  # no glare, no streak
    for name in ("s-psnr.masked", "g-ssim.masked"):
        assert torch.isnan(zoo.create_metric(name)(pred, gt, mask)).all()
    with pytest.raises(ZooError, match="flare7k_exact applies to reading='area' only"):
        zoo.create_metric("s-psnr.masked", flare7k_exact=True)
    with pytest.raises(ZooError, match="reading must be one of area, masked"):
        zoo.create_metric("g-ssim", reading="cropped")
    with pytest.raises(ZooError, match="reading"):
        zoo.create_metric("flare-score", reading="masked")  # Flare7K's score: area only
    with pytest.raises(ZooError, match="needs a mask"):
        zoo.create_metric("g-psnr.masked")(pred, gt)
