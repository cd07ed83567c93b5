"""VGG-16 / VGG-19 feature encoders (torchvision layout), pretrained or generic.

Layers are named after the VGG paper's blocks: ``conv<b>_<i>``, ``relu<b>_<i>``, ``pool<b>``
(VGG-16: ``relu1_2, relu2_2, relu3_3, relu4_3, relu5_3``; VGG-19 has four convolutions in blocks
3-5).  The network is cut after the deepest requested layer, so ``layers=("relu1_2", "relu2_2",
"relu3_3")`` never runs block 4 and 5.  The module indices equal those of torchvision's
``vgg16().features``, so torchvision state dicts (``features.<i>.weight``) load as they are.

Weights (``pretrained``):

* ``True``: torchvision ``IMAGENET1K_V1`` from the torch hub cache, downloaded there first when
  missing unless offline (:mod:`zoo.hub`);
* ``"/path/file.pth"``: a torchvision-layout state dict (full model or ``features`` only);
* ``False``: the *generic perceptual loss* of Liu et al., "Generic Perceptual Loss for Modeling
  Structured Output Dependencies", CVPR 2021: random weights, fixed, drawn from ``seed`` with
  torchvision's VGG initialisation (Kaiming-normal, fan-out, ReLU gain; zero biases).  Only then
  may ``width`` shrink every layer's channel count, e.g. ``width=0.25`` for a cheap CPU encoder.

Citations: Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015; Johnson et al., "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution", ECCV 2016 (the default layers ``relu1_2 … relu4_3``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from zoo.errors import ZooError
from zoo.specs import describe

from .base import FrozenEncoder, generic_source, seeded
from .weights import load_matching, load_state_dict_file, torchvision_checkpoint

_CITATION = ("Simonyan & Zisserman, ICLR 2015; layers after Johnson et al., ECCV 2016; generic "
             "weights: Liu et al., 'Generic Perceptual Loss for Modeling Structured Output "
             "Dependencies', CVPR 2021")
_ARGS = """
    Args:
        layers: names of the returned layers (relu1_2, ...), in network order.
        pretrained: True: IMAGENET1K_V1 from the torch hub cache; a path: that file; False:
            random fixed weights (generic perceptual loss).
        width: channel multiplier of random-weight encoders (< 1 thins the channels).
        seed: seed of the random weights.
