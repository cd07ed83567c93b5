"""Datasets: Flare7K / LOL folders and offline synthetic pairs, plus robust image IO.

Registered datasets (``zoo.create_dataset(name, **kw)``): ``synthetic-flare`` (the offline
default for flare removal), ``flare7k``, ``flare7k-test``, ``lol``, ``synthetic-lowlight``,
``synthetic-denoise``.  Items are dicts of CHW float tensors in [0, 1] plus ``"name"``.

``read_image``, ``write_image``, ``list_images`` and ``pair_by_name`` are importable from here;
they are loaded on first use so that importing the plugin (``zoo list``) does not import torch.
"""
from __future__ import annotations

_LAZY = {"read_image": "io", "write_image": "io", "list_images": "io",
         "IMAGE_EXTENSIONS": "io", "pair_by_name": "pairing"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
