"""Triplet loss on encoder embeddings, as in Song & Bae's hard-negative fine-tuning (eq. 1).

    L(a, p, n) = [ d(f(a), f(p)) - d(f(a), f(n)) + alpha ]_+

with ``f`` the encoder embedding, ``d`` the squared L2 distance (``distance="squared-l2"``;
``"l2"`` and ``"cosine"`` are offered too, see :mod:`zoo.losses.distances`), ``alpha`` the
margin and ``[x]_+ = max(x, 0)``.  In the cascaded fine-tuning the anchor is the network's
restored image, the positive the ground truth and the negative a hard negative (the previous
stage's output or the degraded input), pushing the restoration towards the clean image and away
from the flare-corrupted one in embedding space.

Citation: Song & Bae, "Hard-negative sampling with cascaded fine-tuning network to boost flare
removal", CVPR 2023 workshops (eq. 1; ViT-L/16 SWAG embedding, the default ``encoder``);
triplet loss after Schroff et al., "FaceNet", CVPR 2015.  The parts (distance, reducer) follow
pytorch-metric-learning's decomposition (Musgrave et al., arXiv:2008.09164).

Embedding of a list of features: ``embedding="flatten"`` concatenates every feature flattened
(a ViT class token stays as it is), ``"gap"`` global-average-pools 4-D feature maps first.
``normalize=True`` scales embeddings to unit norm so the margin is scale-free (squared L2 in
[0, 4]); the paper uses raw embeddings, hence the default ``False``.  The margin default 1.0 is
this implementation's choice.  ``encoder=None`` treats the inputs themselves as the embeddings.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from zoo.encoders.sharing import cached_encoder
from zoo.errors import InputError
from zoo.specs import describe

from .base import check_images
from .distances import Distance, get_distance
from .feature_loss import FeatureLoss, make_encoder
from .reducers import HINGE_REDUCTIONS, check_reduction, reduce

EMBEDDINGS = ("flatten", "gap")


def embed(features: Sequence[torch.Tensor], how: str = "flatten") -> torch.Tensor:
    """One ``(B, D)`` embedding from a list of features (``flatten`` or ``gap``, see above)."""
    parts = []
    for f in features:
        if how == "gap" and f.dim() == 4:
            f = f.mean(dim=(2, 3))
        parts.append(f.reshape(f.shape[0], -1))
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def triplet_from_embeddings(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                            margin: float = 1.0, distance: str | Distance = "squared-l2",
                            normalize: bool = False, reduction: str = "mean") -> torch.Tensor:
    """``[d(a, p) - d(a, n) + margin]_+`` on ``(B, D)`` embeddings, reduced."""
    check_reduction("triplet", reduction, HINGE_REDUCTIONS)
    dist = get_distance(distance, normalize=normalize)
    per_sample = torch.relu(dist(anchor, positive) - dist(anchor, negative) + margin)
    return reduce(per_sample, reduction)


@describe(formula="L = [ d(f(a), f(p)) - d(f(a), f(n)) + alpha ]_+ ,  d = ||.||_2^2",
          citation="Song & Bae, 'Hard-negative sampling with cascaded fine-tuning network to boost "
                   "flare removal', CVPR 2023 workshops, eq. 1; Schroff et al., 'FaceNet', "
                   "CVPR 2015",
          test="tests/losses/test_triplet.py::test_triplet_by_hand_on_tiny_vectors")
class Triplet(FeatureLoss):
    """Triplet loss on encoder embeddings (hard-negative fine-tuning, Song & Bae).

    Default embedding: ViT-L/16 SWAG class token.  Pulls the anchor towards the positive and
    away from the negative by a margin.  See the module docstring.

    Args:
        encoder: registered encoder name, a module, or ``None`` (inputs are embeddings).
        pretrained, layers, encoder_args: passed to the encoder (``None`` keeps its default).
        margin: ``alpha`` (>= 0).
        distance: ``squared-l2`` | ``l2`` | ``cosine``.
        normalize: unit-normalise embeddings before the distance.
        embedding: ``flatten`` | ``gap`` (how a list of feature maps becomes one vector).
        reduction: ``mean`` | ``sum`` | ``none`` | ``mean-of-positive`` (over the batch).
    """

    input_names = ("anchor", "positive", "negative")

    def __init__(self, encoder: str | nn.Module | None = "vit-l-16-swag",
                 pretrained: bool | str | None = None, layers: Sequence[str] | None = None,
                 margin: float = 1.0, distance: str = "squared-l2", normalize: bool = False,
                 embedding: str = "flatten", encoder_args: Mapping[str, Any] | None = None,
                 reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction("triplet", reduction, HINGE_REDUCTIONS)
        if float(margin) < 0:
            raise InputError(f"triplet: margin must be >= 0, got {margin}")
        if embedding not in EMBEDDINGS:
            raise InputError(f"triplet: embedding must be one of {', '.join(EMBEDDINGS)}, "
                             f"got {embedding!r}")
        self.margin, self.embedding = float(margin), embedding
        self.distance = get_distance(distance, normalize=normalize)
        if encoder is None:
            if pretrained is not None or layers or encoder_args:
                raise InputError("triplet: pretrained/layers/encoder_args need an encoder")
            self.encoder = None
        else:
            self.encoder = make_encoder("triplet", encoder, pretrained, layers, encoder_args)

    def check_inputs(self, *xs: torch.Tensor) -> None:
        if len(xs) != 3:
            raise InputError(f"triplet: expected 3 inputs (anchor, positive, negative), "
                             f"got {len(xs)}")
        if self.encoder is not None:
            check_images("triplet", *xs, channels=3)
            return
        for name, x in zip(self.input_names, xs):
            if not isinstance(x, torch.Tensor) or x.dim() < 2 or not x.is_floating_point():
                raise InputError(f"triplet: {name} must be a float tensor (B, D...), got "
                                 f"{getattr(x, 'shape', type(x).__name__)}")
        if len({tuple(x.shape) for x in xs}) > 1:
            raise InputError(f"triplet: anchor, positive and negative differ in shape: "
                             f"{', '.join(str(tuple(x.shape)) for x in xs)}")

    def from_features(self, anchor_features: list[torch.Tensor],
                      positive_features: list[torch.Tensor],
                      negative_features: list[torch.Tensor]) -> torch.Tensor:
        a, p, n = (embed(f, self.embedding) for f in
                   (anchor_features, positive_features, negative_features))
        return triplet_from_embeddings(a, p, n, self.margin, self.distance,
                                       reduction=self.reduction)

    def extra_repr(self) -> str:
        return (f"margin={self.margin}, distance={self.distance}, embedding={self.embedding!r}, "
                f"reduction={self.reduction!r}")


def triplet(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
            encoder: str | nn.Module | None = "vit-l-16-swag", pretrained: bool | str | None = None,
            layers: Sequence[str] | None = None, margin: float = 1.0,
            distance: str = "squared-l2", normalize: bool = False, embedding: str = "flatten",
            encoder_args: Mapping[str, Any] | None = None,
            reduction: str = "mean") -> torch.Tensor:
    """Functional form of :class:`Triplet` (a named encoder is built once per process)."""
    if encoder is not None:
        encoder = make_encoder("triplet", encoder, pretrained, layers, encoder_args,
                               cached_encoder)
    elif pretrained is not None or layers or encoder_args:
        raise InputError("triplet: pretrained/layers/encoder_args need an encoder")
    return Triplet(encoder, margin=margin, distance=distance, normalize=normalize,
                   embedding=embedding, reduction=reduction)(anchor, positive, negative)
