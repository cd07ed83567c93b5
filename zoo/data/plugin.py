"""Built-in plugin registering datasets through ``zoo_register_datasets``.

``items`` names the keys of every sample; citations and parameter docs live on the classes.
"""
from __future__ import annotations

from typing import Any, Callable

from zoo.hookspecs import hookimpl

_PAIR = ("input", "gt", "name")


@hookimpl
def zoo_register_datasets(register: Callable[..., Any]) -> None:
    register("synthetic-flare", "zoo.data.synthetic_flare:SyntheticFlare",
             doc="Offline Fourier-optics flare pairs (scattering PSF bank, ghosts, light source) "
                 "on darkened natural photos, with exact Flare7K colour-code masks.",
             items=("input", "gt", "flare", "light", "mask", "name"),
             tags=("flare", "synthetic", "offline"))
    register("flare7k", "zoo.data.flare7k:Flare7K",
             doc="Flare7K / Flare7K++ training pairs synthesised from the released folders "
                 "(split='test' gives the test_data pairs).",
             items=("input", "gt", "flare", "light", "name"), tags=("flare", "folder"))
    register("flare7k-test", "zoo.data.flare7k:Flare7KTest",
             doc="Flare7K / Flare7K++ test_data/{real,synthetic}/{input,gt,mask} pairs.",
             items=("input", "gt", "mask", "name"), tags=("flare", "folder", "test"))
    register("lol", "zoo.data.lol:LOL",
             doc="LOL low-light pairs (our485 for train, eval15 for test), paired by name.",
             items=_PAIR, tags=("low-light", "folder"))
    register("synthetic-lowlight", "zoo.data.synthetic_pairs:SyntheticLowLight",
             doc="Gamma-darkened natural photos with Poisson-Gaussian noise (offline).",
             items=_PAIR, tags=("low-light", "synthetic", "offline"))
    register("synthetic-denoise", "zoo.data.synthetic_pairs:SyntheticDenoise",
             doc="Natural photos with additive white Gaussian noise of std sigma/255 (offline).",
             presets={"s15": {"sigma": 15.0}, "s25": {"sigma": 25.0}, "s50": {"sigma": 50.0},
                      "blind": {"sigma": (0.0, 55.0)}},
             items=_PAIR, tags=("denoise", "synthetic", "offline"))
