"""LPIPS as a loss, wrapping the ``lpips`` package (Zhang et al.), its trunk weights fetched as
torchvision fetches them.

    LPIPS(x, y) = sum_l mean_{h,w} || w_l * ( phi^_l(x) - phi^_l(y) ) ||_2^2

with ``phi^_l`` the trunk's layer-``l`` activations normalised to unit length along channels,
and ``w_l`` the learned (non-negative) channel weights (1x1 convolutions).  Inputs are images in
[0, 1], mapped to [-1, 1] as the package expects (its ``normalize=True``).

Citation: Zhang, Isola, Efros, Shechtman & Wang, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", CVPR 2018; code and linear weights: the ``lpips`` package.

Weights, two kinds:

* the linear layers ``w_l`` ship *inside* the package (``lpips/weights/v0.1/<net>.pth``) and are
  read here with ``torch.load(weights_only=True)``; ``linear=False`` drops them (the package's
  ``lpips=False`` baseline: channel-summed squared differences), a path loads your own;
* the trunk (AlexNet / VGG-16 / SqueezeNet-1.1) comes from torchvision's ImageNet weights in the
  torch hub cache (``pretrained=True``; downloaded there when missing, with the hash check, unless
  offline: :mod:`zoo.hub`; the error then says where to put the file), a path, or
  ``pretrained=False``: random fixed weights drawn from ``seed`` (the package's
  ``pnet_rand=True`` route, used by the tests).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from zoo.encoders.base import generic_source, seeded
from zoo.encoders.sharing import shared
from zoo.encoders.weights import load_state_dict_file, torchvision_checkpoint
from zoo.errors import InputError, ZooError
from zoo.specs import describe

from .base import check_images
from .feature_loss import FeatureLoss
from .reducers import check_reduction, reduce, sum_terms

#: lpips trunk name -> torchvision weights enum name (the trunk's ImageNet weights)
TRUNKS = {"alex": "AlexNet_Weights", "vgg": "VGG16_Weights", "squeeze": "SqueezeNet1_1_Weights"}


def _trunk_state(net, pretrained, what: str) -> tuple[dict, str]:
    """torchvision ``features.*`` weights renamed to the lpips trunk's ``slice<k>.<i>.*`` keys."""
    import torchvision.models as tvm

    if pretrained is True:
        weights = getattr(tvm, TRUNKS[net]).IMAGENET1K_V1
        path = torchvision_checkpoint(weights, what)
        source = f"torchvision {weights.name}"
    else:
        path, source = pretrained, f"file {pretrained}"
    return load_state_dict_file(path, what), source


def _load_trunk(model, state: dict, what: str, source: str) -> None:
    rename = {}
    for slice_name, block in model.net.named_children():
        for idx in block._modules:
            rename[f"features.{idx}."] = f"{slice_name}.{idx}."
    mapped = {}
    for key, value in state.items():
        prefix = key[:key.index(".", len("features.")) + 1] if key.startswith("features.") else ""
        if prefix in rename:
            mapped[rename[prefix] + key[len(prefix):]] = value
    missing = set(model.net.state_dict()) - set(mapped)
    if missing:
        raise ZooError(f"{what}: weights from {source} lack {len(missing)} trunk tensors "
                       f"(e.g. {sorted(missing)[0]})")
    model.net.load_state_dict(mapped, strict=True)


