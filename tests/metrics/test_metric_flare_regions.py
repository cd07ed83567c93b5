"""Flare7K region metrics against hand-computed masked MSEs and Flare7K's formula."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import zoo
from zoo.errors import ZooError

GLARE, STREAK, LIGHT = (1.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)


def _scene(h=24, w=40, seed=0):
    torch.manual_seed(seed)
    gt = (torch.rand(1, 3, h, w) * 255).round() / 255
    pred = ((gt + 0.1 * torch.randn_like(gt)).clamp(0, 1) * 255).round() / 255
    mask = torch.zeros(1, 3, h, w)
    mask[0, :, :6, :] = torch.tensor(GLARE)[:, None, None]        # 6 rows of glare
    mask[0, :, 6:9, :10] = torch.tensor(STREAK)[:, None, None]   # a streak block
    mask[0, :, 20:, 30:] = torch.tensor(LIGHT)[:, None, None]    # light source
    return pred, gt, mask


def _hand_psnr(pred, gt, pixels):
    """PSNR of the MSE over the listed pixels (all 3 channels), computed by hand."""
    d = (pred - gt)[0]
    values = [float(d[c, y, x]) ** 2 for (y, x) in pixels for c in range(3)]
    return 10 * math.log10(1 / (sum(values) / len(values)))


def test_regions_against_hand_computed_mse():
    pred, gt, mask = _scene()
    h, w = gt.shape[-2:]
    glare = [(y, x) for y in range(6) for x in range(w)]
    streak = [(y, x) for y in range(6, 9) for x in range(10)]
    global_ = [(y, x) for y in range(h) for x in range(w) if not (y >= 20 and x >= 30)]
    expect = {"g-psnr": _hand_psnr(pred, gt, glare), "s-psnr": _hand_psnr(pred, gt, streak),
              "global-psnr": _hand_psnr(pred, gt, global_)}
    for name, value in expect.items():
        ours = float(zoo.create_metric(name)(pred, gt, mask=mask)[0])
        assert abs(ours - value) < 1e-4, name
    score = float(zoo.create_metric("flare-score")(pred, gt, mask=mask)[0])
    assert abs(score - sum(expect.values()) / 3) < 1e-4


def _flare7k_reference(pred, gt, mask, region):
    """Flare7K evaluate.py's compare_score/extract_mask formulas on uint8 arrays (facts)."""
    img1 = (gt[0].permute(1, 2, 0).numpy() * 255).round()
    img2 = (pred[0].permute(1, 2, 0).numpy() * 255).round()
    seg = (mask[0].permute(1, 2, 0).numpy() * 255).round()
    m = {"glare": seg[:, :, 1] / 255, "streak": (seg[:, :, 0] - seg[:, :, 1]) / 255,
         "global": (255 - seg[:, :, 2]) / 255}[region]
    area = np.sum(m) / (512 * 512)
    m3 = np.repeat(m[:, :, None], 3, axis=2)
    mse = np.mean((img1 * m3 - img2 * m3) ** 2) / (255 * 255 * area)
    return 10 * np.log10(1.0 / mse)


@pytest.mark.parametrize("name,region", [("g-psnr", "glare"), ("s-psnr", "streak"),
                                         ("global-psnr", "global")])
def test_flare7k_exact_option_and_the_512_difference(name, region):
    pred, gt, mask = _scene(h=24, w=40)
    exact = float(zoo.create_metric(name, flare7k_exact=True)(pred, gt, mask=mask)[0])
    assert abs(exact - _flare7k_reference(pred, gt, mask, region)) < 1e-4
    ours = float(zoo.create_metric(name)(pred, gt, mask=mask)[0])
    # Flare7K's hard-coded 512x512 area shifts the result by 10 log10(H W / 512^2) dB
    assert abs((exact - ours) - 10 * math.log10(24 * 40 / 512 ** 2)) < 1e-4


def test_both_modes_agree_on_512_images():
    torch.manual_seed(0)
    gt = torch.rand(1, 3, 512, 512)
    pred = (gt + 0.05 * torch.randn_like(gt)).clamp(0, 1)
    mask = torch.zeros(1, 3, 512, 512)
    mask[:, :2, :100] = 1
    a = zoo.create_metric("g-psnr")(pred, gt, mask=mask)
    b = zoo.create_metric("g-psnr", flare7k_exact=True)(pred, gt, mask=mask)
    assert torch.allclose(a, b, atol=1e-4)


def test_empty_region_is_nan_and_mask_is_required():
    pred, gt, mask = _scene()
    no_streak = mask.clone()
    no_streak[0, :, 6:9, :10] = 0
    assert math.isnan(float(zoo.create_metric("s-psnr")(pred, gt, mask=no_streak)[0]))
    assert math.isnan(float(zoo.create_metric("flare-score")(pred, gt, mask=no_streak)[0]))
    assert not math.isnan(float(zoo.create_metric("g-psnr")(pred, gt, mask=no_streak)[0]))
    with pytest.raises(ZooError, match="g-psnr needs a mask"):
        zoo.create_metric("g-psnr")(pred, gt)
    with pytest.raises(ZooError, match="differ in shape"):
        zoo.create_metric("g-psnr")(pred, gt, mask=mask[..., :10])
