"""The frozen-encoder base class every built-in encoder derives from.

An encoder maps images in [0, 1], shape ``(B, 3, H, W)``, to a ``list[Tensor]`` of feature maps
(or embeddings).  It normalises its input itself (ImageNet mean/std unless the weights say
otherwise), stays in eval mode whatever ``.train()`` is asked, and has no trainable parameter:
gradients flow *through* it to the images, never into it.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
from torch import nn

from zoo.errors import InputError

#: ImageNet statistics used by torchvision's classification weights (torchvision docs, "Models and
#: pre-trained weights": ``mean=[0.485, 0.456, 0.406]``, ``std=[0.229, 0.224, 0.225]``).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: ``pretrained_source`` prefix of randomly initialised encoders (Liu et al., CVPR 2021).
GENERIC_SOURCE = "random (generic perceptual loss)"


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block under ``torch.manual_seed(seed)`` without touching the caller's RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def generic_source(seed: int) -> str:
    """The ``pretrained_source`` of a generic (random, fixed) encoder built with ``seed``."""
    return f"{GENERIC_SOURCE}, seed={seed}"


class FrozenEncoder(nn.Module):
    """Base class: input checks, normalisation, freezing.  Subclasses implement ``extract``.

    Attributes:
        pretrained_source: which weights are in use, e.g. ``"torchvision IMAGENET1K_V1"`` or
            ``"random (generic perceptual loss), seed=0"``.
        layer_names: the names of the returned features, in output order.
    """

    pretrained_source: str = ""
    layer_names: tuple[str, ...] = ()
    mean: torch.Tensor  # buffers, (1, 3, 1, 1)
    std: torch.Tensor

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)

    @property
    def encoder_name(self) -> str:
        return getattr(self, "zoo_name", type(self).__name__)

    def freeze(self) -> "FrozenEncoder":
        """Eval mode and ``requires_grad=False`` on every parameter; returns self."""
        super().train(False)
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def train(self, mode: bool = True) -> "FrozenEncoder":
        """Frozen encoders ignore ``train()``: dropout/batch-norm stay in inference behaviour."""
        return super().train(False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise InputError(f"encoder {self.encoder_name}: expected a tensor, got "
                             f"{type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != 3:
            raise InputError(f"encoder {self.encoder_name}: expected (B, 3, H, W) images in "
                             f"[0, 1], got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise InputError(f"encoder {self.encoder_name}: expected a floating-point tensor, "
                             f"got {x.dtype}")

    def extract(self, x: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.check_input(x)
        return self.extract(self.normalize(x))

    def extra_repr(self) -> str:
        return f"layers={list(self.layer_names)}, pretrained_source={self.pretrained_source!r}"
