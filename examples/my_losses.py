"""A local loss plugin: no packaging, just a file listed in a ``registry.toml``
(``examples/registry.toml`` beside it)::

    [plugins]
    local = ["my_losses.py"]

This file only registers; it imports nothing heavy, so ``zoo list`` stays fast.  The loss
itself lives in ``gamma_l1.py`` beside it, named by a lazy ``"file.py:Attr"`` factory (a path
relative to this file), imported the first time the loss is built or described.  Formula,
citation and parameter docs are written there, on the implementation.

A ``registry.toml`` listing local plugins runs their code, so ``zoo`` loads it from the current
folder only once trusted (``zoo plugins trust``), or when named:
``zoo --registry examples/registry.toml list losses``.
"""
from __future__ import annotations

from typing import Any, Callable

from zoo import hookimpl


@hookimpl
def zoo_register_losses(register: Callable[..., Any]) -> None:
    register("gamma-l1", "gamma_l1.py:GammaL1Loss", tags=("pixel",),
             doc="L1 after gamma encoding (a local-module plugin).")
