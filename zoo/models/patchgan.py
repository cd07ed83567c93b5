"""``patchgan``: the PatchGAN discriminator of pix2pix (Isola, Zhu, Zhou, Efros, "Image-to-Image
Translation with Conditional Adversarial Networks", CVPR 2017, appendix 6.1.2): a fully
convolutional classifier of overlapping patches,

    C64 - C128 - C256 - C512 - conv(1)     (Ck: 4x4 conv, LeakyReLU 0.2; norm on all but the first)

strides 2, 2, 2, 1, 1 for ``n_layers = 3`` (the 70x70 receptive field).  ``model(x)`` returns
the patch logits ``(B, 1, h, w)`` for :func:`zoo.losses.adversarial.adversarial_loss`
(registered as the model ``patchgan``: it is a network to train, not a loss).  Inputs
too small for the stack are padded (replicate) up to the smallest size it accepts.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import InputError
from zoo.specs import describe

NORMS = ("batch", "instance", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


@describe(citation="Isola, Zhu, Zhou, Efros, Image-to-Image Translation with Conditional "
                   "Adversarial Networks, CVPR 2017",
          test="tests/losses/test_adversarial.py::test_patchgan_any_size")
class PatchGANDiscriminator(nn.Module):
    """PatchGAN with ``n_layers`` stride-2 blocks of ``ndf * 2^k`` (capped at 8 ndf) channels.

    Args:
        in_ch: image channels.
        ndf: channels of the first convolution.
        n_layers: number of strided blocks after the first convolution (3: the 70x70 PatchGAN).
        norm: ``batch``, ``instance`` or ``none`` normalisation after each block.
    """

    def __init__(self, in_ch: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        if norm not in NORMS:
            raise InputError(f"patchgan: norm must be one of {', '.join(NORMS)}, got {norm!r}")
        if n_layers < 1 or in_ch < 1 or ndf < 1:
            raise InputError("patchgan: in_ch, ndf and n_layers must be positive")
        self.in_ch = in_ch
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for k in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** k, 8)
            stride = 2 if k < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=norm != "batch"),
                       _norm(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        self.strides = [m.stride[0] for m in self.net if isinstance(m, nn.Conv2d)]
        self.min_size = self._min_size()

    def _out_size(self, size: int) -> int:
        for s in self.strides:  # kernel 4, padding 1
            size = (size + 2 - 4) // s + 1
            if size < 1:
                return 0
        return size

    def _min_size(self) -> int:
        size = 1
        while self._out_size(size) < 1:
            size += 1
        return size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_ch:
            raise InputError(f"patchgan: expected (B, {self.in_ch}, H, W) input, got "
                             f"{tuple(x.shape)}")
        h, w = x.shape[-2:]
        ph, pw = max(0, self.min_size - h), max(0, self.min_size - w)
        if ph or pw:
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")
        return self.net(x)
