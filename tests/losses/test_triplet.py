"""Triplet loss: eq. 1 by hand on tiny vectors, margin behaviour, distances and reducers."""
from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.errors import InputError
from zoo.losses.distances import (CosineDistance, L2Distance, MSEDistance, SquaredL2Distance,
                                  get_distance)
from zoo.losses.reducers import reduce
from zoo.losses.triplet import DEFAULT_MARGIN, Triplet, embed, triplet, triplet_from_embeddings

A = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
P = torch.tensor([[1.0, 0.0], [1.0, 2.0]])
N = torch.tensor([[0.0, 3.0], [1.0, 1.5]])


def test_triplet_by_hand_on_tiny_vectors():
    # default distance "mse" (D = 2): mean of the squared differences
    # row 0: d(a,p) = 1/2, d(a,n) = 9/2   -> [0.5 - 4.5 + 1]_+ = 0
    # row 1: d(a,p) = 1/2, d(a,n) = 0.25/2 -> [0.5 - 0.125 + 1]_+ = 1.375
    loss = Triplet(encoder=None, margin=1.0, reduction="none")
    torch.testing.assert_close(loss(A, P, N), torch.tensor([0.0, 1.375]))
    assert Triplet(encoder=None, margin=1.0)(A, P, N).item() == pytest.approx(0.6875)
    assert Triplet(encoder=None, margin=1.0, reduction="sum")(A, P, N).item() == \
        pytest.approx(1.375)
    assert Triplet(encoder=None, margin=1.0, reduction="mean-of-positive")(A, P, N).item() == \
        pytest.approx(1.375)
    assert triplet(A, P, N, encoder=None, margin=1.0).item() == pytest.approx(0.6875)
    # "squared-l2" sums over the elements (the former default): D times the mse distances
    # row 0: [1 - 9 + 1]_+ = 0, row 1: [1 - 0.25 + 1]_+ = 1.75
    summed = Triplet(encoder=None, margin=1.0, distance="squared-l2", reduction="none")
    torch.testing.assert_close(summed(A, P, N), torch.tensor([0.0, 1.75]))


def test_defaults_are_the_papers():
    loss = Triplet(encoder=None)
    assert loss.distance.name == "mse" and loss.reduction == "mean"
    assert loss.margin == DEFAULT_MARGIN >= 0
    spec = zoo.get_registry().get("losses", "triplet")
    defaults = {p.name: p.default for p in spec.parameters()}
    assert defaults["distance"] == "mse" and defaults["reduction"] == "mean"
    assert defaults["margin"] == DEFAULT_MARGIN and defaults["normalize"] is False


def _eq1(a, p, n, margin, reduction):
    """Song & Bae eq. 1 written out: sum_i [MSE(a_i, p_i) - MSE(a_i, n_i) + alpha]_+ ."""
    total = 0.0
    for i in range(a.shape[0]):
        d = a.shape[1]
        dap = sum((float(a[i, k]) - float(p[i, k])) ** 2 for k in range(d)) / d
        dan = sum((float(a[i, k]) - float(n[i, k])) ** 2 for k in range(d)) / d
        total += max(dap - dan + margin, 0.0)
    return total if reduction == "sum" else total / a.shape[0]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("margin", [0.0, 0.05, 0.3])
def test_triplet_equals_a_port_of_eq_1(reduction, margin):
    g = torch.Generator().manual_seed(1)
    a, p, n = (torch.randn(6, 7, generator=g, dtype=torch.float64) for _ in range(3))
    n[:2] = a[:2] + 0.01 * n[:2]  # two triplets with the negative close: hinge open
    ours = Triplet(encoder=None, margin=margin, reduction=reduction)(a, p, n)
    assert ours.item() == pytest.approx(_eq1(a, p, n, margin, reduction), rel=1e-12)
    assert 0 < ours.item()


def test_margin_behaviour():
    # mse distances: row 0 becomes active once margin > 4 (d(a,n) - d(a,p) = 4.5 - 0.5)
    assert Triplet(encoder=None, margin=0.0, reduction="none")(A, P, N)[0] == 0
    assert Triplet(encoder=None, margin=4.0, reduction="none")(A, P, N)[0] == 0
    assert Triplet(encoder=None, margin=4.5, reduction="none")(A, P, N)[0].item() == \
        pytest.approx(0.5)
    # the loss grows linearly with the margin while the hinge is active
    l1 = Triplet(encoder=None, margin=1.0, reduction="none")(A, P, N)[1]
    l2 = Triplet(encoder=None, margin=2.0, reduction="none")(A, P, N)[1]
    assert (l2 - l1).item() == pytest.approx(1.0)
    with pytest.raises(InputError, match="margin must be >= 0"):
        Triplet(encoder=None, margin=-1)