"""

#: Channels per block and convolutions per block (torchvision ``cfgs["D"]`` and ``cfgs["E"]``).
VGG_BLOCKS = {"vgg16": ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)),
              "vgg19": ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))}
DEFAULT_LAYERS = {"vgg16": ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
                  "vgg19": ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")}


def vgg_layer_names(arch: str) -> list[str]:
    """Names of ``features[i]`` in order: ``conv1_1, relu1_1, conv1_2, …, pool5``."""
    names = []
    for b, (_, n_conv) in enumerate(VGG_BLOCKS[arch], 1):
        for i in range(1, n_conv + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


def _weights_enum(arch: str):
    from torchvision.models import VGG16_Weights, VGG19_Weights

    return {"vgg16": VGG16_Weights, "vgg19": VGG19_Weights}[arch].IMAGENET1K_V1


class VGGEncoder(FrozenEncoder):
    """Frozen VGG trunk returning the activations of ``layers`` (in the order given)."""

    def __init__(self, arch: str = "vgg16", layers: Sequence[str] | str | None = None,
                 pretrained: bool | str = True, width: float = 1.0, seed: int = 0):
        super().__init__()
        if arch not in VGG_BLOCKS:
            raise ZooError(f"encoder vgg: unknown arch {arch!r} (vgg16 or vgg19)")
        what = f"encoder {arch}"
        all_names = vgg_layer_names(arch)
        layers = (layers,) if isinstance(layers, str) else tuple(layers or DEFAULT_LAYERS[arch])
        unknown = [n for n in layers if n not in all_names]
        if unknown or not layers:
            raise ZooError(f"{what}: unknown layer(s) {', '.join(map(repr, unknown)) or 'none'}; "
                           f"choose from {', '.join(all_names)}")
        if len(set(layers)) != len(layers):
            raise ZooError(f"{what}: layers listed twice in {list(layers)}")
        if not (0 < float(width) <= 1.0):
            raise ZooError(f"{what}: width must be in (0, 1], got {width}")
        if width != 1.0 and pretrained is not False:
            raise ZooError(f"{what}: width={width} is only possible with pretrained=False "
                           f"(pretrained weights have the full width)")
        self.arch, self.layer_names, self.width = arch, layers, float(width)
        depth = max(all_names.index(n) for n in layers) + 1
        self._taps = {all_names.index(n): n for n in layers}

        with seeded(seed):  # never disturbs the caller's RNG; makes generic weights reproducible
            self.features = self._build(depth)
            for m in self.features:
                if isinstance(m, nn.Conv2d):  # torchvision VGG._initialize_weights
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:  # always here; torchvision checks too
                        nn.init.zeros_(m.bias)
        if pretrained is False:
            self.pretrained_source = generic_source(seed)
        else:
            path: str | Path
            if pretrained is True:
                weights = _weights_enum(arch)
                path = torchvision_checkpoint(weights, what)
                source = f"torchvision {weights.name}"
            elif isinstance(pretrained, (str, bytes)) or hasattr(pretrained, "__fspath__"):
                path, source = pretrained, f"file {pretrained}"
            else:
                raise ZooError(f"{what}: pretrained must be True, False or a path, got "
                               f"{pretrained!r}")
            state = load_state_dict_file(path, what)
            prefix = "features." if any(k.startswith("features.") for k in state) else ""
            wanted = {}
            for k, v in state.items():
                if not k.startswith(prefix):
                    continue
                idx, _, rest = k[len(prefix):].partition(".")
                if idx.isdigit() and int(idx) < depth:
                    wanted[f"{idx}.{rest}"] = v
            load_matching(self.features, wanted, what, source)
            self.pretrained_source = source
        self.freeze()

    def _build(self, depth: int) -> nn.Sequential:
        modules: list[nn.Module] = []
        in_ch = 3
        for ch, n_conv in VGG_BLOCKS[self.arch]:
            ch = max(1, round(ch * self.width))
            for _ in range(n_conv):
                modules += [nn.Conv2d(in_ch, ch, 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = ch
            modules.append(nn.MaxPool2d(2, 2))
        return nn.Sequential(*modules[:depth])

    def extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        found = {}
        for i, module in enumerate(self.features):
            x = module(x)
            if i in self._taps:
                found[self._taps[i]] = x
        return [found[n] for n in self.layer_names]


@describe(citation=_CITATION, test="tests/test_encoders.py::test_vgg_layers_and_truncation")
def vgg16(layers: Sequence[str] | str | None = None, pretrained: bool | str = True,
          width: float = 1.0, seed: int = 0) -> VGGEncoder:
    """VGG-16 features (default layers relu1_2, relu2_2, relu3_3, relu4_3).

    Input [0, 1], any size.
    """
    return VGGEncoder("vgg16", layers=layers, pretrained=pretrained, width=width, seed=seed)


@describe(citation=_CITATION, test="tests/test_encoders.py::test_vgg_layers_and_truncation")
def vgg19(layers: Sequence[str] | str | None = None, pretrained: bool | str = True,
          width: float = 1.0, seed: int = 0) -> VGGEncoder:
    """VGG-19 features (default layers relu1_2, relu2_2, relu3_4, relu4_4, relu5_4).

    Input [0, 1], any size.
    """
    return VGGEncoder("vgg19", layers=layers, pretrained=pretrained, width=width, seed=seed)


vgg16.__doc__ = (vgg16.__doc__ or "") + _ARGS
vgg19.__doc__ = (vgg19.__doc__ or "") + _ARGS
