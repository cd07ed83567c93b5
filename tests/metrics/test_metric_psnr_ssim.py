"""psnr and ssim against scikit-image on uint8 images (Flare7K's evaluate.py calls).

Tolerance: 1e-5 absolute (the metrics compute in float64 and return float32).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import zoo
from zoo.errors import ZooError

TOL = 1e-5


def _pair(seed=0, shape=(3, 3, 37, 45), noise=0.08):
    torch.manual_seed(seed)
    gt = torch.rand(shape)
    gt = torch.nn.functional.avg_pool2d(gt, 3, stride=1, padding=1)  # some structure
    pred = (gt + noise * torch.randn(shape)).clamp(0, 1)
    return pred, gt


def _uint8(t):
    return (t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def test_psnr_equals_scikit_image():
    pred, gt = _pair()
    ours = zoo.create_metric("psnr")(pred, gt)
    assert ours.shape == (3,)
    for i in range(3):
        ref = peak_signal_noise_ratio(_uint8(gt[i]), _uint8(pred[i]), data_range=255)
        assert abs(float(ours[i]) - ref) < TOL


def test_ssim_equals_scikit_image():
    pred, gt = _pair(seed=1, shape=(2, 3, 29, 52))
    ours = zoo.create_metric("ssim")(pred, gt)
    for i in range(2):
        ref = structural_similarity(_uint8(gt[i]), _uint8(pred[i]), channel_axis=2,
                                    data_range=255)
        assert abs(float(ours[i]) - ref) < TOL


def test_quantize_option():
    pred, gt = _pair(seed=2, noise=0.002)
    quantized = zoo.create_metric("psnr")(pred, gt)
    raw = zoo.create_metric("psnr", quantize=False)(pred, gt)
    mse = ((pred.double() - gt.double()) ** 2).flatten(1).mean(1)
    assert torch.allclose(raw.double(), 10 * torch.log10(1 / mse), atol=TOL)
    assert not torch.allclose(raw, quantized, atol=1e-3)
    s_raw = zoo.create_metric("ssim", quantize=False)(pred, gt)
    ref = structural_similarity(gt[0].permute(1, 2, 0).double().numpy(),
                                pred[0].permute(1, 2, 0).double().numpy(), channel_axis=2,
                                data_range=1.0)
    assert abs(float(s_raw[0]) - ref) < TOL


def test_identical_images():
    _, gt = _pair()
    assert torch.isinf(zoo.create_metric("psnr")(gt, gt)).all()
    assert torch.allclose(zoo.create_metric("ssim")(gt, gt), torch.ones(3))


def test_bad_inputs_are_named():
    pred, gt = _pair()
    with pytest.raises(ZooError, match="psnr.*differ"):
        zoo.create_metric("psnr")(pred, gt[:, :, :30])
    with pytest.raises(ZooError, match="ssim.*at least 7x7"):
        zoo.create_metric("ssim")(pred[..., :5, :5], gt[..., :5, :5])
    with pytest.raises(ZooError, match=r"\(B, 3, H, W\)"):
        zoo.create_metric("psnr")(pred[0], gt[0])


def test_directions_are_registered():
    reg = zoo.get_registry()
    assert reg.get("metrics", "psnr").direction == "higher"
    assert reg.get("metrics", "ssim").direction == "higher"
    assert reg.get("metrics", "lpips").direction == "lower"
    for name in ("g-psnr", "s-psnr", "global-psnr", "flare-score"):
        spec = reg.get("metrics", name)
        assert spec.direction == "higher" and spec.extra["needs_mask"] is True
