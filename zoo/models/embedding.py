"""``conv-embedding``: a small convolutional image embedding, trained in a recipe stage.

For the third arm of the cascade's triplet-embedding ablation: an encoder trained beforehand on
the synthetic flares with a contrastive loss (``info-nce``: a clean image close to another view
of itself, far from flare-corrupted images), then used frozen as the triplet's embedding
(encoder ``model-features`` with ``source = "stage:<that stage>"``, whose default layer for
this architecture is ``head``, the trained embedding itself).

    x (B, 3, H, W) -> [conv3x3 stride 2, LeakyReLU 0.2, conv3x3, LeakyReLU 0.2] x len(widths)
                   -> global average pool -> linear (``dim``) -> (B, dim)

Any input size (each block halves it, rounding up).  This package's design: the usual
small-CNN encoder of contrastive learning (SimCLR, Chen et al., ICML 2020, uses a ResNet and a
projection head; here one linear head, since the embedding is used as trained).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from zoo.errors import InputError
from zoo.specs import describe


@describe(citation="this package's design; contrastive training after Chen et al., SimCLR, "
                   "ICML 2020 (the info-nce loss)",
          test="tests/test_model_features.py::test_conv_embedding_and_its_features")
class ConvEmbedding(nn.Module):
    """A small CNN mapping an image to a ``dim``-vector (see the module docstring).

    Args:
        in_ch: image channels.
        widths: channels of the strided blocks (each halves the resolution).
        dim: size of the embedding (the linear head's output).
    """

    def __init__(self, in_ch: int = 3, widths: Sequence[int] = (16, 32, 64), dim: int = 64):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if in_ch < 1 or dim < 1 or not widths or min(widths) < 1:
            raise InputError(f"conv-embedding: in_ch, dim and every width must be positive, got "
                             f"in_ch={in_ch}, widths={list(widths)}, dim={dim}")
        self.in_ch, self.dim = int(in_ch), int(dim)
        blocks, prev = [], int(in_ch)
        for w in widths:
            blocks.append(nn.Sequential(nn.Conv2d(prev, w, 3, 2, 1), nn.LeakyReLU(0.2, True),
                                        nn.Conv2d(w, w, 3, 1, 1), nn.LeakyReLU(0.2, True)))
            prev = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(prev, self.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_ch:
            raise InputError(f"conv-embedding: expected (B, {self.in_ch}, H, W) input, got "
                             f"{tuple(x.shape)}")
        return self.head(self.blocks(x).mean(dim=(2, 3)))
