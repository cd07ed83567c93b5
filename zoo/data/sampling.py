"""Seeded randomness and the paired geometric augmentations shared by every dataset.

Every item draws from its own ``torch.Generator`` seeded from ``(seed, split stream, epoch,
index)`` through :class:`numpy.random.SeedSequence`, so an item is the same whatever the worker
or order that loads it, and the train and test splits use disjoint seed streams (stream 0 and
stream 1).  ``set_epoch(e)`` on a dataset changes every training item between epochs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

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


@dataclass(frozen=True)
class Erasing:
    """Random erasing of a **background** image before the flare is composited onto it.

    Zhong et al., "Random Erasing Data Augmentation", AAAI 2020, with the parameters of
    :class:`torchvision.transforms.v2.RandomErasing`: with probability ``p`` a rectangle whose
    area is a fraction ``U(scale)`` of the image and whose aspect ratio is log-uniform in
    ``ratio`` (up to 10 tries to fit it, else nothing is erased) is filled with ``value``: a
    number, one number per channel, or ``"random"`` (uniform noise in [0, 1), since the images
    here are in [0, 1]; torchvision draws standard-normal noise for normalised tensors).  The
    draws come from a generator seeded from the item's own, so an item stays reproducible.

    The datasets erase the background photo crop (display values in [0, 1], before it is
    linearised), so the ground truth and the input show the same erased background and the
    flare stays intact in the input.
    """

    p: float = 0.5
    scale: tuple[float, float] = (0.02, 0.33)
    ratio: tuple[float, float] = (0.3, 3.3)
    value: float | tuple[float, ...] | str = 0.0

    @classmethod
    def from_arg(cls, arg: "Erasing | Mapping | float | None", dataset: str) -> "Erasing | None":
        """``None`` / ``0`` (off), a probability, or a mapping with keys p, scale, ratio, value."""
        if arg is None or isinstance(arg, Erasing):
            return arg
        if isinstance(arg, (int, float)) and not isinstance(arg, bool):
            fields: dict = {"p": float(arg)}
        elif isinstance(arg, Mapping):
            unknown = set(arg) - {"p", "scale", "ratio", "value"}
            if unknown:
                raise InputError(f"dataset {dataset}: erasing has no key "
                                 f"{sorted(unknown)[0]!r} (p, scale, ratio, value)")
            fields = dict(arg)
        else:
            raise InputError(f"dataset {dataset}: erasing must be a probability or a table "
                             f"{{p, scale, ratio, value}}, got {arg!r}")
        try:
            out = cls(p=float(fields.get("p", cls.p)),
                      scale=_pair(fields.get("scale", cls.scale)),
                      ratio=_pair(fields.get("ratio", cls.ratio)),
                      value=_erase_value(fields.get("value", cls.value)))
        except (TypeError, ValueError) as exc:
            raise InputError(f"dataset {dataset}: bad erasing {arg!r} ({exc})") from None
        if not 0 <= out.p <= 1 or not 0 <= out.scale[0] <= out.scale[1] <= 1 \
                or not 0 < out.ratio[0] <= out.ratio[1]:
            raise InputError(f"dataset {dataset}: erasing needs 0 <= p <= 1, "
                             f"0 <= scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], "
                             f"got {arg!r}")
        return out if out.p > 0 else None

    def __call__(self, image: torch.Tensor, seed: int) -> torch.Tensor:
        """``image`` (C, H, W) with one rectangle erased (a new tensor), or ``image`` itself.

        ``seed``: the draws' own seed, which the datasets draw from the item's generator
        whether or not erasing is on, so that turning it on changes nothing else in an item.
        """
        g = generator(seed)
        c, h, w = image.shape
        if float(torch.rand((), generator=g)) >= self.p:
            return image
        area = h * w
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            u_area, u_ratio, u_top, u_left = (float(v) for v in torch.rand(4, generator=g))
            target = area * (self.scale[0] + (self.scale[1] - self.scale[0]) * u_area)
            aspect = math.exp(log_lo + (log_hi - log_lo) * u_ratio)
            eh, ew = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if not (0 < eh < h and 0 < ew < w):
                continue
            top, left = int(u_top * (h - eh + 1)), int(u_left * (w - ew + 1))
            out = image.clone()
            if self.value == "random":
                out[:, top:top + eh, left:left + ew] = torch.rand(c, eh, ew, generator=g)
            else:
                fill = torch.tensor(self.value if isinstance(self.value, tuple)
                                    else (self.value,), dtype=image.dtype)
                out[:, top:top + eh, left:left + ew] = fill.view(-1, 1, 1)
            return out
        return image


def draw_seed(g: torch.Generator) -> int:
    """A seed for a sub-generator, drawn from ``g`` (one draw)."""
    return int(torch.randint(0, 2 ** 62, (), generator=g))


def _pair(value) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    return lo, hi


def _erase_value(value) -> float | tuple[float, ...] | str:
    if isinstance(value, str):
        if value != "random":
            raise ValueError("value must be a number, a list of numbers or 'random'")
        return value
    if isinstance(value, (list, tuple)):
        if len(value) not in (1, 3):
            raise ValueError("value needs 1 or 3 numbers (one per channel)")
        return tuple(float(v) for v in value)
    return float(value)
