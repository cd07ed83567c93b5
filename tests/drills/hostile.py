"""Components for the hostile-input drill (tests/test_drills.py): losses that misbehave, a dataset
that fails inside a DataLoader worker, and the real LOL folder reader under a short name.

They are loaded with the engine stand-ins (``../engine/standins/plugin.py``) by ``registry.toml``
here, so the drill runs on tiny models and images.
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.errors import InputError
from zoo.hookspecs import hookimpl


class InfiniteLoss(nn.Module):
    """``|pred - target|`` times infinity: every value is +inf."""

    def forward(self, pred, target):
        return (pred - target).abs().mean() * float("inf")


class DetachedLoss(nn.Module):
    """``|pred - target|`` detached from the graph: a loss with no gradient."""

    def forward(self, pred, target):
        return (pred - target).abs().mean().detach()


class DamagedPairs(torch.utils.data.Dataset):
    """Constant pairs, except item ``damaged``, which raises the zoo's one-line InputError."""

    def __init__(self, size: int = 16, length: int = 8, damaged: int = 2):
        self.size, self.length, self.damaged = size, length, damaged

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        if i == self.damaged:
            raise InputError(f"damaged-pairs: item {i} is damaged")
        x = torch.full((3, self.size, self.size), 0.25)
        return {"input": x, "gt": x + 0.5, "name": f"{i:03d}"}


@hookimpl
def zoo_register_losses(register):
    register("infinite", InfiniteLoss, doc="drill: always +inf")
    register("detached", DetachedLoss, doc="drill: no gradient")


@hookimpl
def zoo_register_datasets(register):
    register("damaged-pairs", DamagedPairs, doc="drill: item 2 raises")
    register("folder-pairs", "zoo.data.lol:LOL", doc="drill: LOL folder layout")
