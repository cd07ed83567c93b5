"""model-features: a restoration network's encoder path as a frozen perceptual encoder."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from zoo.encoders.model_features import ModelFeatures, bind_model_source
from zoo.encoders.sharing import build_encoder, shared_encoders
from zoo.errors import ConfigError, ZooError
from zoo.losses.triplet import embed
from zoo.models.padding import pad_to_multiple

TINY_UFORMER = {"embed_dim": 8, "win_size": 4, "depths": [1] * 9, "img_size": 64}


def _frozen(net: nn.Module) -> nn.Module:
    return net.eval().requires_grad_(False)


def test_uformer_features_equal_its_encoder_path():
    torch.manual_seed(0)
    net = _frozen(zoo.create_model("uformer.t", **TINY_UFORMER))
    enc = zoo.create_encoder("model-features", model=net)
    assert enc.layer_names == ("encoderlayer_0", "encoderlayer_1", "encoderlayer_2",
                               "encoderlayer_3", "conv")
    decoder_calls = []
    net.decoderlayer_0.register_forward_hook(lambda *a: decoder_calls.append(1))
    x = torch.rand(2, 3, 40, 48, requires_grad=True)
    feats = enc(x)
    # by hand: the Uformer's own encoder path (padding, input projection, levels, bottleneck)
    xp, _ = pad_to_multiple(x, net.pad_multiple, net.pad_mode)
    y, masks, expected = net.input_proj(xp), {}, []
    for k in range(4):
        y = getattr(net, f"encoderlayer_{k}")(y, masks)
        expected.append(y.permute(0, 3, 1, 2))
        y = getattr(net, f"dowsample_{k}")(y)
    expected.append(net.conv(y, masks).permute(0, 3, 1, 2))
    assert [tuple(f.shape) for f in feats] == [(2, 8 * 2 ** k, 64 // 2 ** k, 64 // 2 ** k)
                                               for k in range(4)] + [(2, 128, 4, 4)]
    for f, e in zip(feats, expected):
        torch.testing.assert_close(f, e)
    assert decoder_calls == []  # the forward stops after the bottleneck
    assert not net._forward_hooks and not any(m._forward_hooks for m in net.modules()
                                              if m is not net.decoderlayer_0)
    sum(f.square().mean() for f in feats).backward()  # gradients reach the image, not the net
    assert x.grad.abs().sum() > 0 and all(p.grad is None for p in net.parameters())
    assert "Uformer features at encoderlayer_0" in enc.pretrained_source
    # the network's own forward is unchanged afterwards
    assert net(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_unet_features_and_explicit_layers():
    torch.manual_seed(0)
    net = _frozen(zoo.create_model("unet.t"))
    enc = ModelFeatures(net)
    assert enc.layer_names == tuple(f"Conv{k}" for k in range(1, 6))
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        by_hand = [net.Conv1(x)]
        for k in range(2, 6):
            by_hand.append(getattr(net, f"Conv{k}")(net.Maxpool(by_hand[-1])))
        feats = enc(x)
    for f, e in zip(feats, by_hand):
        torch.testing.assert_close(f, e)
    # explicit layers come back in the order asked, nested names work
    enc2 = ModelFeatures(net, layers=["Conv3", "Conv1.conv.0"])
    f3, f1 = enc2(x)
    assert f3.shape == (1, 32, 8, 8) and f1.shape == (1, 8, 32, 32)


def test_frozen_model_required_copy_and_errors():
    net = zoo.create_model("unet.t")  # trainable
    with pytest.raises(ZooError, match="has trainable parameters.*copy=True"):
        ModelFeatures(net)
    enc = ModelFeatures(net, copy=True)
    assert all(p.requires_grad for p in net.parameters())  # the original is untouched
    assert not any(p.requires_grad for p in enc.parameters()) and "copied" in enc.pretrained_source
    frozen = _frozen(zoo.create_model("unet.t"))
    with pytest.raises(ZooError, match="unknown layer.*'Conv9'.*top-level modules: Maxpool"):
        ModelFeatures(frozen, layers=["Conv9"])
    custom = _frozen(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))
    with pytest.raises(ZooError, match="no default layers for a Sequential"):
        ModelFeatures(custom)
    assert ModelFeatures(custom, layers=["1"])(torch.rand(1, 3, 8, 8))[0].shape == (1, 4, 6, 6)
    with pytest.raises(ZooError, match="layout must be"):
        ModelFeatures(custom, layers=["1"], layout="chw")
    with pytest.raises(ZooError, match="model must be an nn.Module"):
        zoo.create_encoder("model-features", model="negative-sampler")


def test_bind_model_source_and_the_triplet_on_model_features():
    torch.manual_seed(0)
    sampler = _frozen(zoo.create_model("uformer.t", **TINY_UFORMER))
    recipe_args = {"encoder": "model-features", "source": "negative-sampler",
                   "embedding": "gap", "margin": 0.0}
    bound = bind_model_source(recipe_args, {"negative-sampler": sampler}, "cascade.triplet")
    assert bound["encoder_args"] == {"model": sampler, "source": "negative-sampler"}
    assert "source" not in bound and recipe_args["source"] == "negative-sampler"  # not mutated
    loss = zoo.create_loss("triplet", reduction="none", **bound)
    a, p, n = (torch.rand(2, 3, 32, 32) for _ in range(3))
    ea, ep, en = (embed(loss.encoder(t), "gap") for t in (a, p, n))
    expected = torch.relu(((ea - ep) ** 2).mean(1) - ((ea - en) ** 2).mean(1))
    torch.testing.assert_close(loss(a, p, n), expected)
    assert ea.shape == (2, 8 + 16 + 32 + 64 + 128)
    assert loss.pretrained_source.startswith("negative-sampler: Uformer features")
    # unchanged without a source; errors name the table
    assert bind_model_source({"encoder": "vgg16"}, {}) == {"encoder": "vgg16"}
    with pytest.raises(ConfigError, match="cascade.triplet: source = 'anchor' is not a model "
                                          "offered here; one of 'negative-sampler'"):
        bind_model_source({**recipe_args, "source": "anchor"}, {"negative-sampler": sampler},
                          "cascade.triplet")
    with pytest.raises(ConfigError, match="encoder 'model-features' needs source"):
        bind_model_source({"encoder": "model-features"}, {"negative-sampler": sampler})
    with pytest.raises(ConfigError, match="applies to encoder = 'model-features' only"):
        bind_model_source({"encoder": "vgg16", "source": "negative-sampler"},
                          {"negative-sampler": sampler})


def test_one_shared_instance_per_model_inside_a_composer():
    sampler = _frozen(zoo.create_model("unet.t"))
    with shared_encoders():
        e1 = build_encoder("model-features", model=sampler, source="negative-sampler")
        e2 = build_encoder("model-features", model=sampler, source="negative-sampler")
        e3 = build_encoder("model-features", model=_frozen(zoo.create_model("unet.t")))
    assert e1 is e2 and e1 is not e3


def test_conv_embedding_and_its_features():
    """The conv-embedding model: any image size -> (B, dim), trainable; as a model-features
    encoder its default layer is the trained head (the embedding itself)."""
    torch.manual_seed(0)
    net = zoo.create_model("conv-embedding", widths=[4, 8], dim=5)
    for h, w in ((16, 16), (33, 20)):
        x = torch.rand(2, 3, h, w)
        out = net(x)
        assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.square().mean().backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(ZooError, match="conv-embedding: expected \\(B, 3, H, W\\)"):
        net(torch.rand(2, 1, 8, 8))
    with pytest.raises(ZooError, match="must be positive"):
        zoo.create_model("conv-embedding", widths=[])
    enc = zoo.create_encoder("model-features", model=_frozen(net))
    x = torch.rand(3, 3, 16, 16)
    assert enc.layer_names == ("head",)
    torch.testing.assert_close(enc(x)[0], net(x))
