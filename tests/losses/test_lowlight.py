"""Low-light losses (MBLLEN region, Retinex-Net, KinD, Zero-DCE) against numpy computations
written from the papers' formulas (and the reference code's conventions noted in each module)."""
import numpy as np
import pytest
import torch

import zoo
from zoo.errors import InputError
from zoo.losses import kind, region, retinex, zero_dce

GREY = np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma, as kornia's rgb_to_grayscale


def np_grad(a, d):
    """TF 'SAME' 2x2 difference of a (H, W) array: zero row/column appended at bottom/right."""
    p = np.pad(a, ((0, 1), (0, 1)))
    return p[1:, 1:] - (p[1:, :-1] if d == "x" else p[:-1, 1:])


def np_avg3(a):
    """3x3 mean over the in-image neighbours."""
    h, w = a.shape
    out = np.zeros_like(a)
    for i in range(h):
        for j in range(w):
            out[i, j] = a[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].mean()
    return out


def rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_region_by_hand():
    # one image, 5 pixels; grey of pred = 0.39R + 0.5G + 0.11B, grey-valued pixels here
    pred = torch.tensor([0.1, 0.9, 0.3, 0.5, 0.7], dtype=torch.float64).view(1, 1, 1, 5).repeat(1, 3, 1, 1)
    target = torch.zeros_like(pred)
    # darkest 40% = 2 pixels (0.1 and 0.3): 4 * mean(0.1, 0.3) + 1 * mean(0.9, 0.5, 0.7)
    expected = 4 * 0.2 + 0.7
    assert float(region.region_loss(pred, target)) == pytest.approx(expected)
    assert float(zoo.create_loss("region", dark_weight=1.0)(pred, target)) == pytest.approx(0.2 + 0.7)


def _smooth_retinex(i, r):
    grey = np.tensordot(GREY, r, axes=1)
    return sum(np.abs(np_grad(i, d)) * np.exp(-10 * np_avg3(np.abs(np_grad(grey, d))))
               for d in ("x", "y")).mean()


def test_retinex_decom_by_hand():
    r_l, r_h, s_l, s_h = (rand(1, 3, 4, 5, seed=k) for k in range(4))
    i_l, i_h = rand(1, 1, 4, 5, seed=4), rand(1, 1, 4, 5, seed=5)
    got = retinex.retinex_decom_loss(r_l, i_l, r_h, i_h, s_l, s_h)
    R_l, R_h, S_l, S_h = (t[0].numpy() for t in (r_l, r_h, s_l, s_h))
    I_l, I_h = i_l[0, 0].numpy(), i_h[0, 0].numpy()
    l1 = lambda a, b: np.abs(a - b).mean()  # noqa: E731
    expected = (l1(R_l * I_l, S_l) + l1(R_h * I_h, S_h)
                + 0.001 * (l1(R_h * I_l, S_l) + l1(R_l * I_h, S_h)) + 0.01 * l1(R_l, R_h)
                + 0.1 * (_smooth_retinex(I_l, R_l) + _smooth_retinex(I_h, R_h)))
    assert float(got) == pytest.approx(expected, rel=1e-10)


def test_retinex_relight_by_hand():
    r_l, s_h, i_d = rand(2, 3, 5, 4, seed=1), rand(2, 3, 5, 4, seed=2), rand(2, 1, 5, 4, seed=3)
    got = retinex.RetinexRelightLoss(reduction="none")(r_l, i_d, s_h)
    for b in range(2):
        R, S, I = r_l[b].numpy(), s_h[b].numpy(), i_d[b, 0].numpy()
        expected = np.abs(R * I - S).mean() + 3 * _smooth_retinex(I, R)
        assert float(got[b]) == pytest.approx(expected, rel=1e-10)
    with pytest.raises(InputError, match="retinex-relight: expected 1 channels"):
        retinex.retinex_relight_loss(r_l, r_l, s_h)


def test_kind_decom_by_hand():
    r_l, r_h, s_l, s_h = (rand(1, 3, 4, 4, seed=k) for k in range(4))
    i_l, i_h = rand(1, 1, 4, 4, seed=4), rand(1, 1, 4, 4, seed=5)
    got = kind.kind_decom_loss(r_l, i_l, r_h, i_h, s_l, s_h, reference="paper")
    R_l, R_h, S_l, S_h = (t[0].numpy() for t in (r_l, r_h, s_l, s_h))
    I_l, I_h = i_l[0, 0].numpy(), i_h[0, 0].numpy()

    def structure(i, s):
        grey = np.tensordot(GREY, s, axes=1)
        return sum((np.abs(np_grad(i, d)) / np.maximum(np.abs(np_grad(grey, d)), 0.01)).mean()
                   for d in ("x", "y"))

    def mutual(a, b):
        total = 0
        for d in ("x", "y"):
            m = np.abs(np_grad(a, d)) + np.abs(np_grad(b, d))
            total += (m * np.exp(-10 * m)).mean()
        return total

    expected = (np.abs(R_l * I_l - S_l).mean() + np.abs(R_h * I_h - S_h).mean()
                + 0.01 * np.abs(R_l - R_h).mean()
                + 0.15 * (structure(I_l, S_l) + structure(I_h, S_h)) + 0.2 * mutual(I_l, I_h))
    assert float(got) == pytest.approx(expected, rel=1e-10)


