"""Pasting the light source back: against a line-by-line NumPy port of Flare7K's code.

The reference below follows ykdai/Flare7K ``basicsr/utils/flare_util.py`` (``blend_light_source``
with ``get_highlight_mask``, ``refine_mask``, ``_create_disk_kernel``) step by step, with
OpenCV's ``filter2D`` written out (correlation, anchor ``k // 2``, ``BORDER_REFLECT_101`` by
OpenCV's ``borderInterpolate`` loop) and the morphology written out as well, so it shares no
code with :mod:`zoo.metrics.light_source`.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from skimage import measure, morphology

from zoo.errors import ZooError
from zoo.metrics.light_source import paste_light_source


def _reflect101(p: int, n: int) -> int:
    """OpenCV ``borderInterpolate(p, n, BORDER_REFLECT_101)``."""
    if n == 1:
        return 0
    while not 0 <= p < n:
        p = -p if p < 0 else 2 * (n - 1) - p
    return p


def _filter2d(src: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    h, w = src.shape
    k = kernel.shape[0]
    out = np.zeros((h, w), dtype=np.float64)
    for i in range(k):
        rows = np.array([_reflect101(y + i - k // 2, h) for y in range(h)])
        for j in range(k):
            cols = np.array([_reflect101(x + j - k // 2, w) for x in range(w)])
            out += float(kernel[i, j]) * src[rows][:, cols]
    return out


def _disk(radius: int) -> list[tuple[int, int]]:
    return [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
            if dy * dy + dx * dx <= radius * radius]


def _opening(mask: np.ndarray, radius: int) -> np.ndarray:
    """skimage's binary_opening: erosion ignoring outside pixels, then dilation."""
    h, w = mask.shape
    offsets = _disk(radius)

    def shifted(img, dy, dx, outside):
        out = np.full((h, w), outside)
        ys, xs = slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0))
        yd, xd = slice(max(-dy, 0), h + min(-dy, 0)), slice(max(-dx, 0), w + min(-dx, 0))
        out[yd, xd] = img[ys, xs]
        return out

    eroded = np.logical_and.reduce([shifted(mask, dy, dx, True) for dy, dx in offsets])
    return np.logical_or.reduce([shifted(eroded, dy, dx, False) for dy, dx in offsets])


def flare7k_blend(input_scene: np.ndarray, pred_scene: np.ndarray, threshold=0.97,
                  luminance_mode=False) -> np.ndarray:
    """blend_light_source for one (3, H, W) float32 image, step by step."""
    if luminance_mode:
        lum = 0.2126 * input_scene[0] + 0.7152 * input_scene[1] + 0.0722 * input_scene[2]
        binary_mask = lum > threshold
    else:
        binary_mask = input_scene.mean(axis=0) > threshold
    # refine_mask(binary_mask, morph_size=0.01)
    mask_size = max(np.shape(binary_mask))
    kernel_radius = .5 * 0.01 * mask_size
    radius = int(np.ceil(kernel_radius))
    binary_mask = _opening(binary_mask, radius)
    if hasattr(morphology, "binary_opening"):  # the call Flare7K makes, where it still exists
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opened = morphology.binary_opening(input_scene.mean(axis=0) > threshold
                                               if not luminance_mode else lum > threshold,
                                               morphology.disk(radius))
        assert np.array_equal(opened, binary_mask)
    labeled = measure.label(binary_mask)
    max_diameter = 0
    for p in measure.regionprops(labeled):
        max_diameter = max(max_diameter, math.sqrt(4 * p.area / math.pi))
    mask = np.float32(binary_mask)
    kernel_size = round(1.5 * max_diameter)
    if kernel_size > 0:
        x = np.arange(kernel_size) - (kernel_size - 1) / 2
        xx, yy = np.meshgrid(x, x)
        rr = np.sqrt(xx ** 2 + yy ** 2)
        kernel = np.float32(rr <= np.max(x)) + 1e-7
        kernel = kernel / np.sum(kernel)
        mask = _filter2d(mask, kernel)
        mask = np.clip(mask * 3.0, 0.0, 1.0)
        mask_rgb = np.stack([mask] * 3, axis=0)
        return input_scene * mask_rgb + pred_scene * (1 - mask_rgb)
    return pred_scene


def _scene(h, w, discs, seed=0, specks=()):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, h, w, generator=g) * 0.8
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    for cy, cx, r in discs:
        x[0, :, (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 0.995
    for y, x_ in specks:  # isolated saturated pixels: removed by the opening
        x[0, :, y, x_] = 1.0
    pred = torch.rand(1, 3, h, w, generator=g)
    return x, pred


@pytest.mark.parametrize("h,w,discs,specks", [
    (64, 80, [(20, 30, 7), (50, 8, 3)], [(5, 70), (60, 60)]),      # two blobs, one at the border
    (210, 120, [(100, 60, 9)], [(10, 10)]),                        # opening radius 2
    (40, 44, [(20, 22, 14)], []),                                  # blur kernel larger than image
])
def test_paste_equals_flare7k_port(h, w, discs, specks):
    x, pred = _scene(h, w, discs, specks=specks)
    ours = paste_light_source(x, pred)
    ref = flare7k_blend(x[0].numpy(), pred[0].numpy())
    np.testing.assert_allclose(ours[0].numpy(), ref, rtol=0, atol=1e-5)
    assert not torch.equal(ours, pred)  # something was pasted


def test_luminance_mode_and_batches():
    x1, p1 = _scene(48, 48, [(24, 24, 6)], seed=1)
    x2, p2 = _scene(48, 48, [(10, 30, 4)], seed=2)
    x2[:, 2] *= 0.8  # a yellow light: its channel mean is below 0.97, its luminance above
    x, p = torch.cat([x1, x2]), torch.cat([p1, p2])
    for lum in (False, True):
        ours = paste_light_source(x, p, luminance=lum)
        for b in range(2):
            ref = flare7k_blend(x[b].numpy(), p[b].numpy(), luminance_mode=lum)
            np.testing.assert_allclose(ours[b].numpy(), ref, rtol=0, atol=1e-5)
    assert torch.equal(paste_light_source(x, p)[1], p[1])  # mean mode: nothing saturated
    assert not torch.equal(paste_light_source(x, p, luminance=True)[1], p[1])


def test_nothing_saturated_returns_pred_and_errors():
    x, pred = _scene(32, 32, [])
    assert torch.equal(paste_light_source(x, pred), pred)
    with pytest.raises(ZooError, match="threshold must lie in"):
        paste_light_source(x, pred, threshold=2.0)
    with pytest.raises(ZooError, match="differ in shape"):
        paste_light_source(x, pred[..., :16])
