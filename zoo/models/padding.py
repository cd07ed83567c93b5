"""Pad an image batch to a multiple of a network's stride and crop the result back.

Networks with ``k`` down-samplings (or windows of ``w`` tokens at stride ``2**k``) need sides
that are multiples of ``2**k`` (or ``w * 2**k``).  Padding mirrors the border (``reflect``), which
keeps image statistics near the edge; an image smaller than the padding it needs falls back to
repeating the border (``replicate``), since reflection cannot reach past the opposite edge.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int | tuple[int, int],
                    mode: str = "reflect") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``x`` (B, C, H, W) on the bottom/right so both sides are multiples of ``multiple``.

    Returns the padded tensor and the original ``(H, W)`` for :func:`crop_to`.
    """
    mh, mw = (multiple, multiple) if isinstance(multiple, int) else multiple
    h, w = x.shape[-2:]
    return pad_bottom_right(x, (-h) % mh, (-w) % mw, mode), (h, w)


def pad_bottom_right(x: torch.Tensor, ph: int, pw: int, mode: str = "reflect") -> torch.Tensor:
    """Pad ``x`` (B, C, H, W) by ``ph`` rows at the bottom and ``pw`` columns on the right
    (``reflect`` falls back to ``replicate`` when the image is not larger than the padding)."""
    if ph <= 0 and pw <= 0:
        return x
    h, w = x.shape[-2:]
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "replicate"
    return F.pad(x, (0, max(pw, 0), 0, max(ph, 0)), mode=mode)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`: keep the top-left ``size`` pixels."""
    h, w = size
    if x.shape[-2:] == (h, w):
        return x
    return x[..., :h, :w]
