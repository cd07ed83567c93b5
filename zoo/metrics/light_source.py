"""Pasting the light source back before scoring, as Flare7K's released test code does.

Flare7K (Dai et al., NeurIPS 2022) removes the flare *and* the light source, then pastes the
saturated light source of the input back into the output before saving it; its published
numbers score that blend.  Ported from ykdai/Flare7K (commit d1fb66e), ``test.py``:
``blend_light_source(merge_img, deflare_img, 0.97)``, and ``basicsr/utils/flare_util.py``:
``get_highlight_mask``, ``refine_mask``, ``_create_disk_kernel``, ``blend_light_source``.
Per image (``x`` the flare-corrupted input, ``y`` the network's output, both (3, H, W) in [0, 1]):

1. saturated pixels: ``mean_c x > threshold`` (``threshold = 0.97`` in ``test.py``; with
   ``luminance=True``, ``0.2126 R + 0.7152 G + 0.0722 B > threshold``);
2. a morphological opening by a disk of radius ``ceil(0.5 * 0.01 * max(H, W))``
   (``skimage.morphology.binary_opening``: erosion with the outside counted as set, then
   dilation with the outside counted as unset);
3. the largest 8-connected blob's equivalent diameter ``D = sqrt(4 area / pi)``
   (``skimage.measure.regionprops``' ``equivalent_diameter``); ``k = round(1.5 D)`` (Python's
   rounding, half to even);
4. if ``k > 0``: the opened mask blurred by a ``k x k`` disk kernel ``K = [r <= (k - 1)/2] +
   1e-7``, normalised to sum 1 (``r`` the distance of a tap to the kernel centre), as
   ``cv2.filter2D`` computes it (correlation, anchor at ``k // 2``, border
   ``BORDER_REFLECT_101``); then ``M = clip(3 * blurred, 0, 1)`` and
   ``blend = x * M + y * (1 - M)``; if ``k = 0`` (nothing saturated) ``blend = y``.

The mask is computed in float64 with NumPy/SciPy (the blur through an FFT; Flare7K's cv2 call
works in float32, so values agree to about 1e-6).  An evaluation option for Flare7K-2022 models
(``light_source = "paste"``), off by default.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage, signal

from zoo.errors import InputError

from .base import check_pair

#: the threshold Flare7K's ``test.py`` passes to ``blend_light_source``
THRESHOLD = 0.97
#: ``refine_mask``'s ``morph_size``: the opening disk's diameter relative to the long side
MORPH_SIZE = 0.01
#: the blur kernel's size relative to the largest blob's equivalent diameter
KERNEL_SCALE = 1.5
#: the gain on the blurred mask before clipping to [0, 1]
GAIN = 3.0
#: added to every tap of the disk kernel before normalising (Flare7K's ``_EPS``)
KERNEL_EPS = 1e-7
LUMA = (0.2126, 0.7152, 0.0722)


def disk_kernel(size: int) -> np.ndarray:
    """Flare7K's ``_create_disk_kernel(size)``: a normalised ``size x size`` disk (float64)."""
    x = np.arange(size) - (size - 1) / 2
    xx, yy = np.meshgrid(x, x)
    kernel = (np.sqrt(xx ** 2 + yy ** 2) <= np.max(x)).astype(np.float64) + KERNEL_EPS
    return kernel / kernel.sum()


def _disk_footprint(radius: int) -> np.ndarray:
    """``skimage.morphology.disk(radius)``: the integer offsets with ``dy^2 + dx^2 <= r^2``."""
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius ** 2


def _filter2d_reflect101(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``cv2.filter2D(image, -1, kernel)``: correlation, anchor ``k // 2``, BORDER_REFLECT_101."""
    kh, kw = kernel.shape
    pad = ((kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2))
    padded = np.pad(image, pad, mode="reflect")  # NumPy's "reflect" is OpenCV's REFLECT_101
    return signal.fftconvolve(padded, kernel[::-1, ::-1], mode="valid")


def saturated(input: torch.Tensor, threshold: float = THRESHOLD,
              luminance: bool = False) -> torch.Tensor:
    """Step 1, in the input's dtype as Flare7K's ``get_highlight_mask``: (B, H, W) booleans."""
    if luminance:
        r, g, b = input[:, 0], input[:, 1], input[:, 2]
        return LUMA[0] * r + LUMA[1] * g + LUMA[2] * b > threshold
    return input.mean(dim=1) > threshold


def blend_weights(binary: np.ndarray) -> np.ndarray:
    """Steps 2-4: the blend weight ``M`` (H, W) in [0, 1] from one image's saturated pixels."""
    radius = math.ceil(0.5 * MORPH_SIZE * max(binary.shape))
    footprint = _disk_footprint(radius)
    opened = ndimage.binary_dilation(
        ndimage.binary_erosion(binary, structure=footprint, border_value=1),
        structure=footprint, border_value=0)
    labels, count = ndimage.label(opened, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return np.zeros(binary.shape)
    largest = np.bincount(labels.ravel())[1:].max()
    size = round(KERNEL_SCALE * math.sqrt(4.0 * largest / math.pi))
    if size <= 0:
        return np.zeros(binary.shape)
    blurred = _filter2d_reflect101(opened.astype(np.float64), disk_kernel(size))
    return np.clip(blurred * GAIN, 0.0, 1.0)


def paste_light_source(input: torch.Tensor, pred: torch.Tensor, threshold: float = THRESHOLD,
                       luminance: bool = False) -> torch.Tensor:
    """``input * M + pred * (1 - M)`` per image: Flare7K's ``blend_light_source`` (see above).

    ``input`` is the flare-corrupted image the network saw, ``pred`` its restored image, both
    ``(B, 3, H, W)`` in [0, 1]; returns the blend, shape and dtype of ``pred``.
    """
    check_pair("light-source paste", input, pred, names=("input", "pred"))
    if not 0.0 <= float(threshold) <= 1.0:
        raise InputError(f"light-source paste: threshold must lie in [0, 1], got {threshold}")
    binary = saturated(input.detach(), threshold, luminance).cpu().numpy()
    masks = np.stack([blend_weights(b) for b in binary])
    m = torch.from_numpy(masks)[:, None].to(pred.device, pred.dtype)
    return input.to(pred.dtype) * m + pred * (1 - m)
