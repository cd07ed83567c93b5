"""Tiled inference equals whole-image inference away from the seams and blends smoothly."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import zoo
from zoo.errors import InputError
from zoo.models.tiling import ramp, tile_starts, tiled_forward


def _local_net(radius: int = 3) -> nn.Module:
    """A conv net whose receptive field reaches ``radius`` pixels (3x3 convs)."""
    layers = []
    for i in range(radius):
        layers += [nn.Conv2d(3 if i == 0 else 8, 8 if i < radius - 1 else 3, 3, padding=1)]
        if i < radius - 1:
            layers.append(nn.GELU())
    return nn.Sequential(*layers).eval()


def test_tile_starts_cover_the_image():
    for n, tile, overlap in [(100, 32, 8), (64, 64, 8), (10, 32, 4), (97, 40, 0)]:
        starts = tile_starts(n, tile, overlap)
        covered = torch.zeros(n, dtype=torch.bool)
        for s in starts:
            covered[s:s + min(tile, n)] = True
        assert covered.all() and starts[0] == 0 and starts[-1] + min(tile, n) == n
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize("blend", ["cosine", "linear"])
def test_neighbouring_ramps_sum_to_one(blend):
    o = 8
    left = ramp(32, o, False, True, blend)
    right = ramp(32, o, True, False, blend)
    assert torch.allclose(left[-o:] + right[:o], torch.ones(o))
    assert (left[:-o] == 1).all() and (left > 0).all()


def test_local_model_is_exact_outside_the_overlap_bands():
    torch.manual_seed(0)
    net = _local_net(radius=3)
    x = torch.rand(1, 3, 70, 90)
    with torch.no_grad():
        full = net(x)
    tiled = tiled_forward(net, x, tile=32, overlap=8)
    assert tiled.shape == full.shape and tiled.dtype == torch.float32
    # pixels covered by a single tile, at least the receptive field away from its inner edges
    single = torch.zeros(70, 90)
    for y in tile_starts(70, 32, 8):
        for x0 in tile_starts(90, 32, 8):
            single[y:y + 32, x0:x0 + 32] += 1
    away = single == 1
    assert away.sum() > 0
    assert torch.allclose(tiled[..., away], full[..., away], atol=1e-6)
    # in the bands the blend stays close to the whole-image output
    assert (tiled - full).abs().max() < 0.1


def test_unet_tiled_agrees_with_full_image_away_from_seams():
    torch.manual_seed(0)
    net = zoo.create_model("unet.t").eval()
    x = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        full = net(x)
    tiled = tiled_forward(net, x, tile=64, overlap=16)
    # the U-Net sees the whole tile, so only the mean difference is small, not every pixel
    assert (tiled - full).abs().mean() < 0.02
    assert tiled.shape == full.shape


def test_single_tile_equals_model_and_progress_callback():
    torch.manual_seed(0)
    net = _local_net()
    x = torch.rand(2, 3, 20, 24)
    calls = []
    out = tiled_forward(net, x, tile=64, overlap=8, callback=lambda d, t: calls.append((d, t)))
    with torch.no_grad():
        assert torch.allclose(out, net(x), atol=1e-6)
    assert calls == [(1, 1)]


def test_kwargs_reach_the_model_and_bad_arguments():
    torch.manual_seed(0)
    net = zoo.create_model("kind-adjust").eval()
    i = torch.rand(1, 1, 40, 40)
    with torch.no_grad():
        assert torch.allclose(tiled_forward(net, i, 64, 8, ratio=3.0), net(i, ratio=3.0),
                              atol=1e-6)
    with pytest.raises(InputError, match="tile > overlap"):
        tiled_forward(net, i, tile=16, overlap=16)
    with pytest.raises(InputError, match="keep the image size"):
        tiled_forward(nn.AvgPool2d(2), torch.rand(1, 3, 8, 8), tile=8, overlap=2)


def test_aligned_tile_starts_are_multiples_and_cover():
    for n, tile, overlap, align in [(151, 96, 16, 64), (300, 128, 32, 32), (97, 64, 8, 16)]:
        starts = tile_starts(n, tile, overlap, align)
        assert all(s % align == 0 for s in starts) and starts[0] == 0
        assert starts[-1] + tile >= n and starts[-2] + tile < n  # no tile more than needed
        assert all(b - a == (tile - overlap) // align * align for a, b in zip(starts, starts[1:]))
    with pytest.raises(InputError, match="alignment"):
        tile_starts(200, 64, 32, 64)


def _tiny_uformer(**kw):
    torch.manual_seed(0)
    return zoo.create_model("uformer.t", embed_dim=8, win_size=4, depths=[2] * 9, **kw).eval()


def test_constant_image_is_restored_without_a_seam_by_tiles():
    """Tiles start on the model's window grid (Uformer: window * 16 pixels), so every tile
    computes what the whole image computes there: a constant image comes out as the whole-image
    output, without a band where two tiles of different window phase were blended."""
    net = _tiny_uformer()
    assert net.pad_multiple == 64
    x = torch.full((1, 3, 151, 151), 0.3)
    with torch.no_grad():
        full = net(x)
    tiled = tiled_forward(net, x, tile=96, overlap=16)
    assert tiled.shape == full.shape
    assert float((tiled - full).abs().max()) < 5e-3
    # tiles started at arbitrary offsets (the previous behaviour) leave a visible seam
    misaligned = tiled_forward(net, x, tile=96, overlap=16, align=1)
    assert float((misaligned - full).abs().max()) > 10 * float((tiled - full).abs().max())
    # and on a natural-like image the aligned tiles stay close to the whole image too
    torch.manual_seed(1)
    y = torch.rand(1, 3, 151, 151)
    with torch.no_grad():
        assert float((tiled_forward(net, y, tile=96, overlap=16) - net(y)).abs().mean()) < 2e-3
    # a tile smaller than the full grid (64 + 16 > 64) aligns to the finer grid of 32 pixels
    small_tiles = tiled_forward(net, x, tile=64, overlap=16)
    assert small_tiles.shape == full.shape and float((small_tiles - full).abs().max()) < 0.05


def test_uformer_window_padding_adds_no_seam():
    """Reflect padding to the window multiple: a constant image of any size is restored as the
    same constant image extended past its border would be (zero padding would darken the
    bottom and right edges)."""
    net = _tiny_uformer()
    with torch.no_grad():
        small = net(torch.full((1, 3, 70, 90), 0.3))
        big = net(torch.full((1, 3, 128, 128), 0.3))
    assert torch.allclose(small, big[..., :70, :90], atol=1e-5)
    zero = _tiny_uformer(pad_mode="constant")
    with torch.no_grad():
        assert not torch.allclose(zero(torch.full((1, 3, 70, 90), 0.3)), big[..., :70, :90],
                                  atol=1e-3)
