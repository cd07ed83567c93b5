"""Every model and preset of the built-in ``zoo.models`` plugin builds, keeps the image size
and (the small ones) trains."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.models import split_output

# nets of millions of parameters: forward only on a small input (structure tested elsewhere)
BIG = {"uformer", "uformer.s", "uformer.b", "uformer.flare7k", "unet.flare7k", "unet.sid", "unet",
       "kind", "kind.release", "kind-restore"}


def _input_for(model, shape):
    b, _, h, w = shape
    return torch.rand(b, getattr(model, "in_ch", 3), h, w)


# restoration nets (the PatchGAN discriminator: test_adversarial; the conv-embedding, an image
# -> vector net: test_model_features)
OURS = [n for n in zoo.list_models()
        if zoo.get_registry().get("models", n).plugin == "zoo.models"
        and not {"discriminator", "embedding"} & set(zoo.get_registry().get("models", n).tags)]


@pytest.mark.parametrize("name", OURS)
def test_preset_forward(name):
    torch.manual_seed(0)
    model = zoo.create_model(name)
    if name in BIG:
        model.eval()
        x = _input_for(model, (1, 3, 32, 48))
        with torch.no_grad():
            out = model(x)
    else:
        x = _input_for(model, (2, 3, 64, 96))
        out = model(x)
        out.square().mean().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert isinstance(out, torch.Tensor)
    assert out.shape[0] == x.shape[0] and out.shape[-2:] == x.shape[-2:]
    assert torch.isfinite(out).all()
    parts = getattr(model, "output_split", None) or {"image": (0, out.shape[1])}
    for part, (start, stop) in parts.items():
        assert split_output(model, out, part).shape[1] == stop - start


def test_split_output_without_split_is_whole_tensor():
    out = torch.rand(1, 3, 4, 4)
    assert split_output(object(), out, "flare") is out
