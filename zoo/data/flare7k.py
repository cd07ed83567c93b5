"""``flare7k`` and ``flare7k-test``: the Flare7K / Flare7K++ folders as released.

Flare7K (Dai et al., "Flare7K: A Phenomenological Nighttime Flare Removal Dataset", NeurIPS
2022 Datasets and Benchmarks) and Flare7K++ (Dai et al., "Flare7K++: Mixing Synthetic and Real
Datasets for Nighttime Flare Removal and Beyond", 2023) unpack as (``root`` is the Flare7k or
Flare7Kpp folder)::

    dataset/
      Flare7k/                                   Flare7K (2022)
        Scattering_Flare/Compound_Flare/         scattering flares (light source included)
        Reflective_Flare/                        reflective flares (ghosts)
        test_data/{real,synthetic}/{input,gt}/   input_000000.png, gt_000000.png, ...
      Flare7Kpp/                                 Flare7K++
        Flare7K/Scattering_Flare/{Compound_Flare,Light_Source,Glare_with_shimmer,Core,Streak}/
        Flare7K/Reflective_Flare/
        Flare-R/{Compound_Flare,Light_Source}/   real captured flares and their light sources
        test_data/{real,synthetic}/{input,gt,mask}/   ... mask_000000.png (colour-coded)
      Flickr24K/                                 backgrounds (``backgrounds``; looked for in
                                                 ``root/Flickr24K`` and beside ``root``)

A light source and its compound flare share a name (after a leading ``<folder name>_`` is
removed, see :mod:`zoo.data.pairing`).  ``Glare_with_shimmer``, ``Core`` and ``Streak`` (the
component layers, from which Flare7K's masks come) are not read.

Files are paired by name (:mod:`zoo.data.pairing`), never by sorted position.

Two versions (``version=``), with the facts from ykdai/Flare7K (``options/uformer_flare7k_option.yml``,
``options/uformer_flare7kpp_baseline_option.yml``, ``basicsr/data/flare7k_dataset.py``,
``flare7kpp_dataset.py``, ``test.py``, ``basicsr/utils/flare_util.py``; an independent
implementation, no code copied):

* ``"flare7k"`` (Dai et al., NeurIPS 2022; the released Flare7K Uformer was trained so):
  scattering flares of ``Flare7K/Scattering_Flare/Compound_Flare`` only (no Flare-R), plus a
  reflective flare; the ground truth is the background **without** the light source.  At test
  time the light source is pasted back from the input (``test.py``: ``blend_light_source(input,
  output, 0.97)``): a recipe's ``[eval] light_source = "paste"``
  (:func:`zoo.metrics.light_source.paste_light_source`, the one implementation).
* ``"flare7k++"`` (Dai et al., 2023): Flare7K and Flare-R sets drawn with equal probability
  (``data_ratio: [0.5, 0.5]``), reflective flares for the Flare7K set only, and each compound
  flare's light source (``Light_Source``) **kept in the ground truth**.
* ``None`` (default): ``"flare7k++"`` when the tree has ``Scattering_Flare/Light_Source``
  (Flare-R is then used when present), else ``"flare7k"`` -- what this dataset did before the
  option existed.

Training synthesis:

* gamma ``g ~ U(1.8, 2.2)`` per sample; every layer is linearised with ``x ** g``;
* background: random ``size`` crop (reflect-padded), horizontal and vertical flips, optional
  random erasing (``erasing``, this package's addition, applied before the flare is added),
  Gaussian noise of std ``0.01 * chi2(1)``, gain ``U(0.5, 1.2)``, clamp to [0, 1];
* flare: a compound flare (from one flare set, sets chosen with equal probability), plus a
  random reflective flare when the set has them (``clamp(flare + reflective)``); per channel
  "remove background" ``(x - min) * max / (max - min)``; RandomAffine with rotation 0-360,
  scale ``flare_scale`` (0.8-1.5), translation ``translate / 1440`` of the size (300) and shear
  +-20 degrees, centre crop, flips (the light source, when used, gets the same transform);
  without a light source: brightness jitter ``U(0.8, 3)``; Gaussian blur (kernel 21, sigma
  U(0.1, 3)); without a light source: DC offset ``U(-0.02, 0.02)``;
* ``input = clamp(background + flare)``; with a light source (Flare7K++):
  ``gt = clamp(background + light)`` and ``flare = clamp(flare - light)``; otherwise
  ``gt = background``.  All returned through ``** (1 / g)``.

Flare images are 1440 px wide and were cropped at 512 in Flare7K; ``flare_zoom`` (default
``size / 512``) resizes them so that a ``size`` crop shows what a 512 crop showed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from zoo.errors import InputError
from zoo.specs import describe

from .io import list_images, read_image
from .pairing import index_folder, pair_by_name
from .sampling import (Erasing, center_crop, check_same_size, check_split, draw_seed, generator,
                       item_seed, random_crop, random_flips, randint, uniform)

FLARE7K_CITATION = ("Dai et al., Flare7K: A Phenomenological Nighttime Flare Removal Dataset, "
                    "NeurIPS 2022 Datasets and Benchmarks; Dai et al., Flare7K++, 2023")
DOWNLOAD_HINT = ("download Flare7K++ (https://github.com/ykdai/Flare7K, Flare7Kpp.zip) and "
                 "Flickr24K, unpack them side by side, and pass root=<.../Flare7Kpp>; or use the "
                 "offline dataset 'synthetic-flare'")
VERSIONS = ("flare7k", "flare7k++")
FLARE_SETS = ("flare7k", "flare-r")


def _find_root(root: str | Path | None, dataset: str) -> Path:
    if root is None:
        raise InputError(f"dataset {dataset}: no root given; {DOWNLOAD_HINT}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InputError(f"dataset {dataset}: folder {root} not found; {DOWNLOAD_HINT}")
    return root


def _check_version(version: str | None, dataset: str) -> str | None:
    if version is not None and version not in VERSIONS:
        raise InputError(f"dataset {dataset}: version must be 'flare7k' (2022: light source "
                         f"removed from the ground truth) or 'flare7k++', got {version!r}")
    return version


def _flare7k_dir(base: Path) -> Path:
    """The folder holding Scattering_Flare: ``Flare7K/`` (Flare7K++), ``Flare7k/`` (2022) or
    ``base`` itself."""
    return next((base / n for n in ("Flare7K", "Flare7k") if (base / n).is_dir()), base)


@describe(citation=FLARE7K_CITATION, test="tests/data/test_flare7k_folders.py")
class Flare7KTest(Dataset):
    """The Flare7K / Flare7K++ test pairs: ``test_data/<subset>/{input,gt[,mask]}``.

    Args:
        root: the Flare7K or Flare7Kpp folder, the folder above a ``Flare7k`` folder, or a
            folder holding input/ and gt/ directly.
        subset: "real" or "synthetic".
        size: optional centre crop (None keeps the full 512 x 512 images).
        split: "train" or "test", accepted so that every dataset takes ``split``; the items
            are the test pairs either way.
        version: the convention of the models it tests ("flare7k": trained without the light
            source in the ground truth, scored with ``[eval] light_source = "paste"``;
            "flare7k++"; None: not stated), recorded as ``self.version``; the items are the
            same.
    Items: ``{"input", "gt", "mask", "name"}`` (``mask`` when the folder has one; the ground
    truth of the test pairs always shows the light source).
    """

    def __init__(self, root: str | Path | None = None, subset: str = "real",
                 size: int | None = None, split: str = "test", version: str | None = None):
        check_split("flare7k-test", split)
        self.version = _check_version(version, "flare7k-test")
        base = _find_root(root, "flare7k-test")
        candidates = [base, base / "test_data" / subset] + [
            base / name / "test_data" / subset for name in ("Flare7k", "Flare7K", "Flare7Kpp")]
        folder = next((c for c in candidates if (c / "input").is_dir()), None)
        if folder is None or not (folder / "gt").is_dir():
            raise InputError(f"dataset flare7k-test: {base / 'test_data' / subset}/input and "
                             f"gt not found; {DOWNLOAD_HINT}")
        folders: dict[str, str | Path] = {"input": folder / "input", "gt": folder / "gt"}
        if (folder / "mask").is_dir():
            folders["mask"] = folder / "mask"
        self.pairs = pair_by_name(folders)
        self.size = size

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        key, paths = self.pairs[index]
        images = {role: read_image(p) for role, p in paths.items()}
        check_same_size(paths, images)
        roles = list(images)
        cropped = center_crop([images[r] for r in roles], self.size)
        item: dict = dict(zip(roles, cropped))
        item["name"] = key
        return item


@describe(citation=FLARE7K_CITATION, test="tests/data/test_flare7k_folders.py")
class Flare7K(Dataset):
    """Training pairs synthesised on the fly from the Flare7K / Flare7K++ folders.

    Args:
        root: the Flare7K or Flare7Kpp folder.
        backgrounds: folder of background photos (default ``root/Flickr24K`` or
            ``root/../Flickr24K``).
        split: "train" (synthesis) or "test" (the ``test_data/<subset>`` pairs).
        size: crop size.
        length: items per epoch (default: the number of backgrounds).
        seed: base seed.
        version: "flare7k" (2022), "flare7k++" or None (detected); see the module docstring.
        flare_sets: override the flare folders used, among "flare7k" and "flare-r" (default:
            the version's).
        reflective: add reflective flares (Flare7K set only).
        flare_scale, translate, shear: RandomAffine ranges (Flare7K's defaults).
        flare_zoom: resize factor applied to flare images first (default ``size / 512``).
        subset: test subset for split="test".
        erasing: random erasing of the background before the flare is added (a probability,
            or a table ``{p, scale, ratio, value}``, see :class:`zoo.data.sampling.Erasing`).
    Items: ``{"input", "gt", "flare", "name"}``, plus ``"light"`` with Flare7K++.
    """

    def __init__(self, root: str | Path | None = None, backgrounds: str | Path | None = None,
                 split: str = "train", size: int = 512, length: int | None = None,
                 seed: int = 0, version: str | None = None,
                 flare_sets: tuple[str, ...] | None = None, reflective: bool = True,
                 flare_scale: tuple[float, float] = (0.8, 1.5), translate: float = 300.0,
                 shear: float = 20.0, flare_zoom: float | None = None, subset: str = "real",
                 erasing: Erasing | Mapping | float | None = None):
        self.split = check_split("flare7k", split)
        self.size, self.seed, self.epoch = int(size), int(seed), 0
        version = _check_version(version, "flare7k")
        base = _find_root(root, "flare7k")
        self.version = version
        self.test: Flare7KTest | None = None
        if split == "test":
            self.test = Flare7KTest(base, subset=subset, size=None, version=version)
            self.length = len(self.test)
            return
        flare7k_dir = _flare7k_dir(base)
        detected = version is None
        if version is None:
            has_lights = (flare7k_dir / "Scattering_Flare" / "Light_Source").is_dir()
            version = "flare7k++" if has_lights else "flare7k"
        self.version = version
        use_lights = version == "flare7k++"
        names = tuple(flare_sets) if flare_sets is not None else (
            FLARE_SETS if use_lights else ("flare7k",))
        self.sets = []  # (name, {key: flare path}, {key: light path}, [reflective paths])
        for name in names:
            if name == "flare7k":
                scatter = flare7k_dir / "Scattering_Flare"
                refl_dir: Path | None = flare7k_dir / "Reflective_Flare"
            elif name == "flare-r":
                scatter, refl_dir = base / "Flare-R", None
            else:
                raise InputError(f"dataset flare7k: unknown flare set {name!r} "
                                 f"(flare7k or flare-r)")
            compound = scatter / "Compound_Flare"
            if not compound.is_dir():
                if name == "flare-r" and detected and flare_sets is None:
                    continue  # a Flare7K++ tree without Flare-R: use what is there
                raise InputError(f"dataset flare7k: folder {compound} not found "
                                 f"(version {version}); {DOWNLOAD_HINT}")
            flares = index_folder(compound, "compound_flare")
            if not flares:
                raise InputError(f"dataset flare7k: no images in {compound}")
            lights: dict[str, Path] = {}
            if use_lights:
                light_dir = scatter / "Light_Source"
                if not light_dir.is_dir():
                    raise InputError(f"dataset flare7k: folder {light_dir} not found; version "
                                     f"'flare7k++' keeps the light sources in the ground "
                                     f"truth (use version='flare7k' without them)")
                pairs = pair_by_name({"flare": compound, "light": light_dir})
                lights = {k: p["light"] for k, p in pairs}
            reflect = (list_images(refl_dir) if reflective and refl_dir is not None
                       and refl_dir.is_dir() else [])
            self.sets.append((name, flares, lights, reflect))
        if not self.sets:
            raise InputError(f"dataset flare7k: no flare folders under {base}; {DOWNLOAD_HINT}")
        bg = Path(backgrounds) if backgrounds is not None else next(
            (p for p in (base / "Flickr24K", base.parent / "Flickr24K") if p.is_dir()), None)
        if bg is None or not bg.is_dir():
            raise InputError(f"dataset flare7k: background folder "
                             f"{bg or base / 'Flickr24K'} not found; pass backgrounds=<folder> "
                             f"or {DOWNLOAD_HINT}")
        self.backgrounds = list_images(bg)
        if not self.backgrounds:
            raise InputError(f"dataset flare7k: no images in background folder {bg}")
        self.length = int(length) if length is not None else len(self.backgrounds)
        self.with_light = use_lights
        self.flare_scale, self.translate, self.shear = tuple(flare_scale), translate, shear
        self.flare_zoom = float(flare_zoom) if flare_zoom is not None else self.size / 512.0
        self.erasing = Erasing.from_arg(erasing, "flare7k")

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _load_flare(self, path: Path) -> torch.Tensor:
        image = read_image(path)
        if abs(self.flare_zoom - 1.0) > 1e-6:
            h, w = image.shape[-2:]
            image = F.interpolate(image[None], size=(max(1, round(h * self.flare_zoom)),
                                                     max(1, round(w * self.flare_zoom))),
                                  mode="bilinear", antialias=True, align_corners=False)[0]
        return image

    def _affine(self, layers: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """RandomAffine + centre crop + flips of (C, H, W) flare layers."""
        from torchvision.transforms.v2 import functional as TF

        h, w = layers.shape[-2:]
        max_dx = self.translate / 1440.0 * w
        max_dy = self.translate / 1440.0 * h
        angle = uniform(g, 0.0, 360.0)
        tx, ty = round(uniform(g, -max_dx, max_dx)), round(uniform(g, -max_dy, max_dy))
        scale = uniform(g, *self.flare_scale)
        shear = [uniform(g, -self.shear, self.shear), 0.0]
        out = TF.affine(layers, angle=angle, translate=[tx, ty], scale=scale, shear=shear)
        ph, pw = max(0, self.size - out.shape[-2]), max(0, self.size - out.shape[-1])
        if ph or pw:  # zero padding, as torchvision's CenterCrop: flares are on black
            out = F.pad(out, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        (out,) = center_crop([out], self.size)
        return random_flips([out], g)[0]

    def __getitem__(self, index: int) -> dict:
        if self.test is not None:
            return self.test[index]
        if not 0 <= index < self.length:
            raise IndexError(f"flare7k index {index} out of range (length {self.length})")
        g = generator(item_seed(self.seed, self.split, index, self.epoch))
        gamma = uniform(g, 1.8, 2.2)
        bg_path = self.backgrounds[index % len(self.backgrounds)]
        (background,) = random_crop([read_image(bg_path)], self.size, g)
        (background,) = random_flips([background], g)
        erase_seed = draw_seed(g)
        if self.erasing is not None:
            background = self.erasing(background, erase_seed)
        background = background ** gamma
        sigma = 0.01 * float(torch.randn(1, generator=g) ** 2)
        background = background + sigma * torch.randn(background.shape, generator=g)
        background = (uniform(g, 0.5, 1.2) * background).clamp(0, 1)
        dc_offset = uniform(g, -0.02, 0.02)

        name, flares, lights, reflect = self.sets[randint(g, 0, len(self.sets) - 1)]
        keys = sorted(flares)
        key = keys[randint(g, 0, len(keys) - 1)]
        flare = self._load_flare(flares[key]) ** gamma
        if reflect:
            ghost = self._load_flare(reflect[randint(g, 0, len(reflect) - 1)]) ** gamma
            ghost = _fit(ghost, flare.shape[-2:])
            flare = (flare + ghost).clamp(0, 1)
        lo = flare.amin(dim=(1, 2), keepdim=True)
        hi = flare.amax(dim=(1, 2), keepdim=True)
        flare = (flare - lo) * hi / (hi - lo + 1e-7)  # Flare7K's remove_background
        has_light = key in lights
        if has_light:
            light = _fit(self._load_flare(lights[key]) ** gamma, flare.shape[-2:])
            both = self._affine(torch.cat([flare, light]), g)
            flare, light = both[:3], both[3:]
        else:
            flare = self._affine(flare, g)
            flare = flare * uniform(g, 0.8, 3.0)  # brightness jitter
        sigma_blur = uniform(g, 0.1, 3.0)
        flare = _gaussian_blur(flare, 21, sigma_blur)
        if not has_light:
            flare = flare + dc_offset
        flare = flare.clamp(0, 1)
        merged = (flare + background).clamp(0, 1)
        inv = 1.0 / gamma
        item: dict = {"input": merged ** inv}
        if has_light:
            item["gt"] = (background + light).clamp(0, 1) ** inv
            item["flare"] = (flare - light).clamp(0, 1) ** inv
            item["light"] = light.clamp(0, 1) ** inv
        else:
            item["gt"] = background ** inv
            item["flare"] = flare ** inv
            if self.with_light:
                item["light"] = torch.zeros_like(background)
        item["name"] = f"{bg_path.stem}+{name}-{key}"
        return item


def _fit(image: torch.Tensor, hw: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """Resize ``image`` to ``hw`` when it differs (flare and light/ghost images of one set)."""
    if tuple(image.shape[-2:]) == tuple(hw):
        return image
    return F.interpolate(image[None], size=tuple(hw), mode="bilinear", align_corners=False)[0]


def _gaussian_blur(image: torch.Tensor, kernel: int, sigma: float) -> torch.Tensor:
    from kornia.filters import gaussian_blur2d

    return gaussian_blur2d(image[None], (kernel, kernel), (sigma, sigma),
                           border_type="reflect")[0]
