"""``synthetic-flare``: offline, physically based flare pairs with exact Flare7K-style masks.

Needs no download: backgrounds are natural photographs (scikit-image's, or a folder), darkened
into night scenes; flares are Fourier-optics PSFs (:mod:`zoo.data.optics`, after Wu et al.,
ICCV 2021) plus reflective ghosts; the light source is its own layer.  All layers are combined
in the linear domain, as in Flare7K (Dai et al., NeurIPS 2022; ``basicsr/data/
flare7k_dataset.py``): a per-sample gamma ``g ~ U(1.8, 2.2)`` linearises the background
(``x ** g``) and the result is brought back with ``** (1 / g)``.

Per sample (all draws from the item's own seeded generator, see :mod:`zoo.data.sampling`):

* background: a random crop of a random zoom (0.5-1x) of a split's photo, flips, linearised,
  darkened by ``U(0.01, 0.15)`` with a per-channel tint ``U(0.85, 1.15)``, Gaussian noise of
  std ``0.01 * chi2(1)`` (Flare7K's) then clamped to [0, 1];
* scattering flare: one PSF of the bank warped by an affine map (rotation U(0, 360),
  scale ``flare_scale`` = U(0.8, 1.5), shear U(-20, 20) degrees, as Flare7K's RandomAffine)
  centred on the light position, tinted ``U(0.8, 1.2)`` per channel and multiplied by an
  intensity ``I = exp(U(log 20, log 200))`` (the PSF peak is 1, so the core saturates);
* reflective ghosts: 2-6 polygons (5-8 blades) or discs on the line through the image centre
  ``c`` and the light ``p``, at ``c + t (p - c)``, ``t ~ U(-1.3, 0.7)``; radius U(2, 12)% of
  the crop, linear intensity U(0.01, 0.08), coloured tint;
* light source: a soft disc of radius U(1.5, 5)% of the crop, intensity 1, near-white tint.

Composition (Flare7K++ convention, the light source belongs to the ground truth)::

    compound = I * (glare + streak) + ghosts + light
    input    = clamp(background + compound, 0, 1)
    gt       = clamp(background + light, 0, 1)
    flare    = clamp(compound - light, 0, 1)

The mask uses Flare7K's colour code and is computed from the layers, in the linear domain, with
the luminance ``Y = 0.2126 R + 0.7152 G + 0.0722 B`` (thresholds ``mask_thresholds``):

* light source (0, 0, 1) where ``Y(light) >= 0.5``;
* streak (1, 0, 0) where ``Y(I * streak) >= 0.02`` and ``Y(I * streak) >= 0.5 Y(I * glare +
  ghosts)`` (the rays stand out of the halo), outside the light source;
* glare (1, 1, 0) where ``Y(I * glare + ghosts) >= 0.03``, outside both.

Items: ``{"input", "gt", "flare", "light", "mask", "name"}``, CHW float in [0, 1].  ``split``
"test" uses other photos, another PSF bank and another seed stream than "train".
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from zoo.errors import InputError
from zoo.specs import describe

from .backgrounds import BackgroundPool
from .optics import polygon_distance_ratio, psf_bank
from .sampling import check_split, generator, item_seed, randint, uniform

LUMA = torch.tensor([0.2126, 0.7152, 0.0722])


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Rec. 709 luminance of (3, H, W) -> (H, W)."""
    return torch.einsum("c,chw->hw", LUMA.to(x.dtype), x)


@describe(citation="Wu et al., How to Train Neural Networks for Flare Removal, ICCV 2021; "
                   "composition after Dai et al., Flare7K: A Phenomenological Nighttime Flare "
                   "Removal Dataset, NeurIPS 2022 Datasets and Benchmarks; Dai et al., Flare7K++, "
                   "2023",
          test="tests/data/test_synthetic_flare.py::test_mask_matches_the_layers")
