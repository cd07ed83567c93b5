"""Flare7K's released Uformer as a named pretrained source: ``uformer.flare7k`` + ``net_g_last.pth``.

The released file is a BasicSR training state, ``{"params": sd}`` and/or ``{"params_ema": sd}``
(the release's ``test.py`` prefers ``params_ema``).  These tests wrap the reference weights of
``../shared/fixtures/flare7k_uformer_e16_128.pt`` (the release's architecture at embed 16 and
128 px, with the reference output of the release's code) the same way and load them through the
public routes: ``zoo.create_model(name, pretrained=PATH)`` and a recipe's
``stages.<stage>.weights=PATH``.
"""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.errors import ZooError


def _release_like(uformer_fixture) -> dict:
    cfg = uformer_fixture["config"]
    return {"embed_dim": cfg["embed_dim"], "img_size": cfg["img_size"]}


def test_basicsr_file_through_the_named_preset_reproduces_the_release(uformer_fixture, tmp_path):
    sd = uformer_fixture["state_dict"]
    noisy = {k: (v + 1.0 if v.is_floating_point() else v) for k, v in sd.items()}
    path = tmp_path / "net_g_last.pth"
    torch.save({"params": noisy, "params_ema": sd}, path)  # as BasicSR saves with EMA on
    model = zoo.create_model("uformer.flare7k", pretrained=str(path),
                             **_release_like(uformer_fixture)).eval()
    with torch.no_grad():
        out = model(uformer_fixture["input"])
    assert (out - uformer_fixture["output"]).abs().max().item() < 1e-5  # params_ema was used
    torch.save({"params": sd}, path)  # without EMA: params
    model = zoo.create_model("uformer.flare7k", pretrained=path, **_release_like(uformer_fixture))
    assert all(torch.equal(v, sd[k]) for k, v in model.state_dict().items())


def test_released_architecture_mismatch_is_a_one_line_diff(uformer_fixture, tmp_path):
    """The embed-16 weights into the full-size preset (embed 32): shapes listed, one line."""
    sd = dict(uformer_fixture["state_dict"])
    dropped = "output_proj.proj.0.bias"
    del sd[dropped]
    sd["extra.weight"] = torch.zeros(1)
    path = tmp_path / "net_g_last.pth"
    torch.save({"params_ema": sd}, path)
    with pytest.raises(ZooError) as err:
        zoo.create_model("uformer.flare7k", pretrained=path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "uformer.flare7k" in msg
    assert f"1 missing key(s) [{dropped}]" in msg and "1 unexpected key(s) [extra.weight]" in msg
    assert "271 shape mismatch(es) [input_proj.proj.0.weight: file [16, 3, 3, 3] vs model " \
           "[32, 3, 3, 3]" in msg


def test_recipe_stage_weights_read_the_basicsr_file(tmp_path):
    """``--set stages.reference.weights=PATH`` reads BasicSR files and checks them strictly."""
    from zoo.engine import run_recipe

    torch.manual_seed(0)
    smoke_reference = zoo.create_model("uformer.t", embed_dim=8, win_size=4, depths=[1] * 9)
    sd = dict(smoke_reference.state_dict())
    sd["input_proj.proj.0.weight"] = torch.zeros(16, 3, 3, 3)
    path = tmp_path / "net_g_last.pth"
    torch.save({"params": sd}, path)
    with pytest.raises(ZooError) as err:
        run_recipe("cascaded-flare", ["profile=smoke", f"stages.reference.weights={path}"],
                   registry=zoo.get_registry(), dry_run=True, log=lambda line: None)
    msg = str(err.value)
    assert msg.startswith("stages.reference.weights") and "\n" not in msg
    assert "input_proj.proj.0.weight: file [16, 3, 3, 3] vs model [8, 3, 3, 3]" in msg
