"""Build small Flare7K (2022) or Flare7K++ folder trees for tests, with the released layout.

``build_flare7k_tree(tmp_path, "flare7k++")`` writes, under ``tmp_path``::

    Flickr24K/000000.jpg ...                       backgrounds (scikit-image photos)
    Flare7Kpp/Flare7K/Scattering_Flare/{Compound_Flare,Light_Source,Glare_with_shimmer,Core,
                                        Streak}/000000.png ...
    Flare7Kpp/Flare7K/Reflective_Flare/000000.png ...
    Flare7Kpp/Flare-R/{Compound_Flare,Light_Source}/000000.png ...
    Flare7Kpp/test_data/{real,synthetic}/{input,gt,mask}/input_000000.png, gt_..., mask_...

and for ``"flare7k"`` (2022)::

    Flickr24K/...
    Flare7k/Scattering_Flare/Compound_Flare/000000.png ...
    Flare7k/Reflective_Flare/000000.png ...
    Flare7k/test_data/{real,synthetic}/{input,gt}/input_000000.png, gt_000000.png ...

The flares are offline ``synthetic-flare`` layers on black (compound = glare + streak + light
source, the light source alone, the components, the ghosts as reflective flares), the test pairs
``synthetic-flare`` items with the light source kept in the ground truth (as in the released
test sets).  The folder names are the released ones (docs/data.md); the numbered file names of
the flare folders are this package's convention for pairing a flare with its light source.
Used by ``tests/data/test_flare7k_folders.py`` and the end-to-end tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from zoo.data.backgrounds import BackgroundPool
from zoo.data.io import write_image
from zoo.data.synthetic_flare import SyntheticFlare

DISPLAY_GAMMA = 2.2  # flare images are stored as display values, like the released PNGs


@dataclass(frozen=True)
class Flare7KTree:
    """Where a built tree is: pass ``root`` as the datasets' ``root=``."""

    version: str
    root: Path  # Flare7k/ (2022) or Flare7Kpp/
    backgrounds: Path  # Flickr24K/, beside root
    n_train: int
    n_test: int


def _display(linear: torch.Tensor) -> torch.Tensor:
    return linear.clamp(0, 1) ** (1 / DISPLAY_GAMMA)


def _write_flares(folder: Path, n: int, size: int, seed: int, lights: bool,
                  components: bool) -> None:
    flares = SyntheticFlare("train", size=size, length=n, seed=seed, psf_bank_size=2)
    for i in range(n):
        s = flares.sample(i)
        glare = s["glare"] - s["ghosts"]
        name = f"{i:06d}.png"
        write_image(folder / "Compound_Flare" / name,
                    _display(glare + s["streak"] + s["light_linear"]))
        if lights:
            write_image(folder / "Light_Source" / name, _display(s["light_linear"]))
        if components:
            write_image(folder / "Glare_with_shimmer" / name, _display(glare))
            write_image(folder / "Streak" / name, _display(s["streak"]))
            write_image(folder / "Core" / name, _display(s["light_linear"]))


def build_flare7k_tree(root: str | Path, version: str = "flare7k++", n_train: int = 4,
                       n_test: int = 2, size: int = 96, seed: int = 0) -> Flare7KTree:
    """Write a Flare7K-shaped tree under ``root``; see the module docstring.

    ``n_train`` backgrounds, scattering flares (and Flare-R flares) and reflective flares;
    ``n_test`` pairs per test subset; images of ``size`` pixels (backgrounds 1.25x wider).
    """
    if version not in ("flare7k", "flare7k++"):
        raise ValueError(f"version must be 'flare7k' or 'flare7k++', got {version!r}")
    root = Path(root)
    plus = version == "flare7k++"
    base = root / ("Flare7Kpp" if plus else "Flare7k")
    flare7k = base / "Flare7K" if plus else base
    photos = BackgroundPool("train")
    for i in range(n_train):
        photo = photos.image(i % len(photos))
        photo = F.interpolate(photo[None], size=(size, size * 5 // 4), mode="bilinear",
                              antialias=True, align_corners=False)[0].clamp(0, 1)
        write_image(root / "Flickr24K" / f"{i:06d}.jpg", photo)
    _write_flares(flare7k / "Scattering_Flare", n_train, size, seed, lights=plus,
                  components=plus)
    ghosts = SyntheticFlare("train", size=size, length=n_train, seed=seed + 1, psf_bank_size=1,
                            ghosts=(3, 5))
    for i in range(n_train):
        write_image(flare7k / "Reflective_Flare" / f"{i:06d}.png",
                    _display(ghosts.sample(i)["ghosts"] * 4))
    if plus:
        _write_flares(base / "Flare-R", n_train, size, seed + 2, lights=True, components=False)
    for subset, offset in (("real", 10), ("synthetic", 20)):
        pairs = SyntheticFlare("test", size=size, length=n_test, seed=seed + offset,
                               psf_bank_size=2)
        folder = base / "test_data" / subset
        for i in range(n_test):
            item = pairs[i]
            write_image(folder / "input" / f"input_{i:06d}.png", item["input"])
            write_image(folder / "gt" / f"gt_{i:06d}.png", item["gt"])
            if plus:
                write_image(folder / "mask" / f"mask_{i:06d}.png", item["mask"])
    return Flare7KTree(version, base, root / "Flickr24K", n_train, n_test)
