"""InfoNCE: a contrastive loss for training a small clean-vs-flare encoder.

For the third arm of the cascade's triplet-embedding ablation -- an encoder trained beforehand on
the synthetic data so that flare-corrupted images sit far from clean ones -- with ``f`` the
encoder being trained:

* anchor ``a_i = f(gt_i)`` (a crop of a clean image),
* positive ``p_i = f(gt_i')`` (another view of the same clean image: another crop, a flip),
* negatives ``n_j = f(input_j)`` (flare-corrupted images),

and ``s(u, v) = <u, v> / (||u|| ||v||)`` the cosine similarity, ``tau`` the temperature::

    L_i = -log( exp(s(a_i, p_i) / tau) / ( exp(s(a_i, p_i) / tau) + sum_{j in N(i)} exp(s(a_i, n_j) / tau) ) )

with ``N(i)`` every negative of the batch (``negatives="batch"``, the default: ``B`` negatives
per anchor, the hardest being ``n_i``, the same scene with flare) or only the anchor's own
flare-corrupted image (``negatives="paired"``: a two-way softmax, ``log(1 + exp((s(a,n) -
s(a,p)) / tau))``, a soft triplet).  Inputs of any shape ``(B, ...)`` are flattened to ``(B, D)``
(feature maps are used as they are; pool them first for a pooled embedding).  ``reduction``:
``mean`` / ``sum`` / ``none`` over the anchors.

Citation: InfoNCE, van den Oord, Li & Vinyals, "Representation Learning with Contrastive
Predictive Coding", arXiv:1807.03748 (2018); cosine similarity with a temperature as in SimCLR's
NT-Xent, Chen et al., ICML 2020.  The default ``tau = 0.1`` is within the range SimCLR studies
(0.05-1); this package's choice.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.errors import InputError

from zoo.specs import describe

from .module import loss_module
from .reducers import check_reduction, reduce

NEGATIVES = ("batch", "paired")


def _embeddings(name: str, tensors: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    out = []
    for label, t in tensors.items():
        if not isinstance(t, torch.Tensor) or t.dim() < 2 or not t.is_floating_point():
            raise InputError(f"{name}: {label} must be a float tensor (B, D...), got "
                             f"{getattr(t, 'shape', type(t).__name__)}")
        out.append(t.reshape(t.shape[0], -1))
    if len({tuple(e.shape) for e in out}) > 1:
        raise InputError(f"{name}: anchor, positive and negative differ in shape: " + ", ".join(
            f"{k} {tuple(v.shape)}" for k, v in tensors.items()))
    return out


@describe(formula="-log(exp(s(a,p)/tau) / (exp(s(a,p)/tau) + sum_j exp(s(a,n_j)/tau))), "
                  "s = cosine similarity, tau = 0.1, j over the batch (negatives='batch') "
                  "or j = i (negatives='paired')",
          citation="van den Oord, Li & Vinyals, Representation Learning with Contrastive "
                   "Predictive Coding, arXiv:1807.03748; Chen et al., SimCLR, ICML 2020",
          test="tests/losses/test_contrastive.py::test_info_nce_by_hand")
def info_nce(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, *,
             temperature: float = 0.1, negatives: str = "batch",
             reduction: str = "mean") -> torch.Tensor:
    """InfoNCE of ``(B, D...)`` embeddings; see the module docstring.

    Args:
        temperature: tau > 0, the softmax temperature of the cosine similarities.
        negatives: ``batch`` (every negative of the batch) or ``paired`` (the anchor's own).
    """
    check_reduction("info-nce", reduction)
    if not float(temperature) > 0:
        raise InputError(f"info-nce: temperature must be > 0, got {temperature}")
    if negatives not in NEGATIVES:
        raise InputError(f"info-nce: negatives must be one of {', '.join(NEGATIVES)}, "
                         f"got {negatives!r}")
    a, p, n = (F.normalize(e, dim=1, eps=1e-8) for e in _embeddings(
        "info-nce", {"anchor": anchor, "positive": positive, "negative": negative}))
    pos = (a * p).sum(dim=1, keepdim=True)
    neg = (a * n).sum(dim=1, keepdim=True) if negatives == "paired" else a @ n.t()
    logits = torch.cat([pos, neg], dim=1) / float(temperature)
    per_sample = torch.logsumexp(logits, dim=1) - logits[:, 0]
    return reduce(per_sample, reduction)


InfoNCELoss = loss_module(info_nce, "InfoNCELoss", "info-nce")
