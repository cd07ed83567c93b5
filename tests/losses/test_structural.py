"""Structural losses (l1+ms-ssim, gradient, laplacian, tv, colour) against hand computations."""
import math

import pytest
import torch

import zoo
from zoo.errors import InputError
from zoo.losses.colour import colour_loss
from zoo.losses.gradient import gradient_loss
from zoo.losses.laplacian import laplacian_loss
from zoo.losses.mixed import l1_ms_ssim_loss
from zoo.losses.ssim import ms_ssim_loss
from zoo.losses.tv import tv_loss


def test_l1_ms_ssim_by_parts():
    torch.manual_seed(0)
    target = torch.rand(2, 3, 40, 40)
    pred = (target + 0.1 * torch.randn_like(target)).clamp(0, 1)
    got = l1_ms_ssim_loss(pred, target, win_size=3, l1_win_size=3, l1_sigma=1.5,
                          reduction="none")
    ms = ms_ssim_loss(pred, target, win_size=3, reduction="none")
    # the Gaussian-weighted L1 by hand: 3x3 window w w^T, valid positions only
    c = torch.arange(3.0) - 1
    w = torch.exp(-c ** 2 / (2 * 1.5 ** 2))
    w = w / w.sum()
    window = torch.outer(w, w)
    err = (pred - target).abs()
    patches = err.unfold(2, 3, 1).unfold(3, 3, 1)           # B, C, H-2, W-2, 3, 3
    weighted = (patches * window).sum(dim=(-1, -2)).flatten(1).mean(1)
    assert torch.allclose(got, 0.84 * ms + 0.16 * weighted, atol=1e-6)
    assert float(l1_ms_ssim_loss(target, target, win_size=3, l1_win_size=3)) == \
        pytest.approx(0.0, abs=1e-6)


def test_gradient_by_hand():
    # a horizontal ramp x*a has Sobel-x (normalised, /8) = a inside and dy = 0; replicate border
    a, b = 0.1, 0.03
    ramp = torch.arange(6.0).view(1, 1, 1, 6).expand(1, 1, 6, 6)
    pred, target = a * ramp, b * ramp
    got = gradient_loss(pred, target)
    # interior columns 1..4: |a - b|; border columns: replicate halves the slope
    per_col = torch.tensor([0.5, 1, 1, 1, 1, 0.5]) * abs(a - b)
    expected = per_col.mean() / 2  # the y gradient contributes zeros to the mean
    assert float(got) == pytest.approx(float(expected), rel=1e-5)
    assert float(gradient_loss(pred, pred)) == 0.0


def test_laplacian_by_hand():
    torch.manual_seed(0)
    pred, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    assert torch.allclose(laplacian_loss(pred, target, levels=1),
                          (pred - target).abs().mean(), atol=1e-7)  # one band: the image
    # constant images: every band-pass level is 0, the residual keeps the constant
    a, b = torch.full((1, 3, 16, 16), 0.7), torch.full((1, 3, 16, 16), 0.2)
    assert float(laplacian_loss(a, b, levels=3)) == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(InputError, match="laplacian: images must be at least 8x8"):
        laplacian_loss(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), levels=3)


def test_tv_by_hand():
    x = torch.tensor([[0.0, 1.0], [0.5, 0.5]]).view(1, 1, 2, 2)
    # vertical pairs: |0.5-0|, |0.5-1| -> mean 0.5; horizontal: |1-0|, |0.5-0.5| -> mean 0.5
    assert float(tv_loss(x)) == pytest.approx(1.0)
    assert float(zoo.create_loss("tv")(torch.full((2, 3, 5, 5), 0.3))) == 0.0


def test_colour_by_hand():
    f64 = torch.float64
    pred = torch.tensor([1.0, 0.0, 0.0], dtype=f64).view(1, 3, 1, 1).repeat(1, 1, 2, 1)
    target = torch.tensor([[1.0, 1.0, 0.0], [2.0, 0.0, 0.0]], dtype=f64).T.reshape(1, 3, 2, 1)
    # pixel 0: angle((1,0,0),(1,1,0)) = pi/4; pixel 1: same direction -> minimum arccos(1-eps)
    eps = 1e-6
    expected = (math.pi / 4 + math.acos(1 - eps)) / 2
    assert float(colour_loss(pred, target, eps=eps)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(InputError, match="colour: expected 3 channels"):
        colour_loss(torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 2))