def test_distances_by_hand():
    x, y = torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 0.0]])
    assert MSEDistance()(x, y).item() == pytest.approx(12.5)  # (9 + 16) / 2
    assert SquaredL2Distance()(x, y).item() == pytest.approx(25.0)
    assert L2Distance()(x, y).item() == pytest.approx(5.0)
    assert CosineDistance()(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])).item() == \
        pytest.approx(1.0)
    assert CosineDistance()(x, 2 * x).item() == pytest.approx(0.0, abs=1e-6)
    # normalised squared L2 == 2 * cosine distance == D * normalised mse
    u, v = torch.randn(4, 5), torch.randn(4, 5)
    torch.testing.assert_close(get_distance("squared-l2", normalize=True)(u, v),
                               2 * get_distance("cosine")(u, v), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(get_distance("squared-l2", normalize=True)(u, v),
                               5 * get_distance("mse", normalize=True)(u, v), rtol=1e-5, atol=1e-6)
    # the L2 distance has a finite gradient at zero distance
    z = torch.zeros(1, 3, requires_grad=True)
    L2Distance()(z, torch.zeros(1, 3)).sum().backward()
    assert torch.isfinite(z.grad).all()
    with pytest.raises(InputError, match="unknown distance 'manhattan'"):
        get_distance("manhattan")
    with pytest.raises(InputError, match="equal shape"):
        SquaredL2Distance()(torch.zeros(2, 3), torch.zeros(2, 4))


def test_reducers():
    losses = torch.tensor([0.0, 2.0, 0.0, 4.0])
    assert reduce(losses, "mean").item() == 1.5
    assert reduce(losses, "sum").item() == 6.0
    assert reduce(losses, "mean-of-positive").item() == 3.0
    assert torch.equal(reduce(losses, "none"), losses)
    zero = torch.zeros(3, requires_grad=True)
    out = reduce(zero, "mean-of-positive")
    out.backward()
    assert out.item() == 0.0 and not math.isnan(out.item())
    with pytest.raises(InputError, match="reduction must be one of"):
        Triplet(encoder=None, reduction="max")


def test_triplet_distances_and_embeddings_on_encoder():
    torch.manual_seed(0)
    a, p, n = (torch.rand(2, 3, 32, 32) for _ in range(3))
    loss = zoo.create_loss("triplet.generic-small", reduction="none")
    feats = [loss.features(t) for t in (a, p, n)]
    # by hand: flatten every layer, mse, the default margin
    ea, ep, en = (torch.cat([f.flatten(1) for f in fs], 1) for fs in feats)
    expected = torch.relu(((ea - ep) ** 2).mean(1) - ((ea - en) ** 2).mean(1) + DEFAULT_MARGIN)
    torch.testing.assert_close(loss(a, p, n), expected, rtol=1e-4, atol=1e-6)
    gap = zoo.create_loss("triplet.generic-small", embedding="gap", distance="cosine",
                          reduction="none")
    eg = [embed(fs, "gap") for fs in feats]
    assert eg[0].shape == (2, 16 + 32 + 64)
    torch.testing.assert_close(gap(a, p, n),
                               triplet_from_embeddings(*eg, distance="cosine", reduction="none"))
    # gradients reach the anchor only through the encoder
    anchor = a.clone().requires_grad_(True)
    zoo.create_loss("triplet.generic-small", margin=1e6)(anchor, p, n).backward()
    assert anchor.grad.abs().sum() > 0


def test_triplet_input_errors():
    loss = Triplet(encoder=None)
    with pytest.raises(InputError, match="expected 3 inputs"):
        loss(A, P)
    with pytest.raises(InputError, match="differ in shape"):
        loss(A, P, torch.zeros(2, 3))
    enc_loss = zoo.create_loss("triplet.generic-small")
    with pytest.raises(InputError, match="expected 3 channels"):
        enc_loss(*(torch.rand(1, 1, 16, 16) for _ in range(3)))
