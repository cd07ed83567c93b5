"""Retinex-Net: Retinex decomposition and illumination relighting.

Wei, Wang, Yang, Liu, "Deep Retinex Decomposition for Low-Light Enhancement", BMVC 2018.
The networks of the authors' TensorFlow release (github.com/weichen582/RetinexNet ``model.py``,
commit fdc15eb), with TensorFlow's semantics at every input size:

* :class:`RetinexDecom` -- ``x -> cat(R, I)``: ``cat(max_c(x), x)`` (4 ch), a 9x9 conv, five
  3x3 convs + ReLU (64 ch), a 3x3 conv to 4 channels; ``R = sigmoid(ch 0..2)``,
  ``I = sigmoid(ch 3)``.  Stride-1 ``SAME`` convs are PyTorch's symmetric zero padding.
* :class:`RetinexRelight` -- ``cat(R, I) -> I_delta`` (1 ch, no activation): a 3x3 conv, three
  stride-2 3x3 convs + ReLU, three ``resize_nearest_neighbor`` ups each followed by a 3x3 conv +
  ReLU plus the skip, the three decoder outputs resized to full size, concatenated, a 1x1 conv
  and a 3x3 conv.  A stride-2 ``SAME`` conv pads ``max((ceil(H/2) - 1) * 2 + 3 - H, 0)`` rows,
  the smaller half before the image (for an even side: none before, one after), and
  ``tf.image.resize_nearest_neighbor`` (``align_corners=False``, no half-pixel centres) takes
  source index ``floor(i * in / out)``, which is PyTorch's ``mode="nearest"``.
* :class:`RetinexNet` -- the release's test output ``S = R * I_delta`` (``model.py``
  ``output_S``); its test script reads images as ``/ 255`` with no normalisation.

TensorFlow variable names (``tf.layers.conv2d``: ``kernel`` HWIO, ``bias``):
``DecomNet/shallow_feature_extraction``, ``DecomNet/activated_layer_{0..4}``,
``DecomNet/recon_layer``; ``RelightNet/conv2d``, ``RelightNet/conv2d_1`` ... ``conv2d_8`` in
the order of ``model.py``.  The release's ``model/Decom`` checkpoint holds ``DecomNet/*`` of
this layout (plus variables of other networks, ignored); ``model/Relight`` lists this
``RelightNet/*``.
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo.checkpoint import load_weights
from zoo.errors import InputError
from zoo.specs import describe
from zoo.tf_checkpoint import LAYERS_SUFFIXES, state_dict_from_tf

_CITATION = ("Wei, Wang, Yang, Liu, 'Deep Retinex Decomposition for Low-Light Enhancement', "
             "BMVC 2018")
DECOM_SCOPE, RELIGHT_SCOPE = "DecomNet", "RelightNet"


def _check(name: str, x: torch.Tensor, channels: int) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"{name}: expected (B, {channels}, H, W) input, got {shape}")


def _same_stride2(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Zero-pad ``x`` as TensorFlow's ``SAME`` does for a stride-2 ``k x k`` conv."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: width first
        total = max((-(-size // 2) - 1) * 2 + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def _tf_state_dict(model: nn.Module, label: str, scope: str, names: Mapping[str, str],
                   variables: Mapping[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Retinex-Net's ``tf.layers`` (``kernel`` / ``bias``) through :func:`state_dict_from_tf`."""
    return state_dict_from_tf(model, label, scope, names, variables, source,
                              suffixes=LAYERS_SUFFIXES)


