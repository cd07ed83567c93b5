"""What every metric shares: input checks, uint8 quantisation and the per-image contract.

A metric is an ``nn.Module`` called as ``metric(pred, gt, mask=None)`` with ``pred`` and ``gt``
``(B, 3, H, W)`` in [0, 1]; it returns one value per image, shape ``(B,)``.

``quantize=True`` (the default of the built-in metrics) first rounds both images to the 256
levels of an 8-bit file, ``round(255 x) / 255``, so that a metric computed on a model's output
equals the one Flare7K's ``evaluate.py`` computes on the saved PNGs.
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.losses.base import check_images

#: how Flare7K's evaluation computes the full-reference metrics
SKIMAGE_CITATION = ("scikit-image skimage.metrics, as called by Flare7K's evaluate.py "
                    "(Dai et al., 2022)")


def quantize_uint8(x: torch.Tensor) -> torch.Tensor:
    """``round(clamp(x, 0, 1) * 255) / 255``: the values an 8-bit image file stores."""
    return (x.clamp(0, 1) * 255.0).round() / 255.0


def check_pair(name: str, pred: torch.Tensor, gt: torch.Tensor, *, channels: int = 3,
               min_size: int = 1, names: tuple[str, str] = ("pred", "gt")) -> None:
    """Both images (B, ``channels``, H, W), floating point, equal shapes, at least ``min_size``."""
    check_images(f"metric {name}", pred, gt, channels=channels, min_size=min_size, names=names)


class Metric(nn.Module):
    """Base class: ``forward(pred, gt, mask=None) -> (B,)``; subclasses set ``name``.

    Args:
        quantize: round both images to the 256 levels of an 8-bit file first (as Flare7K's
            evaluate.py sees the saved PNGs).
    """

    name = "metric"
    needs_mask = False

    def __init__(self, quantize: bool = True):
        super().__init__()
        self.quantize = bool(quantize)

    def prepare(self, pred: torch.Tensor, gt: torch.Tensor, *, min_size: int = 1
                ) -> tuple[torch.Tensor, torch.Tensor]:
        check_pair(self.name, pred, gt, min_size=min_size)
        pred, gt = pred.detach(), gt.detach()
        if self.quantize:
            pred, gt = quantize_uint8(pred), quantize_uint8(gt)
        return pred, gt

    def extra_repr(self) -> str:
        return f"quantize={self.quantize}"


def work_dtype(t: torch.Tensor) -> torch.dtype:
    """float64 for exactness against scikit-image, except where unsupported (MPS)."""
    return torch.float32 if t.device.type == "mps" else torch.float64
