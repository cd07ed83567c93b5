"""Encoders: layers and truncation, frozen + eval, generic determinism, weight sources."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from zoo.encoders.base import GENERIC_SOURCE
from zoo.encoders.sharing import build_encoder, shared_encoders
from zoo.encoders.vgg import VGGEncoder, vgg_layer_names
from zoo.encoders.vit import ViTEncoder
from zoo.errors import InputError, ZooError


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """Point torch hub (torchvision's weight cache) and the HF cache at empty folders."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def test_vgg_layers_and_truncation():
    torch.manual_seed(0)
    enc = zoo.create_encoder("vgg16", pretrained=False, width=0.25, layers=["relu2_2", "relu1_2"])
    feats = enc(torch.rand(2, 3, 32, 40))
    assert [tuple(f.shape) for f in feats] == [(2, 32, 16, 20), (2, 16, 32, 40)]  # order as asked
    assert enc.layer_names == ("relu2_2", "relu1_2")
    # cut after relu2_2 (index 8 of torchvision's vgg16().features)
    assert len(enc.features) == vgg_layer_names("vgg16").index("relu2_2") + 1 == 9
    assert all(f.min() >= 0 for f in feats)  # ReLU outputs
    names19 = vgg_layer_names("vgg19")
    assert "relu3_4" in names19 and names19.index("pool5") == 36  # torchvision vgg19 layout


def test_vgg_rejects_bad_layers_and_width():
    with pytest.raises(ZooError, match="unknown layer.*'relu9_9'"):
        zoo.create_encoder("vgg16", pretrained=False, layers=["relu9_9"])
    with pytest.raises(ZooError, match="width=0.5 is only possible with pretrained=False"):
        zoo.create_encoder("vgg16", width=0.5)


def test_encoders_are_frozen_and_stay_in_eval():
    enc = zoo.create_encoder("vgg16.generic-small")
    assert not enc.training and all(not p.requires_grad for p in enc.parameters())
    enc.train()
    assert not enc.training
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    sum(f.sum() for f in enc(x)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # gradients reach the image
    assert all(p.grad is None for p in enc.parameters())


def test_generic_encoders_deterministic_for_a_seed_and_leave_rng_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = zoo.create_encoder("vgg16.generic-small")
    assert torch.equal(torch.random.get_rng_state(), before)  # building draws from its own RNG
    b = zoo.create_encoder("vgg16.generic-small")
    c = zoo.create_encoder("vgg16.generic-small", seed=1)
    x = torch.rand(1, 3, 32, 32)
    fa, fb, fc = a(x), b(x), c(x)
    assert all(torch.equal(u, v) for u, v in zip(fa, fb))
    assert not torch.allclose(fa[-1], fc[-1])
    assert a.pretrained_source.startswith(GENERIC_SOURCE) and "seed=0" in a.pretrained_source


def test_offline_error_names_file_url_and_cache_path(empty_hub):
    """ZOO_OFFLINE=1 (set for the whole suite by conftest.py): a missing file is a one-line error."""
    with pytest.raises(ZooError) as err:
        zoo.create_encoder("vgg16")
    msg = str(err.value)
    assert str(empty_hub / "vgg16-397923af.pth") in msg
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in msg
    assert "VGG16_Weights.IMAGENET1K_V1" in msg and "offline mode is on (ZOO_OFFLINE=1)" in msg
    assert "pretrained=False" in msg and "\n" not in msg
    assert not empty_hub.exists() or not list(empty_hub.iterdir())
    for name, file in (("vit-l-16-swag", "vit_l_16_lc_swag-4d563306.pth"),
                       ("vit-l-16-swag.linear", "vit_l_16_lc_swag-4d563306.pth"),
                       ("vit-l-16-swag.e2e", "vit_l_16_swag-4f3808c9.pth")):
        with pytest.raises(ZooError, match=f"{name}.*{file}.*offline mode is on"):
            zoo.create_encoder(name)


def test_swag_variants_are_torchvisions_weights():
    """The two registered SWAG variants: torchvision's enum members, their input sizes and URLs."""
    from torchvision.models import ViT_L_16_Weights

    from zoo.encoders.vit import SWAG_VARIANTS

    assert set(SWAG_VARIANTS) == {"linear", "e2e"}
    for variant, spec in SWAG_VARIANTS.items():
        weights = ViT_L_16_Weights[spec.weights_name]
        assert weights.meta["min_size"] == (spec.image_size, spec.image_size)
        assert weights.transforms().crop_size == [spec.image_size]
        assert zoo.get_registry().canonical("encoders", f"vit-l-16-swag.{variant}") == \
            ("vit-l-16-swag", variant)
    assert ViT_L_16_Weights.IMAGENET1K_SWAG_LINEAR_V1.url.endswith("vit_l_16_lc_swag-4d563306.pth")
    assert ViT_L_16_Weights.IMAGENET1K_SWAG_E2E_V1.url.endswith("vit_l_16_swag-4f3808c9.pth")
    e2e_top1 = ViT_L_16_Weights.IMAGENET1K_SWAG_E2E_V1.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert e2e_top1 > 88.0  # the ">88 % top-1" ViT-L of the fidelity notes


@pytest.mark.parametrize("name, size", [("vit-l-16-swag.linear", 224), ("vit-l-16-swag.e2e", 512)])
def test_paper_sized_swag_encoders_build_offline(name, size, monkeypatch):
    """Random weights, no download, on the meta device (shapes only, no memory)."""
    import zoo.encoders.vit as vit_module

    with torch.device("meta"):
        enc = zoo.create_encoder(name, pretrained=False)
    assert enc.image_size == size and enc.pretrained_source.startswith(GENERIC_SOURCE)
    tokens = (size // 16) ** 2 + 1  # 14 x 14 or 32 x 32 patches + the class token
    assert tuple(enc.vit.encoder.pos_embedding.shape) == (1, tokens, 1024)
    # torchvision's parameter count of the weights minus the dropped 1000-class head
    from torchvision.models import ViT_L_16_Weights

    spec = vit_module.SWAG_VARIANTS[name.split(".")[1]]
    head = 1024 * 1000 + 1000
    assert sum(p.numel() for p in enc.parameters()) == \
        ViT_L_16_Weights[spec.weights_name].meta["num_params"] - head
    resized = []
    real_interpolate = vit_module.F.interpolate
    monkeypatch.setattr(vit_module.F, "interpolate",
                        lambda x, **kw: resized.append(kw["size"]) or real_interpolate(x, **kw))
    (emb,) = enc(torch.empty(2, 3, size, size, device="meta"))
    assert tuple(emb.shape) == (2, 1024) and resized == []  # native size: not resized
    (emb,) = enc(torch.empty(1, 3, 96, 128, device="meta"))
    assert tuple(emb.shape) == (1, 1024) and resized == [(size, size)]


def test_vgg_loads_cached_torchvision_weights_and_local_file(empty_hub, tmp_path):
    """A torchvision-layout state dict in the hub cache (or at a path) is what gets loaded."""
    torch.manual_seed(0)
    source = VGGEncoder("vgg16", layers=["relu1_2"], pretrained=False, seed=7)
    state = {f"features.{k}": v for k, v in source.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored: not part of the trunk
    empty_hub.mkdir(parents=True)
    torch.save(state, empty_hub / "vgg16-397923af.pth")
    cached = zoo.create_encoder("vgg16", layers=["relu1_2"])
    assert cached.pretrained_source == "torchvision IMAGENET1K_V1"
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(cached(x)[0], source(x)[0])
    path = tmp_path / "mine.pth"
    torch.save(source.features.state_dict(), path)  # features-only keys work too
    local = zoo.create_encoder("vgg16", layers=["relu1_2"], pretrained=str(path))
    assert torch.equal(local(x)[0], source(x)[0]) and str(path) in local.pretrained_source
    with pytest.raises(ZooError, match="do not fit"):
        zoo.create_encoder("vgg16", layers=["relu2_1"], pretrained=str(path))


def test_vit_encoder_cls_embedding_and_resize():
    from torchvision.models import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(image_size=32, patch_size=16, num_layers=1, num_heads=2,
                            hidden_dim=16, mlp_dim=32)
    enc = ViTEncoder(vit, "test weights")
    x = torch.rand(2, 3, 48, 40)
    (emb,) = enc(x)
    assert emb.shape == (2, 16) and enc.layer_names == ("cls",)
    # same as torchvision's own forward up to the (dropped) head, on the resized image
    small = torch.nn.functional.interpolate(x, size=(32, 32), mode="bicubic",
                                           align_corners=False, antialias=True)
    torch.testing.assert_close(emb, vit(enc.normalize(small)))
    with pytest.raises(ZooError, match="class-token"):
        zoo.create_encoder("vit-l-16-swag", layers=["relu1_1"], pretrained=False)


def test_timm_encoder_features_and_embedding():
    torch.manual_seed(0)
    enc = zoo.create_encoder("timm", model="test_resnet", pretrained=False, layers=[1, 2])
    feats = enc(torch.rand(1, 3, 32, 32))
    assert len(feats) == 2 and enc.layer_names == ("stage1", "stage2")
    emb = zoo.create_encoder("timm", model="test_vit", pretrained=False, embedding=True)
    (e,) = emb(torch.rand(2, 3, 40, 40))  # fixed-size model: resized to its 160x160 input
    assert e.dim() == 2 and e.shape[0] == 2 and emb.fixed_size == (160, 160)
    with pytest.raises(ZooError, match="unknown timm model 'resnet1800'"):
        zoo.create_encoder("timm", model="resnet1800", pretrained=False)


def test_timm_offline_error(monkeypatch, tmp_path, empty_hub):
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the Hugging Face switch is honoured too
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    with pytest.raises(ZooError) as err:
        zoo.create_encoder("timm", model="resnet18")
    msg = str(err.value)
    assert "offline mode is on (HF_HUB_OFFLINE=1)" in msg and "\n" not in msg
    assert "huggingface-cli download timm/resnet18" in msg and str(empty_hub) in msg


def test_timm_downloads_through_timm_unless_offline(monkeypatch, empty_hub):
    """Online and not cached: timm's own create_model(pretrained=True) fetches the weights; its
    failure is a one-line error saying where the file goes."""
    import huggingface_hub
    import timm

    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    real_create = timm.create_model
    calls = []

    def fetched(name, pretrained=False, **kwargs):  # stands in for a successful download
        calls.append((name, pretrained, "pretrained_cfg_overlay" in kwargs))
        return real_create(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", fetched)
    enc = zoo.create_encoder("timm", model="test_resnet", layers=[1])
    assert calls == [("test_resnet", True, False)]
    assert enc.pretrained_source == "timm test_resnet (downloaded by timm)"

    def unreachable(name, pretrained=False, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(timm, "create_model", unreachable)
    with pytest.raises(ZooError) as err:
        zoo.create_encoder("timm", model="test_resnet")
    msg = str(err.value)
    assert "could not download" in msg and "OSError: connection refused" in msg
    assert "huggingface-cli download timm/test_resnet" in msg and "\n" not in msg


def test_encoder_input_checks():
    enc = zoo.create_encoder("vgg16.generic-small")
    with pytest.raises(InputError, match=r"\(B, 3, H, W\)"):
        enc(torch.rand(1, 1, 16, 16))


def test_shared_encoders_return_one_instance():
    with shared_encoders():
        a = build_encoder("vgg16.generic-small")
        b = build_encoder("vgg16.generic-small")
        c = build_encoder("vgg16.generic-small", seed=3)
    assert a is b and a is not c
    assert build_encoder("vgg16.generic-small") is not a  # outside the block: a new one
    with pytest.raises(ZooError, match="apply to registered encoder names"):
        build_encoder(nn.Identity(), layers=["x"])


def test_vit_arch_overrides_build_and_load_a_smaller_vit_the_same_way(empty_hub, tmp_path):
    """``arch``: a smaller torchvision ViT, random or read from the hub cache under the variant's
    file name, loaded strictly by the same code as the released weights."""
    from torchvision.models.vision_transformer import VisionTransformer

    arch = {"image_size": 32, "num_layers": 2, "num_heads": 2, "hidden_dim": 16, "mlp_dim": 32}
    rand = zoo.create_encoder("vit-l-16-swag.e2e", pretrained=False, arch=arch, seed=3)
    assert rand.image_size == 32 and len(rand.vit.encoder.layers) == 2
    (emb,) = rand(torch.rand(2, 3, 48, 40))
    assert tuple(emb.shape) == (2, 16)
    # the released file's layout (classifier head included), shrunk
    torch.manual_seed(5)
    source = VisionTransformer(patch_size=16, **arch)
    empty_hub.mkdir(parents=True)
    torch.save(source.state_dict(), empty_hub / "vit_l_16_swag-4f3808c9.pth")
    cached = zoo.create_encoder("vit-l-16-swag.e2e", arch=arch)
    assert cached.pretrained_source == "torchvision IMAGENET1K_SWAG_E2E_V1"
    x = torch.rand(1, 3, 32, 32)
    source.heads = torch.nn.Identity()
    torch.testing.assert_close(cached(x)[0], source(cached.normalize(x)))
    # a file that does not fit the asked architecture: one line naming it
    with pytest.raises(ZooError) as err:
        zoo.create_encoder("vit-l-16-swag.e2e", arch={**arch, "hidden_dim": 32})
    assert "arch image_size=32, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32" in \
        str(err.value) and "shape mismatch" in str(err.value) and "\n" not in str(err.value)
    for bad, pattern in (({"depth": 2}, "arch has no key 'depth'"),
                         ({"num_layers": 0}, "arch.num_layers must be a positive integer"),
                         ({"image_size": 40}, "not a multiple of patch_size 16"),
                         ({"hidden_dim": 30, "num_heads": 4}, "not a multiple of num_heads")):
        with pytest.raises(ZooError, match=pattern):
            zoo.create_encoder("vit-l-16-swag", pretrained=False, arch=bad)
