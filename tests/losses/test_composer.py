"""LossComposer: weighted sums, encoder-pass sharing (3 for the cascaded objective), errors."""
from __future__ import annotations

import pytest
import torch

from zoo.errors import ConfigError
from zoo.registry import build_registry
from zoo.registry import PluginInfo
from zoo.losses.composer import LossComposer


def mse(pred, target):
    return ((pred - target) ** 2).mean()


@pytest.fixture(scope="module")
def registry():
    """The built-in registry plus a plain 'test-mse' loss (independent of the pixel losses)."""
    reg = build_registry()
    reg.plugins["tests"] = PluginInfo("tests", "0", "local")
    sink = []
    reg.make_register("losses", "tests", sink)("test-mse", lambda: mse, doc="mean squared error")
    reg.commit("tests", sink)
    return reg


CASCADE = [
    {"name": "test-mse", "weight": 0.6, "inputs": ["anchor", "gt"]},
    {"name": "perceptual", "weight": 0.001, "inputs": ["anchor", "gt"],
     "args": {"encoder": "vgg16.generic-small"}},
    {"name": "triplet", "weight": 0.4, "inputs": ["anchor", "gt", "negative"],
     "args": {"encoder": "vgg16.generic-small"}},
]


def _tensors(seed=0, size=32):
    torch.manual_seed(seed)
    anchor = torch.rand(2, 3, size, size, requires_grad=True)
    return {"anchor": anchor, "gt": torch.rand(2, 3, size, size),
            "negative": torch.rand(2, 3, size, size)}


def test_cascaded_objective_total_is_weighted_sum_with_three_encoder_passes(registry):
    composer = LossComposer.from_config(CASCADE, registry=registry)
    encoder = composer.losses[1].encoder
    assert composer.losses[2].encoder is encoder  # one shared encoder instance
    calls = []
    encoder.register_forward_hook(lambda *a: calls.append(1))
    t = _tensors()
    total, parts = composer(t)
    assert composer.last_encoder_passes == 3 == len(calls)  # anchor, gt, negative: not 5
    assert composer.last_encoder_calls == 3
    assert list(parts) == ["test-mse", "perceptual", "triplet"] == composer.labels
    assert all(not v.requires_grad for v in parts.values())
    expected = 0.6 * parts["test-mse"] + 0.001 * parts["perceptual"] + 0.4 * parts["triplet"]
    torch.testing.assert_close(total.detach(), expected)

    # same value and same gradient as the terms computed separately (five encoder passes)
    total.backward()
    grad_shared = t["anchor"].grad.clone()
    t["anchor"].grad = None
    perc, trip = composer.losses[1], composer.losses[2]
    naive = 0.6 * mse(t["anchor"], t["gt"]) + 0.001 * perc(t["anchor"], t["gt"]) + \
        0.4 * trip(t["anchor"], t["gt"], t["negative"])
    naive.backward()
    torch.testing.assert_close(total.detach(), naive.detach())
    torch.testing.assert_close(grad_shared, t["anchor"].grad)
    assert composer.encoder_passes == 3
    composer(t)
    assert composer.encoder_passes == 6 and composer.last_encoder_passes == 3


@pytest.mark.parametrize("batch_targets,calls", [(True, 2), (False, 3)])
def test_tensors_without_grad_are_encoded_without_graph(registry, batch_targets, calls):
    composer = LossComposer(CASCADE[1:], registry=registry, batch_targets=batch_targets)
    seen = []
    composer.losses[0].encoder.register_forward_hook(
        lambda m, i, out: seen.append((i[0].shape[0], out[0].requires_grad)))
    t = _tensors()
    total, parts = composer(t)
    if batch_targets:  # the anchor with a graph; gt and negative in one batch without
        assert sorted(seen) == [(2, True), (4, False)]
    else:
        assert sorted(seen) == [(2, False), (2, False), (2, True)]
    assert composer.last_encoder_passes == 3 and composer.last_encoder_calls == calls
    other = LossComposer(CASCADE[1:], registry=registry, batch_targets=not batch_targets)
    total2, parts2 = other(t)  # batching the targets changes no value
    torch.testing.assert_close(total, total2)
    torch.testing.assert_close(parts["triplet"], parts2["triplet"])


def test_targets_are_batched_per_shape(registry):
    args = {"encoder": "vgg16.generic-small"}
    composer = LossComposer([{"name": "perceptual", "inputs": ["x", "y"], "args": args},
                             {"name": "perceptual", "inputs": ["u", "v"], "args": args}],
                            registry=registry, batch_targets=True)
    torch.manual_seed(0)
    t = {"x": torch.rand(1, 3, 32, 32), "y": torch.rand(1, 3, 32, 32),
         "u": torch.rand(2, 3, 48, 48), "v": torch.rand(2, 3, 48, 48)}
    total, parts = composer(t)
    assert composer.last_encoder_passes == 4 and composer.last_encoder_calls == 2
    single = composer.losses[0]
    torch.testing.assert_close(parts["perceptual#2"], single(t["u"], t["v"]))
    total, parts = composer({"x": t["x"], "y": t["x"], "u": t["u"], "v": t["u"]})
    assert composer.last_encoder_passes == 2  # a tensor used twice is encoded once


