"""InfoNCE: by hand on tiny vectors, both negative sets, reductions, errors."""
from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.errors import InputError
from zoo.losses.contrastive import info_nce

A = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)  # float64: exp(10) terms
P = torch.tensor([[2.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
N = torch.tensor([[0.0, 1.0], [0.0, -3.0]], dtype=torch.float64)


def _cos(u, v):
    return float(u @ v) / (float(u.norm()) * float(v.norm()))


def _hand(a, p, n, tau, paired):
    out = []
    for i in range(a.shape[0]):
        pos = math.exp(_cos(a[i], p[i]) / tau)
        js = [i] if paired else range(n.shape[0])
        neg = sum(math.exp(_cos(a[i], n[j]) / tau) for j in js)
        out.append(-math.log(pos / (pos + neg)))
    return torch.tensor(out, dtype=torch.float64)


def test_info_nce_by_hand():
    # row 0: s(a,p) = 1, s(a,n_0) = 0, s(a,n_1) = 0 -> -log(e^10 / (e^10 + 2)) at tau 0.1
    expected0 = -math.log(math.exp(10) / (math.exp(10) + 2))
    per = info_nce(A, P, N, temperature=0.1, reduction="none")
    assert per[0].item() == pytest.approx(expected0, rel=1e-5)
    for tau in (0.1, 0.5, 2.0):
        for paired in (False, True):
            mode = "paired" if paired else "batch"
            torch.testing.assert_close(
                info_nce(A, P, N, temperature=tau, negatives=mode, reduction="none"),
                _hand(A, P, N, tau, paired), rtol=1e-5, atol=1e-6)
    hand = _hand(A, P, N, 0.1, False)
    assert info_nce(A, P, N).item() == pytest.approx(hand.mean().item(), rel=1e-5)
    assert info_nce(A, P, N, reduction="sum").item() == pytest.approx(hand.sum().item(), rel=1e-5)


def test_paired_is_a_soft_triplet_and_module_matches():
    torch.manual_seed(0)
    a, p, n = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)
    cos = torch.nn.functional.cosine_similarity
    soft = torch.nn.functional.softplus((cos(a, n) - cos(a, p)) / 0.2)
    torch.testing.assert_close(info_nce(a, p, n, temperature=0.2, negatives="paired",
                                        reduction="none"), soft, rtol=1e-5, atol=1e-6)
    loss = zoo.create_loss("info-nce", temperature=0.2)
    assert loss(a, p, n).item() == pytest.approx(info_nce(a, p, n, temperature=0.2).item())
    # feature maps are flattened; gradients reach the three inputs
    maps = [torch.rand(2, 3, 4, 4, requires_grad=True) for _ in range(3)]
    loss(*maps).backward()
    assert all(m.grad is not None and m.grad.abs().sum() > 0 for m in maps)


def test_info_nce_decreases_as_negatives_move_away():
    a = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[1.0, 0.1]])
    near, far = torch.tensor([[1.0, 0.5]]), torch.tensor([[-1.0, 0.0]])
    assert info_nce(a, p, far).item() < info_nce(a, p, near).item()


def test_info_nce_errors():
    with pytest.raises(InputError, match="temperature must be > 0"):
        info_nce(A, P, N, temperature=0)
    with pytest.raises(InputError, match="negatives must be one of batch, paired"):
        info_nce(A, P, N, negatives="all")
    with pytest.raises(InputError, match="differ in shape"):
        info_nce(A, P, torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(InputError, match="reduction must be one of"):
        info_nce(A, P, N, reduction="max")
    with pytest.raises(InputError, match="anchor must be a float tensor"):
        info_nce(torch.zeros(2, dtype=torch.long), P, N)
