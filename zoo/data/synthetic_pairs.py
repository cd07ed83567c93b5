"""``synthetic-lowlight`` and ``synthetic-denoise``: seeded pairs made from natural photos.

Both crop the photos of :mod:`zoo.data.backgrounds` (scikit-image's, or a folder; the train and
test splits use disjoint photos and disjoint seed streams), with a random zoom (0.5-1x) and
flips, and degrade the crop ``x`` (the ground truth) into the input.

Low light, the "simulated" low-light data of the survey by Li et al., "Low-Light Image and Video
Enhancement Using Deep Learning: A Survey", TPAMI 2021 (section 4: synthetic pairs made by gamma
darkening of normal-light images plus noise, as in LLNet, Lore et al., Pattern Recognition
2017), with Poisson-Gaussian sensor noise (Foi et al., "Practical Poissonian-Gaussian noise
modeling and fitting for single-image raw-data", IEEE TIP 2008)::

    dark  = b * x ** g,           g ~ U(gamma),  b ~ U(brightness)
    input = clamp(Poisson(k * dark) / k + N(0, s^2), 0, 1),   k ~ U(photons), s ~ U(read_noise)

Denoising, additive white Gaussian noise of std ``sigma / 255`` (the DnCNN protocol, Zhang et
al., IEEE TIP 2017); ``sigma`` is a number or a (low, high) range (blind denoising); the input
is clipped to [0, 1] unless ``clip=False``.
Items: ``{"input", "gt", "name"}``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from zoo.errors import InputError
from zoo.specs import describe

from .backgrounds import BackgroundPool
from .sampling import check_split, generator, item_seed, uniform


class _PhotoPairs(Dataset):
    dataset_name = "synthetic"

    def __init__(self, split: str, size: int, length: int | None, seed: int,
                 root: str | Path | None):
        self.split = check_split(self.dataset_name, split)
        if int(size) < 8:
            raise InputError(f"dataset {self.dataset_name}: size must be >= 8, got {size}")
        self.size, self.seed, self.epoch = int(size), int(seed), 0
        self.length = int(length if length is not None else (1000 if split == "train" else 100))
        self.photos = BackgroundPool(split, root, dataset=self.dataset_name)

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _crop(self, g: torch.Generator) -> tuple[torch.Tensor, str]:
        return self.photos.random_crop(self.size, g)

    def degrade(self, clean: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"{self.dataset_name} index {index} out of range "
                             f"(length {self.length})")
        g = generator(item_seed(self.seed, self.split, index, self.epoch))
        clean, photo = self._crop(g)
        return {"input": self.degrade(clean, g), "gt": clean,
                "name": f"{self.dataset_name}-{self.split}-{index:06d}-{photo}"}


@describe(citation="Li et al., Low-Light Image and Video Enhancement Using Deep Learning: A "
                   "Survey, TPAMI 2021 (simulated data); Lore et al., LLNet, Pattern Recognition "
                   "2017; Foi et al., IEEE TIP 2008 (noise model)",
          test="tests/data/test_synthetic_pairs.py")
class SyntheticLowLight(_PhotoPairs):
    """Gamma-darkened photos with Poisson-Gaussian noise (see the module docstring).

    Args:
        split, size, length, seed, root: as every synthetic dataset.
        gamma: range of the darkening exponent g.
        brightness: range of the gain b applied after the gamma.
        photons: range of k, the photon count of a white pixel (lower = noisier).
        read_noise: range of the Gaussian read-noise std s.
    """

    dataset_name = "synthetic-lowlight"

    def __init__(self, split: str = "train", size: int = 128, length: int | None = None,
                 seed: int = 0, root: str | Path | None = None,
                 gamma: tuple[float, float] = (2.0, 3.5),
                 brightness: tuple[float, float] = (0.3, 1.0),
                 photons: tuple[float, float] = (100.0, 1000.0),
                 read_noise: tuple[float, float] = (0.0, 0.01)):
        super().__init__(split, size, length, seed, root)
        self.gamma, self.brightness = tuple(gamma), tuple(brightness)
        self.photons, self.read_noise = tuple(photons), tuple(read_noise)

    def degrade(self, clean: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        dark = uniform(g, *self.brightness) * clean ** uniform(g, *self.gamma)
        k = uniform(g, *self.photons)
        shot = torch.poisson(dark * k, generator=g) / k
        read = uniform(g, *self.read_noise) * torch.randn(dark.shape, generator=g)
        return (shot + read).clamp(0, 1)


@describe(citation="Zhang et al., Beyond a Gaussian Denoiser (DnCNN), IEEE TIP 2017",
          test="tests/data/test_synthetic_pairs.py")
class SyntheticDenoise(_PhotoPairs):
    """Photos with additive white Gaussian noise of std sigma/255 (see the module docstring).

    Args:
        split, size, length, seed, root: as every synthetic dataset.
        sigma: noise std on the 0-255 scale, or a (low, high) range drawn per item.
        clip: clamp the noisy input to [0, 1].
    """

    dataset_name = "synthetic-denoise"

    def __init__(self, split: str = "train", size: int = 128, length: int | None = None,
                 seed: int = 0, root: str | Path | None = None,
                 sigma: float | tuple[float, float] = 25.0, clip: bool = True):
        super().__init__(split, size, length, seed, root)
        lo, hi = (sigma, sigma) if isinstance(sigma, (int, float)) else tuple(sigma)
        if not 0 <= lo <= hi:
            raise InputError(f"dataset synthetic-denoise: sigma must be >= 0 (or a low <= high "
                             f"range), got {sigma!r}")
        self.sigma, self.clip = (float(lo), float(hi)), bool(clip)

    def degrade(self, clean: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        sigma = uniform(g, *self.sigma) / 255.0
        noisy = clean + sigma * torch.randn(clean.shape, generator=g)
        return noisy.clamp(0, 1) if self.clip else noisy
