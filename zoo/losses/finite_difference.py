"""Finite differences as the Retinex-Net and KinD reference code computes them.

Both TensorFlow implementations (github.com/weichen582/RetinexNet ``model.py``,
github.com/zhangyhuaee/KinD ``utils.py``) take image gradients as a 2x2 convolution with
``[[0, 0], [-1, 1]]`` (x) or its transpose (y) and "SAME" padding, i.e. zero padding of one row at
the bottom and one column at the right:

    dx[i, j] = x[i+1, j+1] - x[i+1, j],   dy[i, j] = x[i+1, j+1] - x[i, j+1]   (x = 0 outside)

RetinexNet averages ``|d|`` over a 3x3 window ("ave_gradient", stride 1, SAME padding,
averaging only the pixels inside the image).  KinD's ``gradient`` (``utils.py``) then min-max
normalises ``|d|`` over the *whole* tensor it is given -- every image of the batch and every
channel at once, not per image:

    g = (|d| - min |d|) / (max |d| - min |d| + 1e-4)

(:func:`kind_gradient`), so a KinD loss term of one image depends on the other images of its batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

#: KinD ``utils.py`` ``gradient``: the constant added to the range of the min-max normalisation.
KIND_RANGE_EPS = 1e-4


def same_gradient(x: torch.Tensor, direction: str) -> torch.Tensor:
    """Signed forward difference along ``"x"`` (width) or ``"y"`` (height), same size as x."""
    p = F.pad(x, (0, 1, 0, 1))
    if direction == "x":
        return p[:, :, 1:, 1:] - p[:, :, 1:, :-1]
    if direction == "y":
        return p[:, :, 1:, 1:] - p[:, :, :-1, 1:]
    raise ValueError(f"direction must be 'x' or 'y', got {direction!r}")


def abs_gradient(x: torch.Tensor, direction: str) -> torch.Tensor:
    """``|same_gradient(x, direction)|``."""
    return same_gradient(x, direction).abs()


def average_abs_gradient(x: torch.Tensor, direction: str) -> torch.Tensor:
    """``|gradient|`` averaged over a 3x3 window (in-image pixels only)."""
    return F.avg_pool2d(abs_gradient(x, direction), 3, stride=1, padding=1,
                        count_include_pad=False)


def kind_gradient(x: torch.Tensor, direction: str) -> torch.Tensor:
    """KinD's ``gradient``: ``|same_gradient|`` min-max normalised over the whole tensor
    (all images and channels together), ``(g - min g) / (max g - min g + 1e-4)``."""
    g = abs_gradient(x, direction)
    lo, hi = g.amin(), g.amax()
    return (g - lo) / (hi - lo + KIND_RANGE_EPS)
