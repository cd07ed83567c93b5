"""``lpips``: learned perceptual distance (Zhang et al., "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", CVPR 2018), AlexNet variant of the ``lpips`` package.

Fed the way Flare7K's ``evaluate.py`` feeds it: ``ToTensor`` images in [0, 1] passed straight
to ``lpips.LPIPS(net="alex")``, which documents its inputs as [-1, 1] (the package's own
``normalize=True`` maps [0, 1] to [-1, 1]).  The default ``normalize=False`` reproduces
Flare7K's numbers; ``normalize=True`` gives the standard LPIPS.

The linear calibration layers ship inside the ``lpips`` package; the AlexNet backbone comes
from torchvision's ImageNet weights (``AlexNet_Weights.IMAGENET1K_V1``,
``alexnet-owt-7be5be79.pth``) in torch's hub cache (``$TORCH_HOME/hub/checkpoints``), downloaded
there when missing as torchvision does, unless offline (:mod:`zoo.hub`; the ZooError then says
where to put the file), or read from ``backbone_weights``.  ``pnet_rand=True`` uses a random
backbone (for tests only; the numbers mean nothing).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from zoo.checkpoint import load_state_dict_file
from zoo.errors import ZooError
from zoo.hub import cached_download
from zoo.specs import describe

from .base import Metric


@describe(formula="sum_l mean_hw || w_l * (phi_l(gt) - phi_l(pred)) ||^2 (unit-normalised "
                  "AlexNet features)",
          citation="Zhang et al., The Unreasonable Effectiveness of Deep Features as a "
                   "Perceptual Metric, CVPR 2018",
          test="tests/metrics/test_metric_lpips.py")
class LPIPS(Metric):
    """LPIPS (AlexNet) per image (lower is better).

    Args:
        quantize: round both images to 8 bits first (as files are).
        normalize: map [0, 1] to [-1, 1] before the network (standard LPIPS); the default
            False feeds [0, 1] as Flare7K does.
        backbone_weights: torchvision AlexNet ImageNet state dict file (default: the hub cache,
            downloaded there unless offline).
        pnet_rand: random backbone, for tests without weights.
    """

    name = "lpips"

    def __init__(self, quantize: bool = True, normalize: bool = False,
                 backbone_weights: str | Path | None = None, pnet_rand: bool = False):
        super().__init__(quantize)
        import lpips

        self.normalize = bool(normalize)
        source = None if pnet_rand else self._backbone_file(backbone_weights)
        with warnings.catch_warnings():  # torchvision's "pretrained is deprecated" notices
            warnings.simplefilter("ignore", UserWarning)
            self.net = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
        if source is not None:
            self._load_backbone(source)
        self.net.eval().requires_grad_(False)
        self.pretrained_source = "random (pnet_rand)" if pnet_rand else f"torchvision {source}"

    @staticmethod
    def _backbone_file(backbone_weights: str | Path | None) -> Path:
        """``backbone_weights``, or torchvision's AlexNet file in the hub cache (fetched there)."""
        if backbone_weights:
            path = Path(backbone_weights).expanduser()
            if not path.is_file():
                raise ZooError(f"metric lpips: backbone_weights file {path} not found")
            return path
        from torchvision.models import AlexNet_Weights

        return cached_download(AlexNet_Weights.IMAGENET1K_V1.url,
                               "metric lpips (AlexNet ImageNet backbone)",
                               hint=", or pass backbone_weights=<file>")

    def _load_backbone(self, path: Path) -> None:
        """Copy torchvision's ``features.<i>.*`` into lpips' ``slice<k>.<i>.*`` modules."""
        state = load_state_dict_file(path, "metric lpips: AlexNet weights")
        target = self.net.net.state_dict()
        mapped = {}
        for key in target:
            _, index, param = key.split(".")  # slice<k>.<i>.<weight|bias>
            source_key = f"features.{index}.{param}"
            if source_key not in state:
                raise ZooError(f"metric lpips: {path} lacks {source_key} (not a torchvision "
                               f"AlexNet state dict?)")
            mapped[key] = state[source_key]
        self.net.net.load_state_dict(mapped, strict=True)

    def forward(self, pred: torch.Tensor, gt: torch.Tensor, mask=None) -> torch.Tensor:
        pred, gt = self.prepare(pred, gt)
        param = next(self.net.parameters())
        with torch.no_grad():
            d = self.net(gt.to(param), pred.to(param), normalize=self.normalize)
        return d.flatten().float()

    def extra_repr(self) -> str:
        return f"quantize={self.quantize}, normalize={self.normalize}"