@describe(citation=_CITATION, test="tests/models/test_retinexnet_tf.py")
class RetinexDecom(nn.Module):
    """Retinex-Net decomposition net: image -> cat(reflectance (3), illumination (1)).

    Args:
        layers: 3x3 conv + ReLU layers (the release: 5).
        channels: their width (64).
    """

    output_split = {"reflectance": (0, 3), "illumination": (3, 4)}
    in_ch = 3

    def __init__(self, layers: int = 5, channels: int = 64):
        super().__init__()
        self.shallow = nn.Conv2d(4, channels, 9, padding=4)
        self.layers = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1)
                                    for _ in range(layers))
        self.recon = nn.Conv2d(channels, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check("retinexnet-decom", x, 3)
        y = self.shallow(torch.cat([x.amax(1, keepdim=True), x], 1))
        for conv in self.layers:
            y = F.relu(conv(y))
        return torch.sigmoid(self.recon(y))

    def from_tf_variables(self, variables: Mapping[str, torch.Tensor],
                          source: str) -> dict[str, torch.Tensor]:
        """This net's state dict from the release's ``DecomNet/*`` TensorFlow variables."""
        names = {"shallow": "shallow_feature_extraction", "recon": "recon_layer",
                 **{f"layers.{i}": f"activated_layer_{i}" for i in range(len(self.layers))}}
        return _tf_state_dict(self, "retinexnet-decom", DECOM_SCOPE, names, variables, source)


@describe(citation=_CITATION, test="tests/models/test_retinexnet_tf.py")
class RetinexRelight(nn.Module):
    """Retinex-Net enhance (relight) net: cat(R (3), I (1)) -> I_delta (1 ch, unbounded).

    Args:
        channels: width of every conv (the release: 64).
    """

    in_ch = 4

    def __init__(self, channels: int = 64):
        super().__init__()
        c = channels
        self.conv0 = nn.Conv2d(4, c, 3, padding=1)
        self.down = nn.ModuleList(nn.Conv2d(c, c, 3, stride=2) for _ in range(3))
        self.up = nn.ModuleList(nn.Conv2d(c, c, 3, padding=1) for _ in range(3))
        self.fusion = nn.Conv2d(3 * c, c, 1)
        self.output = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check("retinexnet-relight", x, 4)
        skips = [self.conv0(x)]
        for conv in self.down:
            skips.append(F.relu(conv(_same_stride2(skips[-1]))))
        d = skips.pop()
        decoded = []
        for conv in self.up:
            skip = skips.pop()
            d = F.relu(conv(F.interpolate(d, size=skip.shape[-2:], mode="nearest"))) + skip
            decoded.append(d)
        size = decoded[-1].shape[-2:]
        gathered = torch.cat([F.interpolate(decoded[0], size=size, mode="nearest"),
                              F.interpolate(decoded[1], size=size, mode="nearest"),
                              decoded[2]], 1)
        return self.output(self.fusion(gathered))

    def from_tf_variables(self, variables: Mapping[str, torch.Tensor],
                          source: str) -> dict[str, torch.Tensor]:
        """This net's state dict from the release's ``RelightNet/conv2d*`` variables."""
        order = ["conv0", "down.0", "down.1", "down.2", "up.0", "up.1", "up.2", "fusion",
                 "output"]
        names = {key: "conv2d" + (f"_{i}" if i else "") for i, key in enumerate(order)}
        return _tf_state_dict(self, "retinexnet-relight", RELIGHT_SCOPE, names, variables,
                              source)


@describe(citation=_CITATION, test="tests/models/test_retinexnet_tf.py")
class RetinexNet(nn.Module):
    """The release's test output: ``S = R * I_delta`` with ``R, I = decom(x)`` and
    ``I_delta = relight(cat(R, I))``; submodules ``decom`` and ``relight``.

    The release keeps the two nets in two checkpoints (``model/Decom``, ``model/Relight``), each
    also holding variables of the other net's scope from other training phases: load them with
    ``decom_weights=`` and ``relight_weights=`` (as the release's two savers do).

    Args:
        layers: 3x3 conv + ReLU layers of the decomposition net (5).
        channels: width of the decomposition net (64).
        relight_channels: of the relight net (64).
        decom_weights: checkpoint of the decomposition net (e.g. the release's ``model/Decom``).
        relight_weights: checkpoint of the relight net (e.g. ``model/Relight``).
    """

    in_ch = 3

    def __init__(self, layers: int = 5, channels: int = 64, relight_channels: int = 64,
                 decom_weights: str | None = None, relight_weights: str | None = None):
        super().__init__()
        self.decom = RetinexDecom(layers, channels)
        self.relight = RetinexRelight(relight_channels)
        for sub, path in (("decom", decom_weights), ("relight", relight_weights)):
            if path:
                load_weights(getattr(self, sub), path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check("retinexnet", x, 3)
        ri = self.decom(x)
        return ri[:, :3] * self.relight(ri)

    def from_tf_variables(self, variables: Mapping[str, torch.Tensor],
                          source: str) -> dict[str, torch.Tensor]:
        """The chain's state dict from one checkpoint holding both nets' variables."""
        sd = {f"decom.{k}": v for k, v in self.decom.from_tf_variables(variables, source).items()}
        sd.update({f"relight.{k}": v
                   for k, v in self.relight.from_tf_variables(variables, source).items()})
        return sd
