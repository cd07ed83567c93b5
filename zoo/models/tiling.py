"""Tiled inference: run a model tile by tile and blend the tiles into a float32 canvas.

For an image ``x`` (B, C, H, W) and a tile side ``T`` with overlap ``O``, tiles start every
``T - O`` pixels (the last one flush with the border).  Each tile's output is multiplied by a
separable weight ``w(y) * w(x)`` that ramps up over the ``O`` pixels next to an edge shared with a
neighbouring tile and is 1 elsewhere (image borders are not ramped)::

    cosine:  w(i) = 1/2 - 1/2 cos(pi (i + 1/2) / O),   i = 0 .. O-1 from the shared edge
    linear:  w(i) = (i + 1/2) / O

Two neighbours' ramps over the same ``O`` pixels sum to 1; the canvas is divided by the summed
weights anyway, so irregular last tiles are handled too.  Outside the overlap bands a pixel comes
from one tile only and equals the whole-image output whenever the model's receptive field is
narrower than ``O`` (``tests/models/test_tiling.py``).

Alignment.  A model with windows or strides is not translation invariant: Uformer cuts its
feature maps into windows on a grid of ``window * 2^level`` image pixels (``pad_multiple``,
64 or 128 pixels), and its transposed convolutions leave a 2-pixel pattern.  A tile starting
off that grid computes different windows than its neighbour, and their blend is a visible band
(a seam) even on a constant image.  So tiles start on multiples of ``align`` (default: the
model's ``pad_multiple`` attribute, else 1): the stride is ``T - O`` rounded down to a multiple
of ``align``, the ramps span the whole overlap ``T - stride``, and the image is reflect-padded at
the bottom/right when the last tile overhangs it.  Aligned tiles reproduce the whole-image
output to ~1e-3 on a tiny Uformer where tiles at arbitrary offsets are off by ~0.07.

Only one tile's activations exist at a time; the input (plus its padded copy when the last
tile overhangs), the output canvas (float32) and a one-channel weight canvas are the only
whole-image buffers, so peak memory is bounded by the tile size (``benchmarks/bench_tiled.py``).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from zoo.errors import InputError

from .padding import pad_bottom_right


def tile_starts(n: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets covering ``[0, n)`` with ``tile``-pixel tiles overlapping by ``overlap``.

    ``align = 1``: the last tile is flush with the border.  ``align > 1``: every start is a
    multiple of ``align`` (the stride is ``tile - overlap`` rounded down to one), so the last
    tile may reach past ``n`` and :func:`tiled_forward` pads the image for it.
    """
    if n <= tile:
        return [0]
    if align <= 1:
        starts = list(range(0, n - tile, tile - overlap))
        return starts + [n - tile]
    stride = (tile - overlap) // align * align
    if stride <= 0:
        raise InputError(f"tiled_forward: tile - overlap = {tile - overlap} is smaller than the "
                         f"model's alignment {align}; use a larger tile or a smaller overlap")
    starts = [0]
    while starts[-1] + tile < n:
        starts.append(starts[-1] + stride)
    return starts


