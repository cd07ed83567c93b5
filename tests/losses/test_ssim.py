"""Reference tests of the hand-written SSIM / MS-SSIM (zoo.losses.fast_ssim, zoo.losses.ssim).

Tolerances: float32 SSIM values within 1e-6 of pytorch_msssim and piq (issue 8); MS-SSIM within
1e-5 of pytorch_msssim in float32 (the 0.0448 power amplifies float32 rounding of small cs) and
1e-8 in float64; gradients within 1e-4 (float32) / 1e-7 (float64) of the largest gradient of autograd
through pytorch_msssim; the analytic backward
passes torch.autograd.gradcheck in float64.
"""
import pytest
import torch

import zoo
import zoo.losses.fast_ssim as fast_ssim
from zoo.errors import InputError
from zoo.losses.fast_ssim import ssim_per_channel
from zoo.losses.ssim import MSSSIMLoss, SSIMLoss, ms_ssim_loss, ssim_loss

pytorch_msssim = pytest.importorskip("pytorch_msssim")
piq = pytest.importorskip("piq")


def _pair(shape, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g, dtype=dtype)
    pred = (0.7 * target + 0.3 * torch.rand(shape, generator=g, dtype=dtype))
    return pred, target


def test_ssim_matches_pytorch_msssim_and_piq():
    torch.manual_seed(0)
    pred, target = _pair((3, 3, 48, 40))
    ours = ssim_loss(pred, target, reduction="none")
    ref = 1 - pytorch_msssim.ssim(pred, target, data_range=1.0, size_average=False)
    ref_piq = 1 - piq.ssim(pred, target, data_range=1.0, downsample=False, reduction="none")
    assert ours.shape == (3,)
    assert torch.allclose(ours, ref, rtol=0, atol=1e-6)
    assert torch.allclose(ours, ref_piq, rtol=0, atol=1e-6)
    assert torch.allclose(ssim_loss(pred, target), ref.mean(), rtol=0, atol=1e-6)


def _close(a, b, rel):
    """max |a - b| <= rel * max |b| (gradients are tiny, so relative to their scale)."""
    return float((a - b).abs().max()) <= rel * float(b.abs().max())


@pytest.mark.parametrize("dtype,rel", [(torch.float32, 1e-4), (torch.float64, 1e-7)])
def test_ssim_gradient_matches_autograd_reference(dtype, rel):
    torch.manual_seed(0)
    pred, target = _pair((2, 3, 32, 36), dtype)
    p1 = pred.clone().requires_grad_(True)
    t1 = target.clone().requires_grad_(True)
    p2 = pred.clone().requires_grad_(True)
    t2 = target.clone().requires_grad_(True)
    ssim_loss(p1, t1).backward()
    (1 - pytorch_msssim.ssim(p2, t2, data_range=1.0)).backward()
    # float64 differs by ~1e-9 relative: the window is built in float32 (as pytorch_msssim
    # does), so it sums to 1 only to float32 precision, and C2 rides through the filter
    assert _close(p1.grad, p2.grad, rel) and _close(t1.grad, t2.grad, rel)


@pytest.mark.parametrize("cs_only", [False, True])
def test_analytic_backward_passes_gradcheck(cs_only):
    torch.manual_seed(0)
    x, y = _pair((1, 2, 9, 8), torch.float64)
    x.requires_grad_(True)
    y.requires_grad_(True)
    fn = lambda a, b: ssim_per_channel(a, b, win_size=5, cs_only=cs_only)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, y), fast_mode=True)
    assert torch.autograd.gradcheck(fn, (x, y.detach()), fast_mode=True)  # one input needs grad


def test_ms_ssim_matches_pytorch_msssim_and_piq():
    torch.manual_seed(0)
    pred, target = _pair((2, 3, 176, 168))
    ours = ms_ssim_loss(pred, target, reduction="none")
    ref = 1 - pytorch_msssim.ms_ssim(pred, target, data_range=1.0, size_average=False)
    assert torch.allclose(ours, ref, rtol=0, atol=1e-5)
    p64, t64 = pred.double(), target.double()
    ref64 = 1 - pytorch_msssim.ms_ssim(p64, t64, data_range=1.0, size_average=False)
    assert torch.allclose(ms_ssim_loss(p64, t64, reduction="none"), ref64, rtol=0, atol=1e-8)
    # piq pools between scales differently (its own padding), so it only agrees to ~2e-3
    ref_piq = 1 - piq.multi_scale_ssim(pred, target, data_range=1.0, reduction="none")
    assert torch.allclose(ours, ref_piq, rtol=0, atol=5e-3)


def test_ms_ssim_gradient_matches_autograd_reference():
    torch.manual_seed(0)
    pred, target = _pair((1, 3, 164, 161))
    p1, p2 = pred.clone().requires_grad_(True), pred.clone().requires_grad_(True)
    ms_ssim_loss(p1, target).backward()
    (1 - pytorch_msssim.ms_ssim(p2, target, data_range=1.0)).backward()
    assert _close(p1.grad, p2.grad, 1e-4)


def test_chunking_and_no_grad_give_the_same_values(monkeypatch):
    torch.manual_seed(0)
    pred, target = _pair((5, 3, 24, 24))
    pred.requires_grad_(True)
    whole = ssim_loss(pred, target, reduction="none")
    (g_whole,) = torch.autograd.grad(whole.sum(), pred)
    monkeypatch.setattr(fast_ssim, "CHUNK_ELEMENTS", 3 * 24 * 24 * 2)  # chunks of 2 images
    chunked = ssim_loss(pred, target, reduction="none")
    (g_chunked,) = torch.autograd.grad(chunked.sum(), pred)
    with torch.no_grad():
        plain = ssim_loss(pred, target, reduction="none")
    assert torch.allclose(whole, chunked, atol=1e-7) and torch.allclose(whole, plain, atol=1e-7)
    assert torch.allclose(g_whole, g_chunked, atol=1e-9)


def test_modules_agree_with_functions_and_registry():
    torch.manual_seed(0)
    pred, target = _pair((2, 3, 40, 40))
    assert torch.equal(SSIMLoss()(pred, target), ssim_loss(pred, target))
    assert torch.equal(zoo.create_loss("ssim", win_size=7)(pred, target),
                       ssim_loss(pred, target, win_size=7))
    assert torch.equal(MSSSIMLoss(win_size=3)(pred, target),
                       ms_ssim_loss(pred, target, win_size=3))
    assert float(ssim_loss(target, target)) == pytest.approx(0.0, abs=1e-6)


def test_bad_input_is_reported():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(InputError, match="ssim: images must be at least 11x11"):
        ssim_loss(x, x)
    with pytest.raises(InputError, match="ms-ssim: images must be at least 161x161"):
        ms_ssim_loss(torch.rand(1, 3, 100, 100), torch.rand(1, 3, 100, 100))
    with pytest.raises(InputError, match="win_size must be a positive odd integer"):
        SSIMLoss(win_size=4)
    with pytest.raises(InputError, match="inputs differ in shape"):
        ssim_loss(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17))
