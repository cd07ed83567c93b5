"""Pixel losses against torch's functional losses and hand computations."""
import math

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.errors import InputError
from zoo.losses import pixel


def _pair(seed=0, shape=(2, 3, 8, 8)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g), torch.rand(shape, generator=g)


@pytest.mark.parametrize("name,ref,kw", [
    ("l1", F.l1_loss, {}), ("mae", F.l1_loss, {}), ("l2", F.mse_loss, {}),
    ("mse", F.mse_loss, {}), ("smooth-l1", F.smooth_l1_loss, {"beta": 0.2}),
    ("huber", F.huber_loss, {"delta": 0.3}),
])
def test_matches_torch(name, ref, kw):
    torch.manual_seed(0)
    pred, target = _pair()
    loss = zoo.create_loss(name, **kw)
    assert torch.allclose(loss(pred, target), ref(pred, target, **kw), atol=1e-7)
    assert torch.allclose(zoo.create_loss(name, reduction="sum", **kw)(pred, target),
                          ref(pred, target, reduction="sum", **kw), atol=1e-5)
    per_image = ref(pred, target, reduction="none", **kw).flatten(1).mean(1)
    assert torch.allclose(zoo.create_loss(name, reduction="none", **kw)(pred, target),
                          per_image, atol=1e-7)


def test_charbonnier_by_hand():
    torch.manual_seed(0)
    pred = torch.tensor([0.0, 0.5, 1.0, 0.25]).view(1, 1, 2, 2)
    target = torch.tensor([0.0, 0.1, 0.4, 0.25]).view(1, 1, 2, 2)
    eps = 1e-3
    diffs = [0.0, 0.4, 0.6, 0.0]
    expected = sum(math.sqrt(d * d + eps * eps) for d in diffs) / 4
    assert float(pixel.charbonnier_loss(pred, target, eps=eps)) == pytest.approx(expected, rel=1e-6)
    assert float(pixel.CharbonnierLoss(eps=eps)(pred, target)) == pytest.approx(expected, rel=1e-6)


def test_log_mse_is_negative_psnr():
    torch.manual_seed(0)
    pred, target = _pair()
    mse = ((pred - target) ** 2).flatten(1).mean(1)
    psnr = 10 * torch.log10(1.0 / mse)  # data range 1
    got = pixel.log_mse_loss(pred, target, eps=0.0 + 1e-30, reduction="none")
    assert torch.allclose(got, -psnr, atol=1e-4)
    assert float(pixel.log_mse_loss(pred, pred)) == pytest.approx(10 * math.log10(1e-8), abs=1e-4)


def test_bad_input_is_reported():
    with pytest.raises(InputError, match="l1: inputs differ in shape"):
        pixel.l1_loss(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5))
    with pytest.raises(InputError, match="l2: expected \\(B, C, H, W\\)"):
        pixel.l2_loss(torch.rand(3, 4, 4), torch.rand(3, 4, 4))
    with pytest.raises(InputError, match="reduction must be one of"):
        zoo.create_loss("huber", reduction="avg")
    with pytest.raises(InputError, match="charbonnier: eps must be > 0"):
        pixel.charbonnier_loss(torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 2), eps=0)
