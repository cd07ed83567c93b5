"""Perceptual loss: equals a hand computation on a tiny encoder; options, forms and errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from zoo.errors import InputError, ZooError
from zoo.losses.perceptual import Perceptual, perceptual


class TinyEncoder(nn.Module):
    """Two fixed layers: a 1x1 convolution and its 2x2 average pool (a hand-checkable encoder)."""

    layer_names = ("conv", "pool")
    pretrained_source = "tiny test encoder"

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[1.0, -1.0, 0.5], [0.0, 2.0, 1.0]])[:, :, None, None])
        self.requires_grad_(False)

    def forward(self, x):
        a = self.conv(x)
        return [a, nn.functional.avg_pool2d(a, 2)]


def _hand(pred, target, enc, weights, p):
    out = []
    for b in range(pred.shape[0]):
        total = 0.0
        for w, fp, ft in zip(weights, enc(pred[b:b + 1]), enc(target[b:b + 1])):
            total += w * ((fp - ft).abs() ** p).mean().item()
        out.append(total)
    return torch.tensor(out)


@pytest.mark.parametrize("distance,p", [("l1", 1), ("l2", 2)])
def test_perceptual_matches_hand_computation(distance, p):
    torch.manual_seed(0)
    enc = TinyEncoder()
    pred, target = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8)
    weights = [0.25, 2.0]
    loss = Perceptual(enc, layer_weights=weights, distance=distance, reduction="none")
    expected = _hand(pred, target, enc, weights, p)
    torch.testing.assert_close(loss(pred, target), expected, rtol=1e-5, atol=1e-6)
    mean = Perceptual(enc, layer_weights=weights, distance=distance)(pred, target)
    total = Perceptual(enc, layer_weights=weights, distance=distance, reduction="sum")(pred, target)
    torch.testing.assert_close(mean, expected.mean(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(total, expected.sum(), rtol=1e-5, atol=1e-6)
    # function form agrees with the module
    fn = perceptual(pred, target, encoder=enc, layer_weights=weights, distance=distance)
    torch.testing.assert_close(fn, mean)


def test_layer_weights_by_name_and_zero_for_identical_images():
    torch.manual_seed(0)
    enc = TinyEncoder()
    x, y = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    by_name = Perceptual(enc, layer_weights={"pool": 1.0})(x, y)
    by_list = Perceptual(enc, layer_weights=[0.0, 1.0])(x, y)
    torch.testing.assert_close(by_name, by_list)
    assert Perceptual(enc)(x, x).item() == 0.0
    with pytest.raises(InputError, match="unknown layer"):
        Perceptual(enc, layer_weights={"relu9": 1.0})
    with pytest.raises(InputError, match="1 layer_weights for 2 layers"):
        Perceptual(enc, layer_weights=[1.0])


def test_registered_perceptual_on_generic_encoder_gives_gradients():
    torch.manual_seed(0)
    loss = zoo.create_loss("perceptual.generic-small")
    assert loss.pretrained_source.startswith("random (generic perceptual loss)")
    pred = torch.rand(2, 3, 32, 32, requires_grad=True)
    value = loss(pred, torch.rand(2, 3, 32, 32))
    value.backward()
    assert value.dim() == 0 and value.item() > 0 and pred.grad.abs().sum() > 0
    # features / from_features reproduce forward
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(loss.from_features(loss.features(x), loss.features(y)), loss(x, y))


def test_perceptual_errors():
    enc = TinyEncoder()
    with pytest.raises(InputError, match="distance must be one of l1, l2"):
        Perceptual(enc, distance="l3")
    with pytest.raises(InputError, match="reduction"):
        Perceptual(enc, reduction="max")
    with pytest.raises(InputError, match="perceptual: inputs differ in shape"):
        Perceptual(enc)(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(InputError, match="expected 3 channels"):
        Perceptual(enc)(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
    with pytest.raises(ZooError, match="unknown encoder 'vgg61'"):
        zoo.create_loss("perceptual", encoder="vgg61")


def test_encoder_loss_specs_document_params_and_point_at_existing_tests():
    import inspect
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    reg = zoo.get_registry()
    for name in ("perceptual", "lpips", "triplet"):
        spec = reg.get("losses", name)
        assert spec.plugin == "zoo.losses.perceptual" and spec.uses_encoder is True
        facts = spec.facts()  # stated on the implementation
        assert facts.formula and facts.citation
        signature = inspect.signature(spec.resolve())
        params = spec.parameters()
        assert [(p.name, p.default) for p in params] == \
            [(k, v.default) for k, v in signature.parameters.items()]
        assert all(p.doc for p in params)
        path, _, test_name = facts.test.partition("::")
        assert f"def {test_name}(" in (repo / path).read_text()
    assert reg.get("losses", "triplet").inputs == ("anchor", "positive", "negative")
    for name in reg.names("encoders", with_presets=False):
        path, _, test_name = reg.get("encoders", name).facts().test.partition("::")
        assert f"def {test_name}(" in (repo / path).read_text()


def test_encoder_options_given_twice_are_rejected():
    with pytest.raises(InputError, match="pretrained given both directly and in encoder_args"):
        zoo.create_loss("perceptual", encoder="vgg16", pretrained=False,
                        encoder_args={"pretrained": True})
    loss = zoo.create_loss("perceptual", encoder="vgg16", encoder_args={"pretrained": False,
                                                                      "width": 0.25})
    assert "generic" in loss.pretrained_source and loss.encoder.width == 0.25


class TinyEmbedding(nn.Module):
    """A fixed linear map of the pooled image to 5 numbers: an embedding encoder (B, D)."""

    layer_names = ("embedding",)
    pretrained_source = "tiny embedding"

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 5)
        self.requires_grad_(False)

    def forward(self, x):
        return [self.fc(x.mean(dim=(2, 3)))]


def test_song_bae_variant_is_the_mse_of_the_embedding():
    spec, kwargs = zoo.get_registry().build_kwargs("losses", "perceptual.song-bae", {})
    assert kwargs == {"encoder": "vit-l-16-swag", "distance": "l2"}
    _, vgg = zoo.get_registry().build_kwargs("losses", "perceptual.vgg16-l1", {})
    assert vgg == {"encoder": "vgg16", "distance": "l1"}
    assert [p.default for p in spec.parameters() if p.name in ("encoder", "distance")] == ["vgg16", "l1"]
    # eq. 3 on an embedding encoder: the MSE over the D elements, mean over the batch
    torch.manual_seed(0)
    enc = TinyEmbedding()
    pred, target = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    ep, et = enc(pred)[0], enc(target)[0]
    by_hand = torch.tensor([sum((ep[b, k] - et[b, k]).item() ** 2 for k in range(5)) / 5
                            for b in range(4)])
    loss = Perceptual(enc, distance="l2", reduction="none")
    torch.testing.assert_close(loss(pred, target), by_hand, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(Perceptual(enc, distance="l2")(pred, target),
                               torch.nn.functional.mse_loss(ep, et))