class SyntheticFlare(Dataset):
    """Seeded synthetic flare-removal pairs; see the module docstring for the recipe.

    Args:
        split: "train" or "test" (disjoint photos, PSF bank and seeds).
        size: crop size (square).
        length: number of items.
        seed: base seed.
        root: optional folder of background photos (split by file-name hash); default: the
            photos bundled with scikit-image.
        psf_bank_size: PSFs computed at construction (default 16 for train, 8 for test).
        psf_size: side of each PSF in pixels (its resolution: at scale 1 a PSF always spans
            two crop widths).
        flare_scale: range of the random PSF scale.
        intensity: range of the flare intensity ``I`` (sampled log-uniformly).
        ghosts: range of the number of reflective ghosts.
        mask_thresholds: (glare, streak, light) luminance thresholds of the mask.
        streak_ratio: a streak pixel needs ``Y(streak) >= streak_ratio * Y(glare)``.
    """

    def __init__(self, split: str = "train", size: int = 128, length: int | None = None,
                 seed: int = 0, root: str | Path | None = None, psf_bank_size: int | None = None,
                 psf_size: int = 256, flare_scale: tuple[float, float] = (0.8, 1.5),
                 intensity: tuple[float, float] = (20.0, 200.0),
                 ghosts: tuple[int, int] = (2, 6),
                 mask_thresholds: tuple[float, float, float] = (0.03, 0.02, 0.5),
                 streak_ratio: float = 0.5):
        self.split = check_split("synthetic-flare", split)
        if int(size) < 8:
            raise InputError(f"dataset synthetic-flare: size must be >= 8, got {size}")
        self.size, self.seed, self.epoch = int(size), int(seed), 0
        self.length = int(length if length is not None else (1000 if split == "train" else 100))
        self.backgrounds = BackgroundPool(split, root, dataset="synthetic-flare")
        bank_size = psf_bank_size or (16 if split == "train" else 8)
        bank_seed = item_seed(seed, split, 0, stream=7)  # its own stream
        self.psfs = psf_bank(int(bank_size), int(psf_size), bank_seed)
        self.flare_scale, self.intensity = tuple(flare_scale), tuple(intensity)
        self.ghosts, self.mask_thresholds = tuple(ghosts), tuple(mask_thresholds)
        self.streak_ratio = float(streak_ratio)
        lin = torch.arange(self.size, dtype=torch.float32) + 0.5
        self._yy, self._xx = torch.meshgrid(lin, lin, indexing="ij")

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Draw different items from the next epoch on (training)."""
        self.epoch = int(epoch)

    # ------------------------------------------------------------------------------ layers
    def _background(self, g: torch.Generator) -> tuple[torch.Tensor, str]:
        return self.backgrounds.random_crop(self.size, g)

    def _scatter(self, g: torch.Generator, px: float, py: float) -> tuple[torch.Tensor, ...]:
        """Warped (glare, streak), each (3, S, S), before the intensity."""
        k = randint(g, 0, len(self.psfs) - 1)
        psf = self.psfs[k]
        p = psf.shape[-1]
        angle = math.radians(uniform(g, 0.0, 360.0))
        shear = math.radians(uniform(g, -20.0, 20.0))
        scale = uniform(g, *self.flare_scale) * 2.0 * self.size / p  # crop px per PSF px
        # forward map A = R(angle) @ Shear(shear) * scale (PSF px -> crop px); sample with A^-1
        ca, sa = math.cos(angle), math.sin(angle)
        a = torch.tensor([[ca, -sa], [sa, ca]]) @ torch.tensor([[1.0, math.tan(shear)],
                                                                [0.0, 1.0]]) * scale
        inv = torch.linalg.inv(a)
        dx, dy = self._xx - px, self._yy - py
        u = inv[0, 0] * dx + inv[0, 1] * dy  # PSF px from its centre
        v = inv[1, 0] * dx + inv[1, 1] * dy
        grid = torch.stack([u / (p / 2), v / (p / 2)], dim=-1)[None]
        warped = F.grid_sample(psf[None], grid, mode="bilinear", padding_mode="zeros",
                               align_corners=False)[0]
        return warped[:3], warped[3:]

    def _ghosts(self, g: torch.Generator, px: float, py: float) -> torch.Tensor:
        s = self.size
        out = torch.zeros(3, s, s)
        cx = cy = s / 2
        for _ in range(randint(g, *self.ghosts)):
            t = uniform(g, -1.3, 0.7)
            gx, gy = cx + t * (px - cx), cy + t * (py - cy)
            radius = uniform(g, 0.02, 0.12) * s
            sides = randint(g, 4, 8)
            sides = 0 if sides == 4 else sides  # a disc one time in five
            ratio = polygon_distance_ratio((self._xx - gx) / radius, (self._yy - gy) / radius,
                                           sides, uniform(g, 0, 2 * math.pi))
            soft = 1.5 / radius
            shape = torch.sigmoid((1.0 - ratio) / soft) * (0.6 + 0.4 * ratio.clamp(max=1.0))
            tint = 0.3 + 0.7 * torch.rand(3, generator=g)
            out += uniform(g, 0.01, 0.08) * tint[:, None, None] * shape
        return out

    def _light(self, g: torch.Generator, px: float, py: float) -> torch.Tensor:
        radius = uniform(g, 0.015, 0.05) * self.size
        r = torch.hypot(self._xx - px, self._yy - py)
        disc = torch.sigmoid((radius - r) / 0.75)
        tint = 0.9 + 0.1 * torch.rand(3, generator=g)
        return tint[:, None, None] * disc

    # ------------------------------------------------------------------------------ items
    def sample(self, index: int) -> dict:
        """Item ``index`` with its layers: also ``glare``, ``streak``, ``ghosts``, ``background``
        (linear domain, intensity applied) and ``gamma``, for inspection and tests."""
        if not 0 <= index < self.length:
            raise IndexError(f"synthetic-flare index {index} out of range (length {self.length})")
        g = generator(item_seed(self.seed, self.split, index, self.epoch))
        s = self.size
        gamma = uniform(g, 1.8, 2.2)
        photo, photo_name = self._background(g)
        background = photo ** gamma * uniform(g, 0.01, 0.15)
        background = background * (0.85 + 0.3 * torch.rand(3, 1, 1, generator=g))
        sigma = 0.01 * float(torch.randn(1, generator=g) ** 2)  # 0.01 * chi-square(1)
        background = (background + sigma * torch.randn(background.shape, generator=g)).clamp(0, 1)

        px, py = uniform(g, 0.1, 0.9) * s, uniform(g, 0.1, 0.9) * s
        glare, streak = self._scatter(g, px, py)
        intensity = math.exp(uniform(g, math.log(self.intensity[0]), math.log(self.intensity[1])))
        tint = (0.8 + 0.4 * torch.rand(3, 1, 1, generator=g)) * intensity
        glare, streak = glare * tint, streak * tint
        ghosts = self._ghosts(g, px, py)
        light = self._light(g, px, py)

        compound = glare + streak + ghosts + light
        input_lin = (background + compound).clamp(0, 1)
        gt_lin = (background + light).clamp(0, 1)
        flare_lin = (compound - light).clamp(0, 1)
        mask = self.mask_from_layers(glare + ghosts, streak, light)
        inv = 1.0 / gamma
        return {"input": input_lin ** inv, "gt": gt_lin ** inv, "flare": flare_lin ** inv,
                "light": light.clamp(0, 1) ** inv, "mask": mask,
                "name": f"synthetic-flare-{self.split}-{index:06d}-{photo_name}",
                "glare": glare + ghosts, "streak": streak, "background": background,
                "gamma": gamma}

    def mask_from_layers(self, glare: torch.Tensor, streak: torch.Tensor, light: torch.Tensor
                         ) -> torch.Tensor:
        """Flare7K colour-code mask (3, H, W) from linear layers (see the module docstring)."""
        t_glare, t_streak, t_light = self.mask_thresholds
        y_glare, y_streak, y_light = luminance(glare), luminance(streak), luminance(light)
        is_light = y_light >= t_light
        is_streak = (y_streak >= t_streak) & (y_streak >= self.streak_ratio * y_glare) & ~is_light
        is_glare = (y_glare >= t_glare) & ~is_streak & ~is_light
        mask = torch.zeros(3, *glare.shape[-2:])
        mask[0] = (is_streak | is_glare).float()
        mask[1] = is_glare.float()
        mask[2] = is_light.float()
        return mask

    def __getitem__(self, index: int) -> dict:
        item = self.sample(index)
        return {k: item[k] for k in ("input", "gt", "flare", "light", "mask", "name")}

