"""Restoration networks: Uformer, U-Net (SID and Flare7K styles), KinD.

Contract shared by every model here (see ``docs/models.md``):

* factories take keyword arguments (``in_ch``, ``out_ch`` where meaningful);
* ``model(x)`` takes ``(B, C, H, W)`` images of any ``H x W`` (the model pads and crops inside)
  and returns ONE tensor ``(B, C_out, H, W)``;
* a model whose output stacks several parts declares ``output_split``, a dict of channel ranges
  such as ``{"image": (0, 3), "flare": (3, 6)}``; :func:`split_output` slices a part out.
"""
from __future__ import annotations

from typing import Any

from zoo.errors import InputError


def split_output(model: Any, out, part: str = "image"):
    """The channels of ``out`` that hold ``part`` according to ``model.output_split``.

    A model without ``output_split`` (or with an empty one) has a single part: the whole tensor
    is returned for any ``part``.  An unknown part of a split model raises
    :class:`zoo.errors.InputError` listing the parts.
    """
    split = getattr(model, "output_split", None) or {}
    if not split:
        return out
    if part not in split:
        name = getattr(model, "zoo_name", type(model).__name__)
        raise InputError(f"model {name!r} has no output part {part!r} "
                         f"(parts: {', '.join(split)})")
    start, stop = split[part]
    return out[:, start:stop]


__all__ = ["split_output"]