def test_different_encoder_configs_do_not_share(registry):
    terms = [dict(CASCADE[1]), dict(CASCADE[2], args={"encoder": "vgg16.generic-small",
                                                     "encoder_args": {"seed": 1}})]
    composer = LossComposer(terms, registry=registry)
    assert composer.losses[0].encoder is not composer.losses[1].encoder
    composer(_tensors())
    assert composer.last_encoder_passes == 5


def test_weight_zero_terms_are_skipped(registry):
    terms = [dict(t) for t in CASCADE]
    terms[2]["weight"] = 0
    composer = LossComposer(terms, registry=registry)
    assert composer.skipped == ["triplet"] and len(composer.losses) == 2
    assert composer.required_inputs == ["anchor", "gt"]
    t = _tensors()
    del t["negative"]  # not needed any more
    total, parts = composer(t)
    assert "triplet" not in parts and composer.last_encoder_passes == 2
    torch.testing.assert_close(total.detach(), 0.6 * parts["test-mse"] + 0.001 * parts["perceptual"])


def test_labels_defaults_and_describe(registry):
    composer = LossComposer([{"name": "test-mse", "inputs": ["a", "b"]},
                             {"name": "test-mse", "weight": 2, "inputs": ["b", "c"]},
                             {"name": "test-mse", "inputs": ["a", "c"], "label": "ac"}],
                            registry=registry)
    assert composer.labels == ["test-mse", "test-mse#2", "ac"]
    assert composer.describe() == "1*test-mse(a, b) + 2*test-mse(b, c) + 1*test-mse(a, c)"
    torch.manual_seed(0)
    a, b, c = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    total, parts = composer({"a": a, "b": b, "c": c})
    torch.testing.assert_close(total, mse(a, b) + 2 * mse(b, c) + mse(a, c))
    assert composer.pretrained_sources == {}
    enc = LossComposer(CASCADE[1:2], registry=registry)
    assert "generic perceptual loss" in enc.pretrained_sources["perceptual"]


@pytest.mark.parametrize("terms,pattern", [
    ([{"name": "triplt", "inputs": ["a", "b", "c"]}],
     r"loss term 1 \('triplt'\): name: unknown loss 'triplt'. Did you mean 'triplet'"),
    ([{"name": "test-mse", "inputs": ["a", "b", "c"]}],
     r"term 1 \('test-mse'\): inputs has 3 name\(s\) .* takes 2 \(pred, target\)"),
    ([{"name": "triplet", "inputs": ["a", "b"]}], r"takes 3 \(anchor, positive, negative\)"),
    ([{"name": "test-mse", "wieght": 1}], r"term 1: unknown key 'wieght'; did you mean 'weight'"),
    ([{"name": "test-mse", "weight": -1}], r"weight must be a finite number >= 0"),
    ([{"name": "test-mse", "weight": "1"}], r"weight must be a finite number"),
    ([{"weight": 1}], r"term 1: 'name' must be a registered loss name"),
    ([{"name": "triplet", "args": {"margn": 1}}], r"term 1 \('triplet'\): .*margn"),
    ([{"name": "test-mse", "args": [1]}], r"args must be a table"),
    ([{"name": "test-mse", "inputs": "a"}], r"inputs must be a list of tensor names"),
    ([{"name": "test-mse", "label": "x"}, {"name": "test-mse", "label": "x"}],
     r"term 2 \('test-mse'\): label 'x' is used twice"),
    ([{"name": "test-mse", "weight": 0}], r"every term has weight 0"),
    ([], r"no loss terms"),
    ({"name": "test-mse"}, r"expected a list of term tables"),
])
def test_term_table_errors(registry, terms, pattern):
    with pytest.raises(ConfigError, match=pattern):
        LossComposer(terms, registry=registry, where="loss")


def test_call_time_errors(registry):
    composer = LossComposer(CASCADE, registry=registry, where="stages.finetune.loss")
    t = _tensors()
    del t["negative"]
    with pytest.raises(ConfigError, match=r"stages.finetune.loss term 3 \('triplet'\): tensor "
                                          r"'negative' not given \(given: anchor, gt\)"):
        composer(t)
    per_sample = LossComposer([dict(CASCADE[1], args={"encoder": "vgg16.generic-small",
                                                      "reduction": "none"})], registry=registry)
    with pytest.raises(ConfigError, match="not a scalar"):
        per_sample(_tensors())