def test_kind_restore_by_parts():
    from zoo.losses.ssim import ssim_loss

    a, b = rand(1, 3, 16, 16, seed=1), rand(1, 3, 16, 16, seed=2)
    A, B = a[0].numpy(), b[0].numpy()
    grad = sum(np.mean([(np_grad(A[c], d) - np_grad(B[c], d)) ** 2 for c in range(3)])
               for d in ("x", "y"))
    expected = ((A - B) ** 2).mean() + float(ssim_loss(a, b)) + grad
    assert float(kind.kind_restore_loss(a, b, reference="paper")) == pytest.approx(expected, rel=1e-10)
    assert float(kind.kind_restore_loss(a, a, reference="paper")) == pytest.approx(0.0, abs=1e-10)


def test_kind_adjust_by_hand():
    a, b = rand(1, 1, 4, 6, seed=1), rand(1, 1, 4, 6, seed=2)
    A, B = a[0, 0].numpy(), b[0, 0].numpy()
    expected = ((A - B) ** 2).mean() + sum(
        ((np.abs(np_grad(A, d)) - np.abs(np_grad(B, d))) ** 2).mean() for d in ("x", "y"))
    assert float(kind.kind_adjust_loss(a, b, reference="paper")) == pytest.approx(expected, rel=1e-10)


def test_zero_dce_terms_by_hand():
    y, i = rand(1, 3, 8, 8, seed=1), rand(1, 3, 8, 8, seed=2)
    # spatial: 4x4 region means of the channel mean, 2x2 regions, zero-padded neighbours
    def regions(t):
        m = t[0].numpy().mean(0)
        return m.reshape(2, 4, 2, 4).mean(axis=(1, 3))

    def diffs(r):
        p = np.pad(r, 1)
        c = p[1:-1, 1:-1]
        return [c - p[1:-1, :-2], c - p[1:-1, 2:], c - p[:-2, 1:-1], c - p[2:, 1:-1]]

    spa = sum((dy - di) ** 2 for dy, di in zip(diffs(regions(y)), diffs(regions(i)))).mean()
    assert float(zero_dce.zero_dce_spatial_loss(y, i)) == pytest.approx(spa, rel=1e-10)
    assert float(zero_dce.zero_dce_spatial_loss(y, y)) == 0.0
    # exposure: 16x16 patches of the channel mean vs 0.6
    big = rand(1, 3, 32, 16, seed=3)
    patches = big[0].numpy().mean(0).reshape(2, 16, 1, 16).mean(axis=(1, 3))
    assert float(zero_dce.zero_dce_exposure_loss(big)) == pytest.approx(((patches - 0.6) ** 2).mean())
    # colour: channel means r, g, b
    r, g, b = y[0].numpy().mean(axis=(1, 2))
    col = np.sqrt((r - g) ** 4 + (r - b) ** 4 + (g - b) ** 4)
    assert float(zero_dce.zero_dce_colour_loss(y)) == pytest.approx(col, rel=1e-10)
    # illumination TV: sums over channels, counts per channel
    a = rand(1, 24, 5, 6, seed=4)[0].numpy()
    tv = 2 * (((a[:, 1:] - a[:, :-1]) ** 2).sum() / (4 * 6) + ((a[:, :, 1:] - a[:, :, :-1]) ** 2).sum() / (5 * 5))
    got = zero_dce.zero_dce_illumination_tv_loss(torch.from_numpy(a)[None])
    assert float(got) == pytest.approx(tv, rel=1e-10)


def test_zero_dce_total_is_weighted_sum():
    y, i, a = rand(2, 3, 32, 32, seed=1), rand(2, 3, 32, 32, seed=2), rand(2, 24, 32, 32, seed=3)
    expected = (200 * zero_dce.zero_dce_illumination_tv_loss(a) + zero_dce.zero_dce_spatial_loss(y, i)
                + 5 * zero_dce.zero_dce_colour_loss(y) + 10 * zero_dce.zero_dce_exposure_loss(y))
    assert torch.allclose(zoo.create_loss("zero-dce")(y, i, a), expected)
