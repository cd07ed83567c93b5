"""Natural images for the synthetic datasets, with train and test drawn from disjoint images.

Without a folder, the photographs bundled with scikit-image (no download needed) are used:
training from astronaut, coffee, rocket, the stereo motorcycle pair, brick, grass and coins;
testing from chelsea, the Hubble deep field, camera and gravel.  No image is in both lists
(``skimage.data.cat`` is ``chelsea``, so it is not used).  With ``root`` (a folder of images,
e.g. Flickr24K), a file belongs to the test split when ``crc32(file name) % 10 == 0``: a fixed
tenth of the files, stable when files are added.
"""
from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from zoo.errors import InputError

from .io import list_images, read_image
from .sampling import randint, random_flips, uniform

BUILTIN_TRAIN = ("astronaut", "coffee", "rocket", "motorcycle_left", "motorcycle_right",
                 "brick", "grass", "coins")
BUILTIN_TEST = ("chelsea", "hubble_deep_field", "camera", "gravel")


@lru_cache(maxsize=None)
def _builtin(name: str) -> torch.Tensor:
    """A scikit-image photo as (3, H, W) float32 in [0, 1], decoded once per process."""
    import numpy as np
    import skimage.data as data

    if name.startswith("motorcycle_"):
        left, right, _ = data.stereo_motorcycle()
        array = left if name.endswith("left") else right
    else:
        array = getattr(data, name)()
    array = np.asarray(array, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(array[..., :3].transpose(2, 0, 1)))


def is_test_file(path: Path) -> bool:
    return zlib.crc32(path.name.encode()) % 10 == 0


class BackgroundPool:
    """The natural images of one split: ``len(pool)``, ``pool.name(i)``, ``pool.image(i)``.

    Built-in images are decoded once and kept; folder images are read on use (a folder may hold
    tens of thousands of files).
    """

    def __init__(self, split: str, root: str | Path | None = None, *,
                 max_images: int | None = None, dataset: str = "dataset"):
        self.split, self.root = split, root
        if root is None:
            names = BUILTIN_TRAIN if split == "train" else BUILTIN_TEST
            self._names = list(names[:max_images])
            self._images: list[torch.Tensor] | None = [_builtin(n) for n in self._names]
            self._paths: list[Path] = []
        else:
            self._paths = [p for p in list_images(root)
                           if is_test_file(p) == (split == "test")][:max_images]
            if not self._paths:
                raise InputError(f"dataset {dataset}: no {split} images in {root} (a file is a "
                                 f"test image when crc32(name) % 10 == 0; add more images)")
            self._names = [p.stem for p in self._paths]
            self._images = None

    def __len__(self) -> int:
        return len(self._names)

    def name(self, i: int) -> str:
        return self._names[i]

    def image(self, i: int) -> torch.Tensor:
        if self._images is not None:
            return self._images[i]
        return read_image(self._paths[i])

    def random_crop(self, size: int, g: torch.Generator) -> tuple[torch.Tensor, str]:
        """A random photo's random square crop of a random zoom (0.5-1x), resized to ``size``,
        randomly flipped; returns (crop (3, size, size) in [0, 1], photo name).

        Draw order from ``g`` (kept stable so seeded datasets stay reproducible): photo index,
        zoom, top, left, flips.
        """
        i = randint(g, 0, len(self) - 1)
        photo = self.image(i)
        h, w = photo.shape[-2:]
        side = min(h, w, max(size, int(round(size / uniform(g, 0.5, 1.0)))))
        top, left = randint(g, 0, h - side), randint(g, 0, w - side)
        crop = photo[:, top:top + side, left:left + side]
        if side != size:
            crop = F.interpolate(crop[None], size=(size, size), mode="bilinear", antialias=True,
                                 align_corners=False)[0]
        (crop,) = random_flips([crop], g)
        return crop.clamp(0, 1), self.name(i)
