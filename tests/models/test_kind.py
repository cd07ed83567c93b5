"""KinD: parameter counts of the release's layer specs, split outputs, ratio handling, chain."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.errors import InputError
from zoo.models import split_output
from zoo.models.kind import KinDAdjust


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts():
    # layer specs of github.com/zhangyhuaee/KinD model.py; paper: ~235.9K, ~7.76M, ~19.4K
    assert _count(zoo.create_model("kind-decom")) == 235_876
    assert _count(zoo.create_model("kind-restore")) == 7_760_739
    assert _count(zoo.create_model("kind-adjust")) == 19_393


def test_decomposition_split_and_range():
    torch.manual_seed(0)
    model = zoo.create_model("kind-decom")
    x = torch.rand(2, 3, 30, 45)
    out = model(x)
    assert out.shape == (2, 4, 30, 45)
    r, i = split_output(model, out, "reflectance"), split_output(model, out, "illumination")
    assert r.shape[1] == 3 and i.shape[1] == 1
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(InputError, match="reflectance, illumination"):
        split_output(model, out, "image")


def test_restore_takes_concatenation():
    torch.manual_seed(0)
    model = zoo.create_model("kind-restore").eval()
    r, i = torch.rand(1, 3, 20, 28), torch.rand(1, 1, 20, 28)
    with torch.no_grad():
        assert torch.equal(model.restore(r, i), model(torch.cat([r, i], 1)))


def test_adjust_ratio_forms_agree():
    torch.manual_seed(0)
    model = KinDAdjust(ratio=2.0)
    i = torch.rand(2, 1, 12, 16)
    default = model(i)
    assert torch.allclose(default, model(i, ratio=2.0))
    assert torch.allclose(default, model(torch.cat([i, torch.full_like(i, 2.0)], 1)))
    per_sample = model(i, ratio=torch.tensor([2.0, 4.0]))
    assert torch.allclose(per_sample[0], default[0])
    assert not torch.allclose(per_sample[1], default[1])
    with pytest.raises(InputError, match="ratio"):
        model(i, ratio=torch.ones(3))


def test_chain_forward_backward():
    torch.manual_seed(0)
    model = zoo.create_model("kind", ratio=3.0)
    x = torch.rand(2, 3, 24, 40)
    out = model(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.mean().backward()
    assert all(p.grad is not None for p in model.adjust.parameters())
    assert not torch.allclose(model(x, ratio=1.0), out)


def test_chain_loads_separate_subnet_weights(tmp_path):
    torch.manual_seed(0)
    decom = zoo.create_model("kind-decom")
    torch.save(decom.state_dict(), tmp_path / "decom.pth")
    chain = zoo.create_model("kind", decom_weights=str(tmp_path / "decom.pth"))
    for k, v in decom.state_dict().items():
        assert torch.equal(chain.decom.state_dict()[k], v)
