"""Distances between matched rows of two embedding batches (metric-learning building blocks).

Following the split pytorch-metric-learning uses (a distance, a reducer and the loss formula as
separate parts; Musgrave et al., "PyTorch Metric Learning", arXiv:2008.09164), a distance here is
a small callable ``d(x, y) -> (B,)`` on ``(B, D)`` embeddings, smaller meaning closer:

* ``mse``: ``d = (1/D) sum_k (x_k - y_k)^2 = ||x - y||_2^2 / D``, the mean over the
  embedding's ``D`` elements: Song & Bae's triplet distance (eq. 1, "L2-distance calculated by
  MSE"); its scale does not grow with ``D``;
* ``squared-l2``: ``d = ||x - y||_2^2`` (summed over the elements: ``D`` times ``mse``);
* ``l2``: ``d = ||x - y||_2``;
* ``cosine``: ``d = 1 - <x, y> / (||x|| ||y||)``, in [0, 2].

``normalize=True`` first scales every embedding to unit L2 norm (pytorch-metric-learning's
default); squared L2 then lies in [0, 4] and equals ``2 * cosine``, and ``mse`` in [0, 4 / D].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.errors import InputError


class Distance:
    """Base class: validates ``(B, D)`` pairs, optionally normalises, then ``compute``."""

    name = "distance"

    def __init__(self, normalize: bool = False):
        self.normalize = bool(normalize)

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape != y.shape:
            raise InputError(f"{self.name} distance: expected two (B, D) embeddings of equal "
                             f"shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        if self.normalize:
            x, y = F.normalize(x, dim=1), F.normalize(y, dim=1)
        return self.compute(x, y)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(normalize={self.normalize})"


class MSEDistance(Distance):
    """``||x - y||_2^2 / D`` per row: the mean of the squared differences over the D elements."""

    name = "mse"

    def compute(self, x, y):
        return (x - y).pow(2).mean(dim=1)


class SquaredL2Distance(Distance):
    """``||x - y||_2^2`` per row."""

    name = "squared-l2"

    def compute(self, x, y):
        return (x - y).pow(2).sum(dim=1)


class L2Distance(Distance):
    """``||x - y||_2`` per row (a 1e-12 floor keeps the gradient finite where x == y)."""

    name = "l2"

    def compute(self, x, y):
        return (x - y).pow(2).sum(dim=1).clamp_min(1e-24).sqrt()


class CosineDistance(Distance):
    """``1 - cos(x, y)`` per row (``torch.nn.functional.cosine_similarity``, eps 1e-8)."""

    name = "cosine"

    def compute(self, x, y):
        return 1.0 - F.cosine_similarity(x, y, dim=1, eps=1e-8)


DISTANCES: dict[str, type[Distance]] = {c.name: c for c in (MSEDistance, SquaredL2Distance,
                                                             L2Distance, CosineDistance)}


def get_distance(name: str | Distance, normalize: bool = False) -> Distance:
    """A distance by name (``mse``, ``squared-l2``, ``l2``, ``cosine``), or the given instance."""
    if isinstance(name, Distance):
        return name
    if name not in DISTANCES:
        raise InputError(f"unknown distance {name!r}; one of {', '.join(DISTANCES)}")
    return DISTANCES[name](normalize=normalize)
