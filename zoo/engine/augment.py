"""Paired batch augmentation: random horizontal/vertical flips and random erasing.

Every image tensor of a batch (``input``, ``gt``, ``flare``, ``mask`` ...) gets the SAME
transform: the tensors are stacked along channels, transformed once by kornia, and split back,
so pairs stay aligned.  Random erasing (Zhong et al., AAAI 2020, "Random Erasing Data
Augmentation") blanks the same rectangle in every tensor, as in the cascaded fine-tuning recipe
of Song & Bae (CVPR-W 2023: random crop, flip and erasing).  Crops are the dataset's job
(its ``size`` argument).  Randomness comes from torch's global generator, whose state the
trainer checkpoints, so a resumed run draws the same transforms.
"""
from __future__ import annotations

from typing import Callable

import kornia.augmentation as K
import torch

from .spec import AugmentSpec


def build_augment(spec: AugmentSpec | None) -> Callable[[dict], dict] | None:
    """A callable ``batch -> batch`` for ``[data.augment]`` (``None`` when nothing is enabled)."""
    if spec is None or not (spec.hflip or spec.vflip or spec.erasing > 0):
        return None
    ops: list[torch.nn.Module] = []
    if spec.hflip:
        ops.append(K.RandomHorizontalFlip(p=0.5))
    if spec.vflip:
        ops.append(K.RandomVerticalFlip(p=0.5))
    if spec.erasing > 0:
        ops.append(K.RandomErasing(p=spec.erasing, scale=spec.erasing_scale, value=0.0))
    pipeline = torch.nn.Sequential(*ops)

    def augment(batch: dict) -> dict:
        keys = [k for k, v in batch.items() if isinstance(v, torch.Tensor) and v.dim() == 4]
        if not keys:
            return batch
        hw = batch[keys[0]].shape[-2:]
        keys = [k for k in keys if batch[k].shape[-2:] == hw]
        sizes = [batch[k].shape[1] for k in keys]
        stacked = pipeline(torch.cat([batch[k] for k in keys], dim=1))
        out = dict(batch)
        for k, part in zip(keys, torch.split(stacked, sizes, dim=1)):
            out[k] = part.contiguous()
        return out

    return augment
