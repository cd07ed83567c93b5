"""``lpips``: learned perceptual distance (Zhang et al., "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", CVPR 2018), AlexNet variant of the ``lpips`` package.

Fed the way Flare7K's ``evaluate.py`` feeds it: ``ToTensor`` images in [0, 1] passed straight
to ``lpips.LPIPS(net="alex")``, which documents its inputs as [-1, 1] (the package's own
``normalize=True`` maps [0, 1] to [-1, 1]).  The default ``normalize=False`` reproduces
Flare7K's numbers; ``normalize=True`` gives the standard LPIPS.

The linear calibration layers ship inside the ``lpips`` package; the AlexNet backbone comes
from torchvision's ImageNet weights (``alexnet-owt-7be5be79.pth``), looked for in torch's hub
cache (``$TORCH_HOME/hub/checkpoints``) or at ``backbone_weights``.  Nothing is downloaded: a
missing file raises a ZooError saying where to put it.  ``pnet_rand=True`` uses a random
backbone (for tests only; the numbers mean nothing).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from zoo.errors import ZooError
from zoo.specs import describe

from .base import Metric

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = "https://download.pytorch.org/models/" + ALEXNET_FILE


def hub_alexnet_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE


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
        backbone_weights: torchvision AlexNet ImageNet state dict file (default: hub cache).
        pnet_rand: random backbone, for tests without weights.
    """

    name = "lpips"

    def __init__(self, quantize: bool = True, normalize: bool = False,
                 backbone_weights: str | Path | None = None, pnet_rand: bool = False):
        super().__init__(quantize)
        import lpips

        self.normalize = bool(normalize)
        source = None
        if not pnet_rand:
            source = Path(backbone_weights) if backbone_weights else hub_alexnet_path()
            if not source.is_file():
                raise ZooError(f"metric lpips: AlexNet ImageNet weights not found at {source}; "
                               f"download {ALEXNET_URL} on a machine with internet and copy it "
                               f"there (or pass backbone_weights=<file>)")
        with warnings.catch_warnings():  # torchvision's "pretrained is deprecated" notices
            warnings.simplefilter("ignore", UserWarning)
            self.net = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
        if source is not None:
            self._load_backbone(source)
        self.net.eval().requires_grad_(False)
        self.pretrained_source = "random (pnet_rand)" if pnet_rand else f"torchvision {source}"

    def _load_backbone(self, path: Path) -> None:
        """Copy torchvision's ``features.<i>.*`` into lpips' ``slice<k>.<i>.*`` modules."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise ZooError(f"metric lpips: cannot read AlexNet weights {path}: {e}") from None
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
