"""DCE-Net: the curve-estimation network of Zero-DCE.

Guo, Li, Guo, Loy, Hou, Kwong, Cong, "Zero-Reference Deep Curve Estimation for Low-Light Image
Enhancement", CVPR 2020.  Layout as in the authors' PyTorch release (github.com/Li-Chongyi/
Zero-DCE, ``Zero-DCE_code/model.py``, class ``enhance_net_nopool``), so its
``snapshots/Epoch99.pth`` (79,416 parameters) loads strictly under its own key names
``e_conv1.* ... e_conv7.*``:

* seven 3x3 convolutions (stride 1, padding 1, bias), 32 channels, ReLU, no down-sampling::

      x1 = relu(conv1(x))          x5 = relu(conv5(cat(x3, x4)))
      x2 = relu(conv2(x1))         x6 = relu(conv6(cat(x2, x5)))
      x3 = relu(conv3(x2))         A  = tanh(conv7(cat(x1, x6)))       (24 channels)
      x4 = relu(conv4(x3))

* ``A`` holds 8 curve maps of 3 channels, applied one after the other (iterations n = 1..8)::

      reference="code":   LE_n = LE_{n-1} + A_n (LE_{n-1}^2 - LE_{n-1})      (model.py)
      reference="paper":  LE_n = LE_{n-1} + A_n LE_{n-1} (1 - LE_{n-1})     (eq. 1 and 2)

  with ``LE_0 = x``.  The two readings differ by the sign of ``A``: the released weights were
  trained with the code's form (``tests/models/test_dce.py`` pins both); ``"paper"`` with those
  weights darkens instead of brightening.

``forward(x)`` returns the enhanced image (the release's second output, ``enhance_image``) or,
with ``curves=True`` (training with the Zero-DCE losses), ``cat(image, A)`` (27 channels) with
``output_split = {"image": (0, 3), "curves": (3, 27)}``.  The net is fully convolutional without
strides: any ``H x W``, no padding, and tiles blend seamlessly with an overlap of at least its
receptive field (15 pixels: seven 3x3 convolutions).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from zoo.errors import InputError
from zoo.specs import describe

_CITATION = ("Guo et al., 'Zero-Reference Deep Curve Estimation for Low-Light Image Enhancement', "
             "CVPR 2020")
REFERENCES = ("code", "paper")


def apply_curves(x: torch.Tensor, curves: torch.Tensor, reference: str = "code") -> torch.Tensor:
    """Apply the quadratic curves ``curves`` (B, 3n, H, W) to ``x`` (B, 3, H, W), n times."""
    if reference not in REFERENCES:
        raise InputError(f"dce-net: reference must be 'code' or 'paper', got {reference!r}")
    sign = 1.0 if reference == "code" else -1.0  # paper: x + a x (1 - x) = x - a (x^2 - x)
    for a in torch.split(curves, 3, dim=1):
        x = x + sign * a * (x * x - x)
    return x


@describe(citation=_CITATION + "; github.com/Li-Chongyi/Zero-DCE model.py",
          test="tests/models/test_dce.py::test_matches_release_forward")
class DCENet(nn.Module):
    """DCE-Net (Zero-DCE): 7 convs with symmetric skip concatenations, 8 curve iterations.

    Args:
        width: channels of the hidden convolutions (32 in the release).
        iterations: number of curve applications n (8 in the release); the last conv has
            ``3 n`` output channels.
        reference: ``"code"`` (the release's ``x + A (x^2 - x)``, what ``Epoch99.pth`` was
            trained with) or ``"paper"`` (eq. 1, ``x + A x (1 - x)``).
        curves: also return the curve maps ``A`` (``cat(image, A)``, for the Zero-DCE losses).
    """

    in_ch = 3

    def __init__(self, width: int = 32, iterations: int = 8, reference: str = "code",
                 curves: bool = False):
        super().__init__()
        if reference not in REFERENCES:
            raise InputError(f"dce-net: reference must be 'code' or 'paper', got {reference!r}")
        if int(iterations) < 1 or int(width) < 1:
            raise InputError(f"dce-net: need width >= 1 and iterations >= 1, got width={width}, "
                             f"iterations={iterations}")
        w, n = int(width), int(iterations)
        self.iterations, self.reference, self.curves = n, reference, bool(curves)
        self.e_conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=True)
        self.e_conv2 = nn.Conv2d(w, w, 3, 1, 1, bias=True)
        self.e_conv3 = nn.Conv2d(w, w, 3, 1, 1, bias=True)
        self.e_conv4 = nn.Conv2d(w, w, 3, 1, 1, bias=True)
        self.e_conv5 = nn.Conv2d(2 * w, w, 3, 1, 1, bias=True)
        self.e_conv6 = nn.Conv2d(2 * w, w, 3, 1, 1, bias=True)
        self.e_conv7 = nn.Conv2d(2 * w, 3 * n, 3, 1, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.out_ch = 3 + 3 * n if self.curves else 3
        self.output_split = {"image": (0, 3), "curves": (3, 3 + 3 * n)} if self.curves else {}

    def curve_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The curve parameter maps ``A = tanh(conv7(...))``, (B, 3n, H, W)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise InputError(f"dce-net: expected (B, 3, H, W) RGB images, got {tuple(x.shape)}")
        x1 = self.relu(self.e_conv1(x))
        x2 = self.relu(self.e_conv2(x1))
        x3 = self.relu(self.e_conv3(x2))
        x4 = self.relu(self.e_conv4(x3))
        x5 = self.relu(self.e_conv5(torch.cat([x3, x4], 1)))
        x6 = self.relu(self.e_conv6(torch.cat([x2, x5], 1)))
        return torch.tanh(self.e_conv7(torch.cat([x1, x6], 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.curve_maps(x)
        image = apply_curves(x, a, self.reference)
        return torch.cat([image, a], 1) if self.curves else image


def dce_net(**kwargs) -> DCENet:
    return DCENet(**kwargs)
