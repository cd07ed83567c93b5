"""An example restoration-zoo plugin: one loss, ``spectral-l1``.

The loss compares images in the frequency domain:

    L(x, y) = mean_{b,c,u,v} | log(1 + |F(x)|) - log(1 + |F(y)|) |

where F is the 2-D orthonormal FFT over the spatial axes.  Comparing log-amplitude spectra
penalises missing high-frequency detail that pixel losses average away.  This is *not* the
focal frequency loss of Jiang et al. ("Focal Frequency Loss for Image Reconstruction and
Synthesis", ICCV 2021): that one is the squared distance of the complex spectra, each frequency
weighted by its own (normalised) distance; this plugin keeps the plain L1 of log-amplitudes.

Registered by ``zoo_loss_example/__init__.py`` (lazily, by the string
``"zoo_loss_example.loss:SpectralL1Loss"``, so listing plugins does not import torch).
"""
from __future__ import annotations

import torch
from torch import nn


def spectral_l1(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Log-amplitude spectrum L1 between ``pred`` and ``target`` (B, C, H, W)."""
    if pred.shape != target.shape:
        raise ValueError(f"spectral-l1: pred {tuple(pred.shape)} and target "
                         f"{tuple(target.shape)} differ in shape")
    if pred.dim() != 4:
        raise ValueError(f"spectral-l1: expected (B, C, H, W) tensors, got {pred.dim()} dims")
    amp_p = torch.log1p(torch.fft.fft2(pred, norm="ortho").abs())
    amp_t = torch.log1p(torch.fft.fft2(target, norm="ortho").abs())
    diff = (amp_p - amp_t).abs()
    if reduction == "mean":
        return diff.mean()
    if reduction == "sum":
        return diff.sum()
    if reduction == "none":
        return diff.mean(dim=(1, 2, 3))
    raise ValueError(f"spectral-l1: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


class SpectralL1Loss(nn.Module):
    """Module form of :func:`spectral_l1`."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"spectral-l1: reduction must be 'mean', 'sum' or 'none', "
                             f"got {reduction!r}")
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return spectral_l1(pred, target, self.reduction)


