"""The protocol of losses computed on encoder features, which lets the composer share passes.

A :class:`FeatureLoss` splits its forward in two:

* ``features(x) -> list[Tensor]``: run the (frozen) encoder on one input;
* ``from_features(*features) -> Tensor``: the loss from the features of each input;

so ``loss(a, b) == loss.from_features(loss.features(a), loss.features(b))``.  Two losses whose
``feature_key()`` are equal compute identical features, so :class:`zoo.losses.composer.LossComposer`
computes each named tensor's features once for all of them.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping, Sequence

import torch
from torch import nn

from zoo.encoders.sharing import build_encoder
from zoo.errors import InputError


def make_encoder(loss_name: str, encoder: str | nn.Module, pretrained: bool | str | None,
                 layers: Sequence[str] | None, encoder_args: Mapping[str, Any] | None,
                 builder: Callable[..., nn.Module] | None = None) -> nn.Module:
    """Build a loss's encoder from its ``encoder`` / ``pretrained`` / ``layers`` / ``encoder_args``.

    ``builder`` defaults to :func:`zoo.encoders.sharing.build_encoder` (shared inside a composer).
    """
    options = dict(encoder_args or {})
    for key, value in (("pretrained", pretrained), ("layers", layers)):
        if value is not None:
            if key in options:
                raise InputError(f"{loss_name}: {key} given both directly and in encoder_args")
            options[key] = value
    return (builder or build_encoder)(encoder, **options)


class FeatureLoss(nn.Module):
    """Base class of the encoder-based losses (perceptual, LPIPS, triplet).

    Subclasses set ``self.encoder`` (a frozen module returning ``list[Tensor]``, or ``None`` for
    identity features), implement ``from_features`` and ``check_inputs``.
    """

    #: names of the forward arguments, as in the registry spec
    input_names: tuple[str, ...] = ("pred", "target")
    encoder: nn.Module | None

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's features of one input (a list, one entry per layer)."""
        return [x] if self.encoder is None else self.encoder(x)

    def feature_key(self) -> Hashable | None:
        """Equal keys mean equal ``features``; ``None`` when there is no encoder to share."""
        return None if self.encoder is None else ("encoder", id(self.encoder))

    @property
    def pretrained_source(self) -> str:
        """Which encoder weights are in use (the encoder's ``pretrained_source``)."""
        return getattr(self.encoder, "pretrained_source", "none (identity features)")

    def check_inputs(self, *xs: torch.Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def from_features(self, *features: Any, **kwargs: Any) -> torch.Tensor:  # pragma: no cover
        """The loss from one feature list per input name; subclasses fix the arity (typed as
        ``(...)`` here, so ``(pred_features, target_features)`` is a valid override)."""
        raise NotImplementedError

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        self.check_inputs(*xs)
        return self.from_features(*(self.features(x) for x in xs))
