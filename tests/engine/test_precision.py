"""Mixed precision (``amp = "bf16" | "fp16"``) and channels-last in the training step and the
evaluation: numbers against float32 on the CPU, the fp16 gradient scaler's logic, and its
state across a resume.

Tolerances were measured, not guessed (``docs/performance.md``): on the cascade step below
(the ``cpu`` profile's Uformer and generic encoders, 64 px, batch 2, three SGD steps), the
relative loss difference to float32 was at most 7.5e-4 (bf16) and 2.6e-4 (fp16), and the
cosine between the bf16 and float32 weight updates 0.99988.
"""
from __future__ import annotations

import copy
import os
import signal

import pytest
import torch

import zoo
from zoo.engine import run_recipe, train_stage
from zoo.engine.cascade import CASCADE_PLAN, CascadedFineTuner, cascade_terms
from zoo.engine.forward import DEFAULT_PLAN
from zoo.engine.precision import Precision
from zoo.engine.recipe import resolve
from zoo.engine.spec import CascadeSpec, OptimizerSpec, Recipe, Schedule
from zoo.engine.trainer import Interrupted, TrainOptions, build_loss, training_step
from zoo.errors import ConfigError

from .conftest import TINY
from .standins.plugin import TinyNet, TinyPairs

LOSS_RTOL = 2e-3  # measured: 7.5e-4 (bf16), 2.6e-4 (fp16)


@pytest.fixture(scope="module")
def cascade():
    """The cpu profile's cascade at 64 px: a small Uformer and the generic-encoder terms."""
    zoo.reset_registry()
    registry = zoo.get_registry()
    torch.manual_seed(0)
    legacy = zoo.create_model("uformer.t", embed_dim=8, win_size=4, depths=[1] * 9)
    terms = cascade_terms(CascadeSpec(perceptual={"encoder": "vgg16.generic-small"},
                                      triplet={"encoder": "vgg16.generic-small",
                                               "normalize": True}))
    composer = build_loss(terms, registry)
    g = torch.Generator().manual_seed(1)
    batch = {"input": torch.rand(2, 3, 64, 64, generator=g),
             "gt": torch.rand(2, 3, 64, 64, generator=g)}
    yield legacy, composer, batch
    zoo.reset_registry()


_RUNS: dict = {}


def _run_cascade(cascade, amp: str, steps: int = 3):
    """Losses, weight updates and scaler of ``steps`` cascade steps (memoised per mode)."""
    if amp not in _RUNS:
        _RUNS[amp] = _cascade_steps(cascade, amp, steps)
    return _RUNS[amp]


def _cascade_steps(cascade, amp: str, steps: int):
    legacy, composer, batch = cascade
    ft = CascadedFineTuner(copy.deepcopy(legacy))
    opt = torch.optim.SGD(ft.anchor.parameters(), lr=1e-3, momentum=0.9)
    precision = Precision(amp)
    scaler = precision.grad_scaler("cpu")
    losses, updates = [], []
    for _ in range(steps):
        before = torch.cat([p.detach().flatten() for p in ft.anchor.parameters()])
        total, _ = training_step({"self": ft.anchor, "negative": ft.sampler}, CASCADE_PLAN,
                                 composer, opt, None, batch, precision=precision, scaler=scaler)
        assert total.dtype == torch.float32
        losses.append(float(total.detach()))
        updates.append(torch.cat([p.detach().flatten() for p in ft.anchor.parameters()]) - before)
    return losses, updates, scaler


def test_bf16_cascade_steps_match_float32(cascade):
    ref_losses, ref_updates, _ = _run_cascade(cascade, "off")
    losses, updates, scaler = _run_cascade(cascade, "bf16")
    assert scaler is None  # bf16 has float32's range: no loss scaling
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(ref_losses), rtol=LOSS_RTOL,
                               atol=0)
    assert losses != ref_losses  # autocast did run in bfloat16
    total, ref_total = sum(updates), sum(ref_updates)
    assert float(torch.nn.functional.cosine_similarity(total, ref_total, dim=0)) > 0.999
    assert abs(float(total.norm() / ref_total.norm()) - 1) < 0.01


def test_fp16_cascade_steps_match_float32_with_the_scaler(cascade):
    ref_losses, ref_updates, _ = _run_cascade(cascade, "off")
    losses, updates, scaler = _run_cascade(cascade, "fp16")
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(ref_losses), rtol=LOSS_RTOL,
                               atol=0)
    # a step whose float16 gradients overflowed at the scale of 2**16 changed nothing and halved
    # the scale; every other step moved the weights like float32's
    skipped = [i for i, u in enumerate(updates) if not u.any()]
    assert scaler is not None and scaler.get_scale() == 2.0 ** (16 - len(skipped))
    assert len(skipped) < len(updates)
    for i, u in enumerate(updates):
        if i not in skipped:
            assert float(torch.nn.functional.cosine_similarity(u, ref_updates[0], dim=0)) > 0.99


