"""``synthetic-flare``: offline, physically based flare pairs with Flare7K-style masks.

Needs no download: backgrounds are natural photographs (scikit-image's, or a folder), darkened
into night scenes; scattering flares are Fourier-optics PSFs of dusty, scratched lenses
(:mod:`zoo.data.optics`, after Wu et al., ICCV 2021) plus reflective ghosts; the light source is
its own layer.  All layers are combined in the linear domain, as in Flare7K (Dai et al.,
NeurIPS 2022; ``basicsr/data/flare7k_dataset.py``): a per-sample gamma ``g ~ U(1.8, 2.2)``
linearises the background (``x ** g``) and the result is brought back with ``** (1 / g)``.

Per sample (all draws from the item's own seeded generator, see :mod:`zoo.data.sampling`):

* background: a random crop of a random zoom (0.5-1x) of a split's photo, flips, optional
  random erasing (``erasing``), linearised, darkened by ``U(0.01, 0.15)`` with a per-channel
  tint ``U(0.85, 1.15)``, Gaussian noise of std ``0.01 * chi2(1)`` (Flare7K's), clamped;
* light: position uniform in the central 80 % of the crop; colour a black body of
  2000-7000 K (street lamps, 60 %) or a random hue of saturation 0.4-1 (coloured lights, 40 %),
  max channel 1;
* scattering flare: one PSF of the bank (unit energy) warped by an affine map (rotation
  U(0, 360), scale ``flare_scale`` = U(0.8, 1.5), shear U(-20, 20) degrees, as Flare7K's
  RandomAffine) centred on the light, times the colour and ``energy * size**2`` with
  ``energy`` log-uniform in ``energy`` (the mean linear value the flare would have spread over
  the crop);
* reflective ghosts: ``ghosts`` = 1-4 polygons (5-8 blades) or discs on the line through the
  image centre ``c`` and the light ``p``, at ``c + t (p - c)``, ``t ~ U(-1.3, 0.7)``; radius
  U(2, 10) % of the crop, linear intensity U(0.01, 0.06), tinted by the light colour and a
  coating colour;
* light source: a disc with a soft edge, intensity U(1.5, 3) (saturated), colour halfway
  between the light's and white; its radius is U(1.5, 3.5) % of the crop, enlarged to the radius
  where the flare's halo saturates (ring mean of the glare >= 1) and capped at 5 %: the light
  source covers the saturated core, as Flare7K++'s light-source images include "a tiny glare
  around the light source".

Composition, ``light_source="keep"`` (Flare7K++ convention, the default; the light source
belongs to the ground truth)::

    compound = glare + streak + ghosts + light
    input    = clamp(background + compound, 0, 1)
    gt       = clamp(background + light, 0, 1)
    flare    = clamp(compound - light, 0, 1)

``light_source="remove"`` (Flare7K 2022 convention): ``gt = background`` and ``flare =
clamp(compound)`` (the light source is part of the flare to remove); the items also carry
``gt_light`` (``clamp(background + light)``, what a result with the light source pasted back is
compared with) and ``light_mask`` (1, H, W), the soft paste-back weight ``clamp(Y(light), 0,
1)``: ``restored = light_mask * input + (1 - light_mask) * output``.

Masks, Flare7K's colour code, made from the component layers with luminance thresholds (the
way Flare7K++ ships its flares: ``Glare_with_shimmer``, ``Streak``, ``Core`` / ``Light_Source``
layers), in the linear domain, ``Y = 0.2126 R + 0.7152 G + 0.0722 B``, thresholds
``mask_thresholds`` = (t_glare, t_streak, t_light) = (0.05, 0.01, 0.5):

* light source (0, 0, 1) where ``Y(light) >= t_light``;
* streak (1, 0, 0) where ``Y(streak) >= t_streak``, ``Y(streak) >= streak_ratio * Y(glare +
  ghosts)`` (the ray stands out of the halo, ``streak_ratio`` 0.5) and ``Y(streak) >=
  streak_ridge *`` its 5 x 5 local maximum (the ray's crest, not its diffraction side lobes,
  ``streak_ridge`` 0.3), outside the light source;
* glare (1, 1, 0) where the 5 x 5 local mean of ``Y(glare + ghosts)`` is ``>= t_glare`` (the
  halo's outline, not frayed by its speckle), outside both.

Reflective ghosts are labelled glare (a choice of this package).

Items: ``{"input", "gt", "flare", "light", "mask", "name"}`` (plus ``"gt_light"`` and
``"light_mask"`` with ``light_source="remove"``), CHW float in [0, 1].  ``split`` "test" uses
other photos, another PSF bank and another seed stream than "train".
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from zoo.errors import InputError
from zoo.specs import describe

from .backgrounds import BackgroundPool
from .optics import LUMA, WAVELENGTHS_NM, PSFBank, polygon_distance_ratio, psf_bank, rgb_weights
from .sampling import Erasing, check_split, draw_seed, generator, item_seed, randint, uniform

LIGHT_SOURCE_CONVENTIONS = ("keep", "remove")


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Rec. 709 luminance of (3, H, W) -> (H, W)."""
    return torch.einsum("c,chw->hw", LUMA.to(x.dtype), x)


