"""Seeded randomness and the paired geometric augmentations shared by every dataset.

Every item draws from its own ``torch.Generator`` seeded from ``(seed, split stream, epoch,
index)`` through :class:`numpy.random.SeedSequence`, so an item is the same whatever the worker
or order that loads it, and the train and test splits use disjoint seed streams (stream 0 and
stream 1).  ``set_epoch(e)`` on a dataset changes every training item between epochs.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from zoo.errors import InputError

SPLITS = ("train", "test")
SPLIT_STREAM = {"train": 0, "test": 1}


def check_split(dataset: str, split: str) -> str:
    if split not in SPLITS:
        raise InputError(f"dataset {dataset}: split must be 'train' or 'test', got {split!r}")
    return split


def item_seed(seed: int, split: str, index: int, epoch: int = 0, stream: int = 0) -> int:
    """A 63-bit seed for one item, from disjoint streams per split."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, SPLIT_STREAM[split], int(stream),
                                    int(epoch), int(index)]).generate_state(2, np.uint32)
    return int(state[0]) << 31 ^ int(state[1])


def generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def uniform(g: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=g))


def randint(g: torch.Generator, low: int, high: int) -> int:
    """An integer in [low, high] (both included)."""
    return int(torch.randint(low, high + 1, (), generator=g))


def pad_to(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Reflect-pad ``(C, H, W)`` up to at least ``height`` x ``width`` (replicate if tiny)."""
    ph, pw = max(0, height - image.shape[-2]), max(0, width - image.shape[-1])
    if not ph and not pw:
        return image
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    mode = "reflect" if ph < image.shape[-2] and pw < image.shape[-1] else "replicate"
    return F.pad(image[None], pad, mode=mode)[0]


def random_crop(images: list[torch.Tensor], size: int | None, g: torch.Generator
                ) -> list[torch.Tensor]:
    """The same random ``size`` x ``size`` crop of every image (reflect-padded when smaller)."""
    if size is None:
        return images
    images = [pad_to(im, size, size) for im in images]
    h, w = images[0].shape[-2:]
    top, left = randint(g, 0, h - size), randint(g, 0, w - size)
    return [im[..., top:top + size, left:left + size] for im in images]


def center_crop(images: list[torch.Tensor], size: int | None) -> list[torch.Tensor]:
    if size is None:
        return images
    images = [pad_to(im, size, size) for im in images]
    h, w = images[0].shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return [im[..., top:top + size, left:left + size] for im in images]


def random_flips(images: list[torch.Tensor], g: torch.Generator) -> list[torch.Tensor]:
    """Horizontal and vertical flips, each with probability 1/2, the same for every image."""
    flips = torch.rand(2, generator=g)
    if flips[0] < 0.5:
        images = [im.flip(-1) for im in images]
    if flips[1] < 0.5:
        images = [im.flip(-2) for im in images]
    return images


def check_same_size(paths: dict, images: dict[str, torch.Tensor]) -> None:
    """Refuse a pair whose images differ in size, naming both files."""
    shapes = {k: tuple(v.shape[-2:]) for k, v in images.items()}
    first = next(iter(shapes))
    for k, s in shapes.items():
        if s != shapes[first]:
            raise InputError(f"image sizes differ: {paths[first]} is {shapes[first][0]}x"
                             f"{shapes[first][1]} but {paths[k]} is {s[0]}x{s[1]}")
