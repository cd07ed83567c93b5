"""Perceptual (feature-reconstruction) loss on a registered encoder.

    L(pred, target) = sum_l w_l * mean_{c,h,w} | phi_l(pred) - phi_l(target) |^p

with ``phi_l`` the encoder's feature at layer ``l``, ``p = 1`` (``distance="l1"``) or ``p = 2``
(``distance="l2"``, the squared error of Johnson et al.), and layer weights ``w_l`` (default 1).
The mean is per sample, so ``reduction="none"`` gives ``(B,)``, ``"mean"`` the batch mean and
``"sum"`` the batch sum of those per-sample values.

Citation: Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution", ECCV 2016.  With ``pretrained=False`` (e.g. ``encoder="vgg16.generic-small"``)
the encoder has random fixed weights: the generic perceptual loss of Liu et al., CVPR 2021.

The default encoder ``vgg16`` needs the torchvision ImageNet weights in the torch hub cache
(offline: the error says how to get them); nothing is downloaded.

Two named variants (registry presets):

* ``perceptual.song-bae``: the cascaded-flare paper's ``L_PL`` (Song & Bae, CVPR 2023
  workshops, sec. 3.2, eq. 3): the squared L2 "calculated by MSE" between the embeddings of one
  perceptual encoder, ViT-L/16 SWAG, taken at "the activation layer just before the output
  layer" -- the class token after the final LayerNorm, the input of the dropped classifier
  (:mod:`zoo.encoders.vit`) -- the same encoder as the triplet term, so inside a composer both
  terms share one encoder and one pass per tensor: ``encoder="vit-l-16-swag", distance="l2"``,
  ``L = mean_k (f_k(pred) - f_k(target))^2`` over the 1024 elements, mean over the batch;
* ``perceptual.vgg16-l1``: VGG16 relu1_2, relu2_2, relu3_3, relu4_3 with the L1 distance, the
  usual perceptual loss and this loss's default, by name.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from zoo.encoders.sharing import cached_encoder
from zoo.errors import InputError
from zoo.specs import describe

from .base import check_images
from .feature_loss import FeatureLoss, make_encoder
from .reducers import check_reduction, reduce

FEATURE_DISTANCES = ("l1", "l2")


@describe(formula="L = sum_l w_l * mean_{c,h,w} |phi_l(pred) - phi_l(target)|^p,  "
                  "p = 1 (l1) or 2 (l2)",
          citation="Johnson, Alahi & Fei-Fei, 'Perceptual Losses for Real-Time Style Transfer "
                   "and Super-Resolution', ECCV 2016; random-weight encoders: Liu et al., "
                   "'Generic Perceptual Loss for Modeling Structured Output Dependencies', "
                   "CVPR 2021; song-bae preset: Song & Bae, CVPR 2023 workshops, eq. 3",
          test="tests/losses/test_perceptual.py::test_perceptual_matches_hand_computation")
class Perceptual(FeatureLoss):
    """Perceptual loss: L1/L2 distance of encoder features, weighted over layers.

    Encoder by name (default vgg16: ImageNet weights from the torch hub cache;
    'vgg16.generic-small': random fixed weights, cheap).  See the module docstring.

    Args:
        encoder: registered encoder name (``"vgg16"``, ``"vgg16.generic-small"``) or a module.
        pretrained: passed to the encoder (``True`` / ``False`` / path); ``None`` keeps its default.
        layers: passed to the encoder (e.g. ``["relu1_2", "relu2_2", "relu3_3"]``).
        layer_weights: one weight per returned feature (list) or ``{layer name: weight}``.
        distance: ``"l1"`` (mean absolute) or ``"l2"`` (mean squared) feature difference.
        encoder_args: further encoder options (``{"width": 0.25, "seed": 1}``).
        reduction: ``mean`` | ``sum`` | ``none`` over the batch.
    """

    def __init__(self, encoder: str | nn.Module = "vgg16", pretrained: bool | str | None = None,
                 layers: Sequence[str] | None = None,
                 layer_weights: Sequence[float] | Mapping[str, float] | None = None,
                 distance: str = "l1", encoder_args: Mapping[str, Any] | None = None,
                 reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction("perceptual", reduction)
        if distance not in FEATURE_DISTANCES:
            raise InputError(f"perceptual: distance must be one of {', '.join(FEATURE_DISTANCES)}, "
                             f"got {distance!r}")
        self.distance = distance
        self.encoder = make_encoder("perceptual", encoder, pretrained, layers, encoder_args)
        names = tuple(getattr(self.encoder, "layer_names", ()) or ())
        self.layer_weights = self._weights(layer_weights, names)

    @staticmethod
    def _weights(layer_weights, names: tuple[str, ...]) -> tuple[float, ...] | None:
        if layer_weights is None:
            return None
        if isinstance(layer_weights, Mapping):
            unknown = [k for k in layer_weights if k not in names]
            if unknown:
                raise InputError(f"perceptual: layer_weights name unknown layer(s) {unknown}; "
                                 f"the encoder returns {list(names)}")
            return tuple(float(layer_weights.get(n, 0.0)) for n in names)
        weights = tuple(float(w) for w in layer_weights)
        if names and len(weights) != len(names):
            raise InputError(f"perceptual: {len(weights)} layer_weights for {len(names)} layers "
                             f"{list(names)}")
        return weights

    def check_inputs(self, *xs: torch.Tensor) -> None:
        if len(xs) != 2:
            raise InputError(f"perceptual: expected 2 inputs (pred, target), got {len(xs)}")
        check_images("perceptual", *xs, channels=3)

    def from_features(self, pred_features: list[torch.Tensor],
                      target_features: list[torch.Tensor]) -> torch.Tensor:
        if len(pred_features) != len(target_features):
            raise InputError(f"perceptual: {len(pred_features)} vs {len(target_features)} features")
        weights = self.layer_weights or (1.0,) * len(pred_features)
        if len(weights) != len(pred_features):
            raise InputError(f"perceptual: {len(weights)} layer_weights for "
                             f"{len(pred_features)} encoder features")
        total = None
        for w, fp, ft in zip(weights, pred_features, target_features):
            if w == 0:
                continue
            diff = fp - ft
            diff = diff.abs() if self.distance == "l1" else diff.pow(2)
            term = w * diff.reshape(diff.shape[0], -1).mean(dim=1)
            total = term if total is None else total + term
        if total is None:  # every weight zero
            total = pred_features[0].reshape(pred_features[0].shape[0], -1)[:, :1].sum(1) * 0.0
        return reduce(total, self.reduction)

    def extra_repr(self) -> str:
        return (f"distance={self.distance!r}, layer_weights={self.layer_weights}, "
                f"reduction={self.reduction!r}")


def perceptual(pred: torch.Tensor, target: torch.Tensor, encoder: str | nn.Module = "vgg16",
               pretrained: bool | str | None = None, layers: Sequence[str] | None = None,
               layer_weights: Sequence[float] | Mapping[str, float] | None = None,
               distance: str = "l1", encoder_args: Mapping[str, Any] | None = None,
               reduction: str = "mean") -> torch.Tensor:
    """Functional form of :class:`Perceptual` (the encoder is built once per process and reused)."""
    module = make_encoder("perceptual", encoder, pretrained, layers, encoder_args,
                          cached_encoder)
    return Perceptual(module, layer_weights=layer_weights, distance=distance,
                      reduction=reduction)(pred, target)
