"""``cross-entropy``: softmax cross-entropy of class logits, wrapping ``torch.nn.functional.cross_entropy``:

    CE = -sum_k t_k log softmax(z)_k      (t one-hot for a class index, or class probabilities)

with optional label smoothing (Szegedy et al., "Rethinking the Inception Architecture",
CVPR 2016).  Inputs ``(logits, target)``: logits ``(B, K)`` or ``(B, K, H, W)`` (per-pixel, e.g.
segmentation masks), target class indices ``(B,)`` / ``(B, H, W)`` (integer) or probabilities
with the logits' shape.  ``reduction="none"`` averages each sample's pixels into ``(B,)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.errors import InputError
from zoo.losses.module import loss_module
from zoo.losses.reducers import check_reduction, reduce
from zoo.specs import describe


@describe(formula="-sum_k t_k log softmax(z)_k (optional label smoothing)",
          citation="(classical; wraps torch F.cross_entropy)",
          test="tests/losses/test_adversarial.py::test_cross_entropy_matches_torch")
def cross_entropy_loss(logits: torch.Tensor, target: torch.Tensor, *,
                       label_smoothing: float = 0.0, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of ``logits`` against class indices or class probabilities.

    Args:
        label_smoothing: share of the target mass spread uniformly over the classes, in [0, 1).
    """
    check_reduction("cross-entropy", reduction)
    for what, t in (("logits", logits), ("target", target)):
        if not isinstance(t, torch.Tensor):
            raise InputError(f"cross-entropy: {what} is a {type(t).__name__}, expected a tensor")
    if logits.dim() not in (2, 4) or not logits.is_floating_point():
        raise InputError(f"cross-entropy: logits must be float (B, K) or (B, K, H, W), got "
                         f"{logits.dtype} {tuple(logits.shape)}")
    if not 0.0 <= label_smoothing < 1.0:
        raise InputError(f"cross-entropy: label_smoothing must lie in [0, 1), "
                         f"got {label_smoothing}")
    k = logits.shape[1]
    if target.is_floating_point():
        if target.shape != logits.shape:
            raise InputError(f"cross-entropy: probability targets must have the logits' shape "
                             f"{tuple(logits.shape)}, got {tuple(target.shape)}")
    else:
        expected = (logits.shape[0],) + tuple(logits.shape[2:])
        if tuple(target.shape) != expected:
            raise InputError(f"cross-entropy: class-index targets must have shape {expected}, "
                             f"got {tuple(target.shape)}")
        if target.numel() and (int(target.min()) < 0 or int(target.max()) >= k):
            raise InputError(f"cross-entropy: class indices must lie in [0, {k - 1}], got "
                             f"[{int(target.min())}, {int(target.max())}]")
        target = target.long()
    per_element = F.cross_entropy(logits, target, reduction="none",
                                  label_smoothing=label_smoothing)
    return reduce(per_element, reduction)


CrossEntropyLoss = loss_module(cross_entropy_loss, "CrossEntropyLoss", "cross-entropy")