def black_body_rgb(kelvin: float) -> torch.Tensor:
    """RGB (max channel 1) of a black body at ``kelvin``, seen through the PSF's channel
    sensitivities (:func:`zoo.data.optics.rgb_weights`): Planck's law at the 9 wavelengths."""
    lam = WAVELENGTHS_NM * 1e-9
    c2 = 1.4388e-2  # h c / k_B in m K
    spectrum = 1.0 / (lam ** 5 * (torch.exp(c2 / (lam * kelvin)) - 1.0))
    rgb = rgb_weights() @ spectrum
    return rgb / rgb.max()


def hue_rgb(hue: float, saturation: float) -> torch.Tensor:
    """RGB (max channel 1) of a hue in [0, 1) at a saturation in [0, 1] (HSV with V = 1)."""
    k = (torch.tensor([5.0, 3.0, 1.0]) + hue * 6.0) % 6.0
    return 1.0 - saturation * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)


def _separable(pool, image: torch.Tensor, **kw) -> torch.Tensor:
    """A 5 x 5 stride-1 max or mean pool of (H, W) as two 1-D passes (the same result, cheaper)."""
    x = pool(image[None, None], (1, 5), stride=1, padding=(0, 2), **kw)
    return pool(x, (5, 1), stride=1, padding=(2, 0), **kw)[0, 0]


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
        psf_size: side of each PSF in pixels (default ``2 * size``): at flare scale 1 a PSF
            spans two crop widths, so ``2 * size`` maps one PSF pixel to one crop pixel;
            smaller values magnify (blur) the PSF, larger ones are sampled without filtering.
        flare_scale: range of the random PSF scale.
        energy: range of the flare energy (log-uniform): the mean linear value the flare would
            add if it were spread evenly over the crop.
        ghosts: range of the number of reflective ghosts.
        mask_thresholds: (glare, streak, light) luminance thresholds of the mask.
        streak_ratio: a streak pixel needs ``Y(streak) >= streak_ratio * Y(glare)``.
        streak_ridge: ... and ``Y(streak) >= streak_ridge *`` its 5 x 5 local maximum (the
            line's core, not its diffraction side lobes).
        light_source: "keep" (Flare7K++: the light source is in ``gt``) or "remove" (Flare7K
            2022: ``gt`` is the background alone; adds ``gt_light`` and ``light_mask``).
        erasing: random erasing of the background before the flare is added (a probability,
            or a table ``{p, scale, ratio, value}``, see :class:`zoo.data.sampling.Erasing`).
    """

    def __init__(self, split: str = "train", size: int = 128, length: int | None = None,
                 seed: int = 0, root: str | Path | None = None, psf_bank_size: int | None = None,
                 psf_size: int | None = None, flare_scale: tuple[float, float] = (0.8, 1.5),
                 energy: tuple[float, float] = (0.05, 1.0),
                 ghosts: tuple[int, int] = (1, 4),
                 mask_thresholds: tuple[float, float, float] = (0.05, 0.01, 0.5),
                 streak_ratio: float = 0.5, streak_ridge: float = 0.3,
                 light_source: str = "keep",
                 erasing: Erasing | Mapping | float | None = None):
        self.split = check_split("synthetic-flare", split)
        if int(size) < 8:
            raise InputError(f"dataset synthetic-flare: size must be >= 8, got {size}")
        if light_source not in LIGHT_SOURCE_CONVENTIONS:
            raise InputError(f"dataset synthetic-flare: light_source must be 'keep' (Flare7K++) "
                             f"or 'remove' (Flare7K 2022), got {light_source!r}")
        if not 0 < energy[0] <= energy[1]:
            raise InputError(f"dataset synthetic-flare: energy must be a range 0 < low <= high, "
                             f"got {energy!r}")
        self.size, self.seed, self.epoch = int(size), int(seed), 0
        self.length = int(length if length is not None else (1000 if split == "train" else 100))
        self.backgrounds = BackgroundPool(split, root, dataset="synthetic-flare")
        bank_size = psf_bank_size or (16 if split == "train" else 8)
        bank_seed = item_seed(seed, split, 0, stream=7)  # its own stream
        side = int(psf_size) if psf_size else 2 * self.size
        self.bank: PSFBank = psf_bank(int(bank_size), side, bank_seed)
        self.flare_scale, self.energy = tuple(flare_scale), tuple(energy)
        self.ghosts, self.mask_thresholds = tuple(ghosts), tuple(mask_thresholds)
        self.streak_ratio, self.light_source = float(streak_ratio), light_source
        self.streak_ridge = float(streak_ridge)
        self.erasing = Erasing.from_arg(erasing, "synthetic-flare")
        lin = torch.arange(self.size, dtype=torch.float32) + 0.5
        self._yy, self._xx = torch.meshgrid(lin, lin, indexing="ij")

    @property
    def psfs(self) -> torch.Tensor:
        """(count, 6, side, side): the PSF bank (glare RGB, streak RGB)."""
        return self.bank.layers

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Draw different items from the next epoch on (training)."""
        self.epoch = int(epoch)

    # ------------------------------------------------------------------------------ layers
    def _background(self, g: torch.Generator) -> tuple[torch.Tensor, str]:
        photo, name = self.backgrounds.random_crop(self.size, g)
        erase_seed = draw_seed(g)
        if self.erasing is not None:
            photo = self.erasing(photo, erase_seed)
        return photo, name

    def _light_colour(self, g: torch.Generator) -> torch.Tensor:
        if uniform(g, 0.0, 1.0) < 0.6:
            return black_body_rgb(uniform(g, 2000.0, 7000.0))
        return hue_rgb(uniform(g, 0.0, 1.0), uniform(g, 0.4, 1.0))

    def _scatter(self, g: torch.Generator, px: float, py: float
                 ) -> tuple[torch.Tensor, torch.Tensor, int, float]:
        """Warped (glare, streak), each (3, S, S) of the unit-energy PSF; its bank index and
        the crop pixels per PSF pixel."""
        k = randint(g, 0, len(self.bank) - 1)
        psf = self.bank.layers[k]
        p = psf.shape[-1]
        angle = math.radians(uniform(g, 0.0, 360.0))
        shear = math.radians(uniform(g, -20.0, 20.0))
        scale = uniform(g, *self.flare_scale) * 2.0 * self.size / p  # crop px per PSF px
        # forward map A = scale * R(angle) @ Shear(shear) (PSF px -> crop px); sample with
        # A^-1 = Shear(-shear) @ R(-angle) / scale
        ca, sa, tan = math.cos(angle), math.sin(angle), math.tan(shear)
        dx, dy = self._xx - px, self._yy - py
        u = ((ca + tan * sa) * dx + (sa - tan * ca) * dy) / scale  # PSF px from its centre
        v = (-sa * dx + ca * dy) / scale
        grid = torch.stack([u / (p / 2), v / (p / 2)], dim=-1)[None]
        warped = F.grid_sample(psf[None], grid, mode="bilinear", padding_mode="zeros",
                               align_corners=False)[0]
        return warped[:3], warped[3:], k, scale

    def _ghosts(self, g: torch.Generator, px: float, py: float, colour: torch.Tensor
                ) -> torch.Tensor:
        s = self.size
        out = torch.zeros(3, s, s)
        cx = cy = s / 2
        for _ in range(randint(g, *self.ghosts)):
            t = uniform(g, -1.3, 0.7)
            gx, gy = cx + t * (px - cx), cy + t * (py - cy)
            radius = uniform(g, 0.02, 0.10) * s
            sides = randint(g, 4, 8)
            sides = 0 if sides == 4 else sides  # a disc one time in five
            rotation = uniform(g, 0, 2 * math.pi)
            coating = 0.4 + 0.6 * torch.rand(3, generator=g)
            level = uniform(g, 0.01, 0.06)
            soft = max(0.75 / radius, 0.02)  # edge width, in radii
            # drawn only inside its box: 6 edge widths past the rim the ghost is below 0.3 %
            reach = radius * (1 + 6 * soft) + 1
            y0, y1 = max(0, int(gy - reach)), min(s, int(gy + reach) + 1)
            x0, x1 = max(0, int(gx - reach)), min(s, int(gx + reach) + 1)
            if y0 >= y1 or x0 >= x1:
                continue
            ratio = polygon_distance_ratio((self._xx[y0:y1, x0:x1] - gx) / radius,
                                           (self._yy[y0:y1, x0:x1] - gy) / radius,
                                           sides, rotation)
            shape = torch.sigmoid((1.0 - ratio) / soft) * (0.5 + 0.5 * ratio.clamp(max=1.0))
            out[:, y0:y1, x0:x1] += level * (colour * coating)[:, None, None] * shape
        return out

    def _light(self, g: torch.Generator, px: float, py: float, colour: torch.Tensor,
               saturation_radius: float) -> torch.Tensor:
        radius = max(uniform(g, 0.015, 0.035) * self.size, saturation_radius)
        radius = max(0.75, min(radius, 0.05 * self.size))
        r = torch.hypot(self._xx - px, self._yy - py)
        disc = torch.sigmoid((radius - r) / 0.5)
        tint = 0.5 * (colour + 1.0)
        return uniform(g, 1.5, 3.0) * tint[:, None, None] * disc

    def _saturation_radius(self, k: int, scale: float, gain: float) -> float:
        """Crop pixels out to which the ring mean of ``gain`` times glare ``k`` reaches 1."""
        above = torch.nonzero(self.bank.glare_profile[k] * gain >= 1.0)
        return 0.0 if above.numel() == 0 else (float(above.max()) + 0.5) * scale

    # ------------------------------------------------------------------------------ items
    def sample(self, index: int) -> dict:
        """Item ``index`` with its layers: also ``glare`` (ghosts included), ``streak``,
        ``ghosts``, ``light_linear``, ``background`` (linear domain, energy applied) and
        ``gamma``, for inspection and tests."""
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
        colour = self._light_colour(g)
        glare, streak, k, scale = self._scatter(g, px, py)
        lo, hi = math.log(self.energy[0]), math.log(self.energy[1])
        gain = math.exp(uniform(g, lo, hi)) * s * s
        glare, streak = glare * (gain * colour)[:, None, None], streak * (gain * colour)[:, None, None]
        ghosts = self._ghosts(g, px, py, colour)
        light = self._light(g, px, py, colour, self._saturation_radius(k, scale, gain))

        compound = glare + streak + ghosts + light
        input_lin = (background + compound).clamp(0, 1)
        with_light = (background + light).clamp(0, 1)
        mask = self.mask_from_layers(glare + ghosts, streak, light)
        inv = 1.0 / gamma
        item = {"input": input_lin ** inv, "light": light.clamp(0, 1) ** inv, "mask": mask,
                "name": f"synthetic-flare-{self.split}-{index:06d}-{photo_name}"}
        if self.light_source == "keep":
            item["gt"] = with_light ** inv
            item["flare"] = (compound - light).clamp(0, 1) ** inv
        else:
            item["gt"] = background ** inv
            item["flare"] = compound.clamp(0, 1) ** inv
            item["gt_light"] = with_light ** inv
            item["light_mask"] = luminance(light).clamp(0, 1)[None]
        item.update(glare=glare + ghosts, streak=streak, ghosts=ghosts, light_linear=light,
                    background=background, gamma=gamma)
        return item

    def mask_from_layers(self, glare: torch.Tensor, streak: torch.Tensor, light: torch.Tensor
                         ) -> torch.Tensor:
        """Flare7K colour-code mask (3, H, W) from linear layers (see the module docstring)."""
        t_glare, t_streak, t_light = self.mask_thresholds
        y_glare, y_streak, y_light = luminance(glare), luminance(streak), luminance(light)
        # the halo's outline from its local mean: the speckle ("shimmer") does not fray it
        y_halo = _separable(F.avg_pool2d, y_glare, count_include_pad=False)
        is_light = y_light >= t_light
        local_peak = _separable(F.max_pool2d, y_streak)
        is_streak = ((y_streak >= t_streak) & (y_streak >= self.streak_ratio * y_glare)
                     & (y_streak >= self.streak_ridge * local_peak) & ~is_light)
        is_glare = (y_halo >= t_glare) & ~is_streak & ~is_light
        mask = torch.zeros(3, *glare.shape[-2:])
        mask[0] = (is_streak | is_glare).float()
        mask[1] = is_glare.float()
        mask[2] = is_light.float()
        return mask

    def item_keys(self) -> tuple[str, ...]:
        """The keys of ``dataset[i]`` (besides the layers of :meth:`sample`)."""
        keys = ("input", "gt", "flare", "light", "mask", "name")
        return keys + (("gt_light", "light_mask") if self.light_source == "remove" else ())

    def __getitem__(self, index: int) -> dict:
        item = self.sample(index)
        return {k: item[k] for k in self.item_keys()}