def build_lpips_model(net: str = "alex", version: str = "0.1", pretrained: bool | str = True,
                      linear: bool | str = True, seed: int = 0):
    """The package's ``lpips.LPIPS`` module with weights loaded as described above; frozen."""
    import lpips as lpips_pkg

    what = f"loss lpips ({net})"
    if net not in TRUNKS:
        raise InputError(f"lpips: net must be one of {', '.join(TRUNKS)}, got {net!r}")
    if version not in ("0.0", "0.1"):
        raise InputError(f"lpips: version must be '0.1' or '0.0', got {version!r}")
    trunk = None if pretrained is False else _trunk_state(net, pretrained, what)
    with warnings.catch_warnings(), seeded(seed):  # torchvision warns about `pretrained=`
        warnings.simplefilter("ignore")
        model = lpips_pkg.LPIPS(pretrained=False, net=net, version=version,
                                lpips=linear is not False, pnet_rand=True, pnet_tune=False,
                                verbose=False)
    if trunk is not None:
        _load_trunk(model, trunk[0], what, trunk[1])
    model.pretrained_source = trunk[1] if trunk is not None else generic_source(seed)
    if linear is not False:
        path = (Path(lpips_pkg.__file__).parent / "weights" / f"v{version}" / f"{net}.pth"
                if linear is True else Path(linear))
        state = load_state_dict_file(path, what)
        lin_keys = {k for k in model.state_dict()  # lins.<k> aliases lin<k>
                    if k.startswith("lin") and not k.startswith("lins.")}
        if lin_keys - set(state):
            raise ZooError(f"{what}: {path} lacks linear-layer weights "
                           f"{sorted(lin_keys - set(state))[:2]}")
        model.load_state_dict({k: state[k] for k in lin_keys}, strict=False)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@describe(formula="L = sum_l mean_{h,w} || w_l * (phi^_l(pred) - phi^_l(target)) ||_2^2,  "
                  "phi^ = channel-unit-normalised trunk features, inputs mapped to [-1, 1]",
          citation="Zhang, Isola, Efros, Shechtman & Wang, 'The Unreasonable Effectiveness of "
                   "Deep Features as a Perceptual Metric', CVPR 2018",
          test="tests/losses/test_lpips.py::test_lpips_equals_package_value")
class LPIPSLoss(FeatureLoss):
    """LPIPS distance as a loss (lpips package; AlexNet / VGG / SqueezeNet trunk).

    Linear weights ship with the package; trunk weights come from the torchvision cache
    (offline), a path, or are random (``pretrained=False``).  Lower = more similar; see the
    module docstring.

    Args:
        net: ``alex`` (default, the package's recommended loss trunk), ``vgg`` or ``squeeze``.
        version: ``"0.1"`` (default) or ``"0.0"``.
        pretrained: trunk weights: ``True`` (torchvision cache), a path, or ``False`` (random).
        linear: linear-layer weights: ``True`` (shipped with the package), a path, or ``False``.
        seed: seed of the random weights (``pretrained=False``).
        reduction: ``mean`` | ``sum`` | ``none`` over the batch.
    """

    def __init__(self, net: str = "alex", version: str = "0.1", pretrained: bool | str = True,
                 linear: bool | str = True, seed: int = 0, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction("lpips", reduction)
        key = ("lpips", net, version, str(pretrained), str(linear), seed)
        self.model = shared(key, lambda: build_lpips_model(net, version, pretrained, linear, seed))
        self.encoder = None

    @property
    def pretrained_source(self) -> str:
        return self.model.pretrained_source

    def feature_key(self):
        return ("lpips", id(self.model))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        import lpips as lpips_pkg

        x = 2 * x - 1  # [0, 1] -> [-1, 1]
        if self.model.version == "0.1":
            x = self.model.scaling_layer(x)
        return [lpips_pkg.normalize_tensor(f) for f in self.model.net(x)]

    def check_inputs(self, *xs: torch.Tensor) -> None:
        if len(xs) != 2:
            raise InputError(f"lpips: expected 2 inputs (pred, target), got {len(xs)}")
        check_images("lpips", *xs, channels=3, min_size=32)

    def from_features(self, pred_features: list[torch.Tensor],
                      target_features: list[torch.Tensor]) -> torch.Tensor:
        per_layer = []
        for k, (f0, f1) in enumerate(zip(pred_features, target_features)):
            diff = (f0 - f1) ** 2
            diff = self.model.lins[k](diff) if self.model.lpips else diff.sum(dim=1, keepdim=True)
            per_layer.append(diff.mean(dim=(2, 3)).reshape(-1))
        return reduce(sum_terms(per_layer), self.reduction)

    def train(self, mode: bool = True) -> "LPIPSLoss":
        super().train(mode)
        self.model.eval()  # the linear layers' dropout stays off
        return self


def lpips_loss(pred: torch.Tensor, target: torch.Tensor, net: str = "alex", version: str = "0.1",
               pretrained: bool | str = True, linear: bool | str = True, seed: int = 0,
               reduction: str = "mean") -> torch.Tensor:
    """Functional form of :class:`LPIPSLoss` (the network is built once per process)."""
    check_reduction("lpips", reduction)
    key = (net, version, str(pretrained), str(linear), seed)
    if key not in _MODELS:
        _MODELS[key] = LPIPSLoss(net, version, pretrained, linear, seed, reduction="none")
    return reduce(_MODELS[key](pred, target), reduction)


_MODELS: dict[tuple, LPIPSLoss] = {}
