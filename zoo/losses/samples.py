"""Sample inputs for losses whose inputs are not plain ``(pred, target)`` images.

A loss spec may set ``sample_inputs="zoo.losses.samples:decomposition"``; the loss
battery (``tests/losses/test_battery.py``) and tools call it as
``fn(names, batch=2, size=32, dtype=torch.float32, generator=None) -> dict[name, Tensor]`` to get
valid random inputs for the names in the spec's ``inputs``.  Third-party plugins can point at
their own function of the same signature.
"""
from __future__ import annotations

import torch


def _rand(shape, dtype, generator):
    return torch.rand(shape, dtype=dtype, generator=generator)


def images(names, batch=2, size=32, dtype=torch.float32, generator=None):
    """Every name an RGB image in [0, 1]."""
    return {n: _rand((batch, 3, size, size), dtype, generator) for n in names}


def decomposition(names, batch=2, size=32, dtype=torch.float32, generator=None):
    """Retinex/KinD names: ``i_*`` illumination (1 channel), everything else RGB, in [0, 1]."""
    return {n: _rand((batch, 1 if n.startswith("i_") else 3, size, size), dtype, generator)
            for n in names}


def zero_dce(names, batch=2, size=32, dtype=torch.float32, generator=None):
    """``curves``: 24 curve maps in [-1, 1] (Zero-DCE's tanh output); the rest RGB images."""
    out = images([n for n in names if n != "curves"], batch, size, dtype, generator)
    if "curves" in names:
        out["curves"] = _rand((batch, 24, size, size), dtype, generator) * 2 - 1
    return out


def classification(names, batch=2, size=32, dtype=torch.float32, generator=None, classes=5):
    """``logits`` (B, K) and class-index ``target`` (B,)."""
    return {"logits": torch.randn((batch, classes), dtype=dtype, generator=generator),
            "target": torch.randint(0, classes, (batch,), generator=generator)}


def discriminator_logits(names, batch=2, size=32, dtype=torch.float32, generator=None):
    """PatchGAN-like logits ``(B, 1, 4, 4)`` for every name."""
    return {n: torch.randn((batch, 1, 4, 4), dtype=dtype, generator=generator) for n in names}
