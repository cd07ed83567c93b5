"""LPIPS loss: the lpips package's value on the same weights; trunk weights; forms."""
from __future__ import annotations

import warnings

import lpips
import pytest
import torch

import zoo
from zoo.errors import InputError, ZooError
from zoo.losses.lpips_loss import LPIPSLoss, lpips_loss


def _reference(ours: LPIPSLoss, net: str) -> lpips.LPIPS:
    """The package's own LPIPS (its linear weights, random trunk) with our trunk's weights."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    ref.net.load_state_dict(ours.model.net.state_dict())
    return ref.eval()


@pytest.mark.parametrize("net", ["alex", "squeeze"])
def test_lpips_equals_package_value(net):
    torch.manual_seed(0)
    ours = LPIPSLoss(net=net, pretrained=False, reduction="none")
    x, y = torch.rand(2, 3, 48, 48), torch.rand(2, 3, 48, 48)
    expected = _reference(ours, net)(x, y, normalize=True).reshape(-1)
    torch.testing.assert_close(ours(x, y), expected.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(LPIPSLoss(net=net, pretrained=False)(x, y), expected.mean().detach(),
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(lpips_loss(x, y, net=net, pretrained=False, reduction="sum"),
                               expected.sum().detach(), rtol=1e-5, atol=1e-6)


def test_lpips_generic_trunk_is_seeded_and_frozen():
    a = zoo.create_loss("lpips", pretrained=False, seed=3)
    b = zoo.create_loss("lpips", pretrained=False, seed=3)
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert torch.equal(a(x, y), b(x, y))
    assert "seed=3" in a.pretrained_source
    assert all(not p.requires_grad for p in a.parameters())
    a.train()
    assert not a.model.training  # dropout of the linear layers stays off
    pred = x.clone().requires_grad_(True)
    a(pred, y).backward()
    assert pred.grad.abs().sum() > 0
    assert a(x, x).item() == pytest.approx(0.0, abs=1e-7)


def test_lpips_trunk_from_cache_or_offline_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(ZooError) as err:  # offline (conftest.py): nothing is downloaded
        zoo.create_loss("lpips")
    msg = str(err.value)
    assert "AlexNet_Weights.IMAGENET1K_V1" in msg and "offline mode is on" in msg
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in msg
    assert str(tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth") in msg
    # a torchvision-layout checkpoint in the cache is loaded into the lpips trunk
    import torchvision

    torch.manual_seed(0)
    tv = torchvision.models.alexnet(weights=None)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(tv.state_dict(), tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth")
    loss = zoo.create_loss("lpips")
    assert loss.pretrained_source == "torchvision IMAGENET1K_V1"
    torch.testing.assert_close(loss.model.net.slice1[0].weight, tv.features[0].weight)
    torch.testing.assert_close(loss.model.net.slice5._modules["10"].weight, tv.features[10].weight)


def test_lpips_input_errors():
    loss = LPIPSLoss(pretrained=False)
    with pytest.raises(InputError, match="at least 32x32"):
        loss(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))
    with pytest.raises(InputError, match="net must be one of"):
        LPIPSLoss(net="resnet", pretrained=False)
