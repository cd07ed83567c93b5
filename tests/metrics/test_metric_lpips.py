"""lpips metric: missing weights, Flare7K feeding, backbone loading from a local file."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.errors import ZooError


def _pair():
    torch.manual_seed(0)
    gt = torch.rand(2, 3, 32, 32)
    return (gt + 0.1 * torch.randn_like(gt)).clamp(0, 1), gt


def test_random_backbone_gives_per_image_distances():
    pred, gt = _pair()
    metric = zoo.create_metric("lpips", pnet_rand=True)
    d = metric(pred, gt)
    assert d.shape == (2,) and torch.all(d >= 0)
    assert torch.allclose(metric(gt, gt), torch.zeros(2), atol=1e-6)


def test_flare7k_feeding_differs_from_normalised_inputs():
    pred, gt = _pair()
    torch.manual_seed(1)
    flare7k = zoo.create_metric("lpips", pnet_rand=True)
    standard = zoo.create_metric("lpips", pnet_rand=True, normalize=True)
    standard.net.load_state_dict(flare7k.net.state_dict())
    # [0, 1] fed as-is (Flare7K) vs mapped to [-1, 1] (lpips normalize=True)
    assert not torch.allclose(flare7k(pred, gt), standard(pred, gt))
    # Flare7K's call: the 8-bit images straight into the network, no normalisation
    pred_q, gt_q = ((pred * 255).round() / 255), ((gt * 255).round() / 255)
    assert torch.allclose(flare7k(pred, gt), flare7k.net(gt_q, pred_q).flatten(), atol=1e-6)


def test_missing_backbone_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # no earlier torch.hub.set_dir() in the way
    with pytest.raises(ZooError) as err:  # offline (conftest.py): nothing is downloaded
        zoo.create_metric("lpips")
    msg = str(err.value)
    assert "offline mode is on" in msg and "backbone_weights=" in msg and "\n" not in msg
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in msg
    assert str(tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth") in msg
    with pytest.raises(ZooError, match="not found"):
        zoo.create_metric("lpips", backbone_weights=str(tmp_path / "none.pth"))


def test_backbone_loaded_from_a_torchvision_state_dict(tmp_path):
    import torchvision

    torch.manual_seed(0)
    alexnet = torchvision.models.alexnet(weights=None)
    path = tmp_path / "alexnet.pth"
    torch.save(alexnet.state_dict(), path)
    metric = zoo.create_metric("lpips", backbone_weights=str(path))
    assert torch.equal(metric.net.net.slice1[0].weight, alexnet.features[0].weight)
    assert torch.equal(metric.net.net.slice5._modules["10"].weight, alexnet.features[10].weight)
    pred, gt = _pair()
    assert metric(pred, gt).shape == (2,)
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ZooError, match="lacks"):
        zoo.create_metric("lpips", backbone_weights=str(tmp_path / "bad.pth"))