def test_fp16_scaler_skips_overflow_and_unscales_before_clipping():
    torch.manual_seed(0)
    net = TinyNet(width=8)
    batch = {k: v for k, v in TinyPairs(length=2)[0].items() if k != "name"}
    batch = {k: v[None] for k, v in batch.items()}

    def composer(tensors):
        loss = (tensors["pred"].float() - tensors["gt"]).abs().mean()
        return loss, {"l1": loss}

    def step(scaler, grad_clip=None):
        opt = torch.optim.SGD(net.parameters(), lr=1.0)
        before = [p.detach().clone() for p in net.parameters()]
        training_step({"self": net}, DEFAULT_PLAN, composer, opt, None, batch,
                      params=list(net.parameters()), grad_clip=grad_clip,
                      precision=Precision("fp16"), scaler=scaler)
        return torch.cat([(p.detach() - b).flatten() for p, b in zip(net.parameters(), before)])

    huge = torch.amp.GradScaler("cpu", init_scale=2.0 ** 40)
    assert not step(huge).any()  # inf gradients in float16: the step is skipped ...
    assert huge.get_scale() == 2.0 ** 39  # ... and the scale backs off
    # clipping sees the true gradients: the update of SGD(lr=1) has exactly the clipped norm
    update = step(torch.amp.GradScaler("cpu"), grad_clip=1e-3)
    assert float(update.norm()) == pytest.approx(1e-3, rel=1e-3)


def test_channels_last_step_matches_contiguous():
    batch = {k: v[None] for k, v in TinyPairs(length=2)[1].items() if k != "name"}
    results = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        precision = Precision("off", channels_last)
        net = precision.module(TinyNet(width=8))
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        b = precision.batch(batch)
        assert b["input"].is_contiguous(memory_format=torch.channels_last) == channels_last
        total, _ = training_step({"self": net}, DEFAULT_PLAN, build_loss("l1", zoo.get_registry()),
                                 opt, None, b, precision=precision)
        results.append((float(total), [p.detach().clone() for p in net.parameters()]))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def _train(tmp_path, standins, on_step=None):
    return train_stage(TinyNet(width=8), "l1", TinyPairs(length=8),
                       schedule=Schedule(steps=6, batch_size=2), registry=standins,
                       optimizer=OptimizerSpec("sgd", {"lr": 0.05, "momentum": 0.9}),
                       options=TrainOptions(out_dir=tmp_path, checkpoint_every=2, progress=False,
                                            seed=3, on_step=on_step,
                                            precision=Precision("fp16")))


def test_resume_restores_the_grad_scaler(tmp_path, standins):
    torch.manual_seed(0)
    full = _train(tmp_path / "full", standins)
    final = torch.load(tmp_path / "full/checkpoint.pt", weights_only=True)
    assert final["extra"]["grad_scaler"]["_growth_tracker"] > 0

    def stop(stage, step, gstep):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    torch.manual_seed(0)
    with pytest.raises(Interrupted):
        _train(tmp_path / "cut", standins, on_step=stop)
    cut = torch.load(tmp_path / "cut/checkpoint.pt", weights_only=True)
    assert cut["step"] == 3 and cut["extra"]["grad_scaler"]["_growth_tracker"] > 0
    resumed = _train(tmp_path / "cut", standins)
    again = torch.load(tmp_path / "cut/checkpoint.pt", weights_only=True)
    assert again["extra"]["grad_scaler"] == final["extra"]["grad_scaler"]
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_amp_is_a_recipe_key_and_a_run_option(tmp_path, standins):
    import tomllib

    raw = tomllib.loads(TINY.read_text())
    recipe = resolve(raw, ["amp=bf16", "channels_last=true"], source="tiny.toml")
    assert (recipe.amp, recipe.channels_last) == ("bf16", True)
    assert recipe.precision == Precision("bf16", True)
    assert Recipe.parse(recipe.to_dict()) == recipe
    assert resolve(raw, source="tiny.toml").precision == Precision()
    with pytest.raises(ConfigError, match=r"tiny.toml: amp must be one of off, bf16, fp16, got "
                                          r"'fp8'"):
        resolve(raw, ["amp=fp8"], source="tiny.toml")
    res = run_recipe(str(TINY), ["stages.reference.schedule.steps=2",
                                 "stages.finetune.schedule.steps=2"], registry=standins,
                     out_dir=tmp_path, amp="bf16", progress=False, log=lambda s: None)
    assert res.recipe.amp == "bf16"
    assert 'amp = "bf16"' in (res.run_dir / "config.toml").read_text()
    assert all(v == v for row in res.metrics.values() for v in row.values())  # no NaN


def test_amp_command_line_option(standins, capsys):
    from zoo.cli import main

    from .conftest import REGISTRY

    args = ["--registry", str(REGISTRY), "run", "recipe", str(TINY)]
    assert main([*args, "--amp", "fp16", "--dry-run"]) == 0
    assert "checks passed" in capsys.readouterr().out
    assert main([*args, "--amp", "fp8", "--dry-run"]) == 2
    assert "'fp8' is not one of 'off', 'bf16', 'fp16'" in capsys.readouterr().err
