"""U-Net (Ronneberger et al., MICCAI 2015) in the two styles restoration work uses.

* **SID style** -- Chen, Chen, Xu, Koltun, "Learning to See in the Dark", CVPR 2018: widths
  32, 64, 128, 256, 512; two 3x3 convs + LeakyReLU(0.2) per level, 2x2 max-pool down,
  2x2 stride-2 transposed conv up, a 1x1 output conv, no normalisation.
* **Flare7K style** -- the BasicSR ``U_Net(img_ch, output_ch)`` used as a baseline by Dai et al.,
  "Flare7K: A Phenomenological Nighttime Flare Removal Dataset", NeurIPS 2022
  (github.com/ykdai/Flare7K ``basicsr/archs/unet_arch.py``): widths 64 ... 1024; each conv is
  followed by BatchNorm and ReLU; up-sampling is nearest x2 then conv3x3-BN-ReLU; a 1x1 output
  conv and a Sigmoid.  Module names follow that file (``Conv1`` ... ``Conv5``, ``Up5`` ...
  ``Up2``, ``Up_conv5`` ... ``Up_conv2``, ``Conv_1x1``) so its checkpoints load strictly.

One class covers both::

    x1 = Block(in_ch -> w)            Block = [conv3x3, (BN), act] x 2
    x_{k+1} = Block(MaxPool2(x_k))    widths w * 2^k, k = 0 .. depth
    d_k = Up_conv_k(cat(x_{k-1}, Up_k(d_{k+1})))   skip first, as in the Flare7K file
    y = act_out(Conv_1x1(d_2)) (+ x if residual)

Any ``H x W`` works: inputs are reflect-padded to a multiple of ``2^depth`` and cropped back.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from zoo.errors import ConfigError, InputError
from zoo.specs import describe

from .padding import crop_to, pad_to_multiple


def _act(kind: str, slope: float) -> nn.Module:
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "lrelu":
        return nn.LeakyReLU(slope, inplace=True)
    raise ConfigError(f"unet: act must be 'relu' or 'lrelu', got {kind!r}")


class ConvBlock(nn.Module):
    """Two conv3x3 layers, each followed by optional BatchNorm and the activation."""

    def __init__(self, cin: int, cout: int, norm: bool, act: str, slope: float):
        super().__init__()
        layers: list[nn.Module] = []
        for c in (cin, cout):
            layers.append(nn.Conv2d(c, cout, 3, padding=1, bias=True))
            if norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(_act(act, slope))
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return self.conv(x)


class UpConv(nn.Module):
    """x2 up-sampling: ``"nearest"`` (+conv3x3, BN, act) or ``"deconv"`` (transposed 2x2)."""

    def __init__(self, cin: int, cout: int, mode: str, norm: bool, act: str, slope: float):
        super().__init__()
        if mode == "nearest":
            layers = [nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 3, padding=1)]
            if norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(_act(act, slope))
        elif mode == "deconv":
            layers = [nn.ConvTranspose2d(cin, cout, 2, stride=2)]
        else:
            raise ConfigError(f"unet: up must be 'nearest' or 'deconv', got {mode!r}")
        self.up = nn.Sequential(*layers)

    def forward(self, x):
        return self.up(x)


@describe(citation="Ronneberger et al., MICCAI 2015; Chen et al., 'Learning to See in the Dark', "
                   "CVPR 2018 (sid); Dai et al., 'Flare7K', NeurIPS 2022 (flare7k)",
          test="tests/models/test_unet.py::test_flare7k_preset_matches_release")
class UNet(nn.Module):
    """Configurable U-Net; see the module docstring for the SID and Flare7K presets.

    Args:
        in_ch, out_ch: channels in and out.
        width: channels of the first level (SID 32, Flare7K 64); level k has ``width * 2^k``.
        depth: number of 2x down-samplings (4 in both papers).
        norm: BatchNorm after every conv (Flare7K) or none (SID).
        act: ``"relu"`` (Flare7K) or ``"lrelu"`` (SID, slope ``negative_slope``).
        negative_slope: slope of LeakyReLU below 0 (SID: 0.2).
        up: ``"nearest"`` (Flare7K) or ``"deconv"`` (SID).
        final_activation: ``None`` or ``"sigmoid"``.
        residual: add the input to the output (needs ``in_ch == out_ch``).
        output_split: channel ranges of the output parts (Flare7K: image and flare).
        pad_mode: ``torch.nn.functional.pad`` mode used to pad inputs to a multiple of
            ``2^depth``.
    """

    Conv1: ConvBlock  # Conv1 .. Conv<depth+1>, Up<k>, Up_conv<k> are set by name in __init__

    def __init__(self, in_ch: int = 3, out_ch: int = 3, width: int = 32, depth: int = 4,
                 norm: bool = False, act: str = "lrelu", negative_slope: float = 0.2,
                 up: str = "deconv", final_activation: str | None = None,
                 residual: bool = False, output_split: dict | None = None,
                 pad_mode: str = "reflect"):
        super().__init__()
        if residual and in_ch != out_ch:
            raise ConfigError(f"unet: residual=True needs in_ch == out_ch ({in_ch} -> {out_ch})")
        if final_activation not in (None, "none", "sigmoid"):
            raise ConfigError(f"unet: final_activation must be None or 'sigmoid', "
                              f"got {final_activation!r}")
        if depth < 1:
            raise ConfigError(f"unet: depth must be >= 1, got {depth}")
        self.in_ch, self.out_ch, self.depth = in_ch, out_ch, depth
        self.residual, self.pad_mode = residual, pad_mode
        self.output_split = dict(output_split) if output_split else {}
        widths = [width * 2 ** k for k in range(depth + 1)]
        self.Maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        for k, w in enumerate(widths):
            setattr(self, f"Conv{k + 1}", ConvBlock(in_ch if k == 0 else widths[k - 1], w,
                                                    norm, act, negative_slope))
        for k in range(depth, 0, -1):  # Up5 ... Up2 for depth 4
            setattr(self, f"Up{k + 1}", UpConv(widths[k], widths[k - 1], up, norm, act,
                                               negative_slope))
            setattr(self, f"Up_conv{k + 1}", ConvBlock(2 * widths[k - 1], widths[k - 1], norm,
                                                       act, negative_slope))
        self.Conv_1x1 = nn.Conv2d(widths[0], out_ch, kernel_size=1)
        self.activation = nn.Sigmoid() if final_activation == "sigmoid" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_ch:
            raise InputError(f"unet: expected (B, {self.in_ch}, H, W) images, got "
                             f"{tuple(x.shape)}")
        xp, size = pad_to_multiple(x, 2 ** self.depth, self.pad_mode)
        feats = [self.Conv1(xp)]
        for k in range(2, self.depth + 2):
            feats.append(getattr(self, f"Conv{k}")(self.Maxpool(feats[-1])))
        d = feats.pop()
        for k in range(self.depth + 1, 1, -1):
            d = getattr(self, f"Up{k}")(d)
            d = getattr(self, f"Up_conv{k}")(torch.cat([feats.pop(), d], dim=1))
        y = self.activation(self.Conv_1x1(d))
        if self.residual:
            y = y + xp
        return crop_to(y, size)


def unet(**kwargs) -> UNet:
    """Factory used by the registry: ``UNet(**kwargs)``."""
    return UNet(**kwargs)
