"""Battery over EVERY registered loss (built-in and plugin ones, presets included).

For each name in ``zoo.list_losses()`` the inputs named by ``spec.inputs`` are synthesised:
RGB images in [0, 1] (``SIZE`` px, or ``spec.sample_size``), unless the spec names a sampler in
``spec.sample_inputs`` (see :mod:`zoo.losses.samples`); ``spec.sample_kwargs`` are passed to the
factory (e.g. a small SSIM window).  Checks: minimal on identical inputs (two
image inputs) or on a constant image (one image input), finite gradients, the three reductions,
float32 and float64, and agreement of the module with its function where it has one.

The battery runs over the registry the tester named with ``ZOO_REGISTRY`` (tests/conftest.py
keeps it as ``ZOO_USER_REGISTRY``), else the test session's (examples/registry.toml): a plugin author checks a
local module with ``ZOO_REGISTRY=my/registry.toml pytest tests/losses/test_battery.py``.

Losses the battery cannot build here are listed, with the reason, in ``CANNOT_BUILD``; they are
skipped only if building them raises a ZooError (so they run where their weights are present).
"""
from __future__ import annotations

import importlib
import os

import pytest
import torch

import zoo
from zoo.errors import ZooError
from zoo.losses import samples

SIZE = 32
BATCH = 2

#: name -> why the battery may be unable to build it on a machine without downloads
CANNOT_BUILD = {
    "perceptual": "needs pretrained VGG weights (covered through its generic-* preset)",
    "perceptual.vgg16-l1": "needs pretrained VGG weights (= perceptual)",
    "perceptual.song-bae": "needs pretrained ViT-L/16 SWAG weights (formula: test_perceptual.py)",
    "lpips": "needs the lpips/torchvision AlexNet weights",
    "lpips.vgg": "needs the lpips/torchvision VGG weights",
    "lpips.squeeze": "needs the lpips/torchvision SqueezeNet weights",
    "triplet": "needs pretrained ViT-L/16 SWAG weights (covered through its generic-* preset)",
}

#: two-input losses whose inputs are not a prediction and its target (no minimum at equality)
NOT_A_DISTANCE = {
    "adversarial": "inputs are the discriminator's logits on fakes and on reals",
}


#: the registry the battery covers (see the module doc)
REGISTRY = zoo.build_registry(os.environ.get("ZOO_USER_REGISTRY") or None, warn=False)


def _spec(name):
    return REGISTRY.get("losses", name)


def _sampler(spec):
    ref = spec.sample_inputs
    if not ref:
        return samples.images
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def _inputs(spec, dtype=torch.float32, seed=0, size=None):
    size = size or max(SIZE, spec.sample_size)
    g = torch.Generator().manual_seed(seed)
    made = _sampler(spec)(spec.inputs, batch=BATCH, size=size, dtype=dtype, generator=g)
    return [made[n] for n in spec.inputs]


def _build(name, **kw):
    spec = _spec(name)
    try:
        return REGISTRY.create("losses", name, **{**spec.sample_kwargs, **kw})
    except ZooError as e:
        if name in CANNOT_BUILD:
            pytest.skip(f"{name}: {CANNOT_BUILD[name]} ({e})")
        raise


def _call(loss, tensors):
    out = loss(*tensors)
    assert isinstance(out, torch.Tensor), f"loss returned {type(out).__name__}"
    return out


LOSSES = REGISTRY.names("losses")


def test_battery_covers_the_registry():
    assert {"l1", "ssim", "ms-ssim", "zero-dce", "adversarial"} <= set(LOSSES)
    assert set(CANNOT_BUILD) <= set(LOSSES) | {"lpips.vgg", "lpips.squeeze"}


@pytest.mark.parametrize("name", LOSSES)
def test_minimal_on_identical_inputs(name):
    torch.manual_seed(0)
    spec = _spec(name)
    loss = _build(name)
    tensors = _inputs(spec)
    if spec.name in NOT_A_DISTANCE:
        pytest.skip(f"{name}: {NOT_A_DISTANCE[spec.name]}")
    same_kind = len({(t.shape, t.dtype) for t in tensors}) == 1
    if len(tensors) > 2 or not same_kind or not tensors[0].is_floating_point():
        pytest.skip(f"{name}: inputs {spec.inputs} have no 'identical' point; "
                    f"see its reference test {spec.facts().test}")
    if len(spec.inputs) == 2:
        x, y = tensors
        at_identical = float(_call(loss, [x, x.clone()]))
        noisy = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
        assert at_identical <= float(_call(loss, [x, noisy])) + 1e-6
        assert at_identical <= float(_call(loss, [x, y])) + 1e-6
    else:
        constant = torch.full_like(tensors[0], 0.6)  # 0.6: Zero-DCE's well-exposed level
        assert float(_call(loss, [constant])) <= float(_call(loss, tensors)) + 1e-6


@pytest.mark.parametrize("name", LOSSES)
def test_finite_gradients(name):
    torch.manual_seed(0)
    spec = _spec(name)
    loss = _build(name)
    tensors = [t.requires_grad_(True) if t.is_floating_point() else t for t in _inputs(spec)]
    value = _call(loss, tensors)
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    grads = [t.grad for t in tensors if t.is_floating_point() and t.grad is not None]
    assert grads, f"{name}: no input received a gradient"
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", LOSSES)
def test_reductions(name):
    torch.manual_seed(0)
    spec = _spec(name)
    tensors = _inputs(spec)
    per = _call(_build(name, reduction="none"), tensors)
    mean = _call(_build(name, reduction="mean"), tensors)
    total = _call(_build(name, reduction="sum"), tensors)
    assert per.shape == (BATCH,)
    assert torch.allclose(mean, per.mean(), rtol=1e-5, atol=1e-6)
    assert total.dim() == 0 and torch.isfinite(total)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes(name, dtype):
    torch.manual_seed(0)
    spec = _spec(name)
    loss = _build(name)
    if dtype == torch.float64:
        loss = loss.double() if isinstance(loss, torch.nn.Module) else loss
    value = _call(loss, _inputs(spec, dtype=dtype))
    assert value.dtype == dtype and torch.isfinite(value)


@pytest.mark.parametrize("name", LOSSES)
def test_module_agrees_with_function(name):
    spec = _spec(name)
    loss = _build(name)
    function = getattr(type(loss), "function", None)
    if function is None:
        pytest.skip(f"{name}: {type(loss).__name__} is not built from a function by "
                    f"zoo.losses.module")
    tensors = _inputs(spec)
    assert torch.equal(_call(loss, tensors), function(*tensors, **loss.options))