def ramp(length: int, overlap: int, ramp_start: bool, ramp_end: bool, blend: str = "cosine",
         dtype=torch.float32) -> torch.Tensor:
    """1-D blending weight of a tile of ``length`` pixels (see the module docstring)."""
    w = torch.ones(length, dtype=dtype)
    o = min(overlap, length // 2) if ramp_start and ramp_end else min(overlap, length)
    if o <= 0:
        return w
    t = (torch.arange(o, dtype=dtype) + 0.5) / o
    if blend == "cosine":
        r = 0.5 - 0.5 * torch.cos(math.pi * t)
    elif blend == "linear":
        r = t
    else:
        raise InputError(f"tiled_forward: blend must be 'cosine' or 'linear', got {blend!r}")
    if ramp_start:
        w[:o] = r
    if ramp_end:
        w[length - o:] = torch.minimum(w[length - o:], r.flip(0))
    return w


@torch.no_grad()
def tiled_forward(model: Callable, x: torch.Tensor, tile: int = 512, overlap: int = 32, *,
                  blend: str = "cosine", device: str | torch.device | None = None,
                  callback: Callable[[int, int], None] | None = None,
                  align: int | None = None, **forward_kwargs) -> torch.Tensor:
    """``model(x)`` computed tile by tile; returns a float32 CPU tensor (B, C_out, H, W).

    Args:
        model: any callable mapping (B, C, h, w) to (B, C_out, h, w) (the same h, w).
        x: the whole image batch, kept where it is (CPU is fine); tiles move to ``device``.
        tile: tile side in pixels (an image smaller than a tile is run in one piece).
        overlap: pixels shared by neighbouring tiles, blended with ``blend`` weights.
        device: where the model runs (default: the device of its first parameter, else x's).
        callback: ``callback(done, total)`` after each tile (progress bars).
        align: tile starts are multiples of this (default: the model's ``pad_multiple``
            attribute, e.g. Uformer's ``window * 16``, else 1; reduced to its largest divisor
            not above ``tile - overlap``); see the module docstring.
        forward_kwargs: passed to ``model`` (e.g. ``ratio=`` for KinD).
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise InputError(f"tiled_forward: expected a (B, C, H, W) tensor, got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if tile <= 0 or overlap < 0 or overlap >= tile:
        raise InputError(f"tiled_forward: need tile > overlap >= 0, got tile={tile}, "
                         f"overlap={overlap}")
    if device is None:
        param = next(iter(getattr(model, "parameters", lambda: iter(()))()), None)
        device = param.device if param is not None else x.device
    dtype = next(iter(getattr(model, "parameters", lambda: iter(()))()), x).dtype
    if not dtype.is_floating_point:
        dtype = torch.float32
    b, _, h, w = x.shape
    if align is None:
        align = int(getattr(model, "pad_multiple", 1) or 1)
        # a tile too small for the full grid still aligns to the finest grids that fit
        align = max(d for d in range(1, align + 1) if align % d == 0 and d <= tile - overlap)
    ys, xs = tile_starts(h, tile, overlap, align), tile_starts(w, tile, overlap, align)
    # aligned tiles overlap by tile - stride >= overlap: blend over all of it
    band = tile - (tile - overlap) // align * align if align > 1 else overlap
    th, tw = min(tile, h), min(tile, w)
    full_h, full_w = ys[-1] + th, xs[-1] + tw  # > (h, w) when the last aligned tile overhangs
    x = pad_bottom_right(x, full_h - h, full_w - w)
    total = len(ys) * len(xs)
    canvas = None
    weight = torch.zeros(1, 1, full_h, full_w, dtype=torch.float32)
    done = 0
    for y0 in ys:
        wy = ramp(th, band, y0 > 0, y0 + th < full_h, blend)
        for x0 in xs:
            wx = ramp(tw, band, x0 > 0, x0 + tw < full_w, blend)
            patch = x[:, :, y0:y0 + th, x0:x0 + tw].to(device=device, dtype=dtype)
            out = model(patch, **forward_kwargs)
            if not isinstance(out, torch.Tensor) or out.shape[0] != b or \
                    out.shape[-2:] != patch.shape[-2:]:
                raise InputError(f"tiled_forward: the model must keep the image size; a "
                                 f"{tuple(patch.shape)} tile gave "
                                 f"{tuple(getattr(out, 'shape', ()))}")
            if canvas is None:
                canvas = torch.zeros(b, out.shape[1], full_h, full_w, dtype=torch.float32)
            wt = (wy[:, None] * wx[None, :])
            canvas[:, :, y0:y0 + th, x0:x0 + tw] += out.float().cpu() * wt
            weight[:, :, y0:y0 + th, x0:x0 + tw] += wt
            del out, patch
            done += 1
            if callback is not None:
                callback(done, total)
    assert canvas is not None  # at least one tile ran
    return canvas.div_(weight)[..., :h, :w].contiguous()
