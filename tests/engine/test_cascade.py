"""The cascaded fine-tuner: frozen negative sampler, trainable anchor, the loss terms from k/λ."""
from __future__ import annotations

import pytest
import torch

from zoo.engine import run_recipe
from zoo.engine.cascade import CASCADE_AT_0, CASCADE_PLAN, CascadedFineTuner, cascade_terms
from zoo.engine.evaluation import evaluate_model
from zoo.engine.forward import ForwardStep, run_plan
from zoo.engine.recipe import load_recipe_source, resolve
from zoo.engine.spec import CascadeSpec
from zoo.engine.trainer import build_loss

from .conftest import TINY
from .standins.plugin import TinyNet


def test_sampler_frozen_anchor_trainable_same_start():
    torch.manual_seed(0)
    legacy = TinyNet()
    ft = CascadedFineTuner(legacy)
    ft.train()
    assert not ft.sampler.training and ft.anchor.training
    assert all(not p.requires_grad for p in ft.sampler.parameters())
    assert all(p.requires_grad for p in ft.anchor.parameters())
    for a, b in zip(ft.sampler.state_dict().values(), ft.anchor.state_dict().values()):
        assert torch.equal(a, b)
    x = torch.rand(2, 3, 8, 8)
    tensors = ft.tensors({"input": x, "gt": x})
    assert not tensors["negative"].requires_grad  # no graph through the sampler
    assert torch.allclose(tensors["negative"], legacy(x))
    assert torch.allclose(tensors["anchor"], legacy(legacy(x)), atol=1e-6)
    tensors["anchor"].mean().backward()
    assert all(p.grad is not None for p in ft.anchor.parameters())
    assert all(p.grad is None for p in ft.sampler.parameters())


def test_plan_matches_module_forward():
    torch.manual_seed(1)
    ft = CascadedFineTuner(TinyNet())
    x = torch.rand(1, 3, 8, 8)
    t = run_plan(CASCADE_PLAN, {"self": ft.anchor, "negative": ft.sampler}, {"input": x})
    assert torch.equal(t["anchor"], ft(x))


@pytest.mark.parametrize("k, lam", [(1, 0.6), (2, 0.6), (2, 1.0), (1, 0.0)])
def test_terms_follow_k_and_lambda(k, lam):
    terms = {t.label: t for t in cascade_terms(CascadeSpec(k=k, lam=lam, delta=0.001))}
    reg = terms[f"reg-l{k}"]
    assert reg.name == ("l1" if k == 1 else "l2") and reg.weight == lam
    assert terms["perceptual"].weight == 0.001
    assert terms["triplet"].weight == pytest.approx(1 - lam)
    assert terms["triplet"].inputs == ("anchor", "gt", "negative")


def test_set_changes_k_and_lambda(standins):
    raw, name, src = load_recipe_source(str(TINY), standins)
    recipe = resolve(raw, ["stages.finetune.cascade.k=1", "stages.finetune.cascade.lambda=1"],
                     name=name, source=src)
    terms = cascade_terms(recipe.stages["finetune"].cascade)
    composer = build_loss(terms, standins)
    assert composer.labels == ["reg-l1", "perceptual"]  # λ = 1: the triplet term is skipped
    torch.manual_seed(0)
    x = torch.rand(2, 3, 8, 8)
    total, parts = composer({"anchor": x, "gt": x.flip(-1), "negative": x})
    expected = (x - x.flip(-1)).abs().mean() + 0.001 * parts["perceptual"]
    assert torch.allclose(total, expected)


def test_profiles_and_overrides_resolve(standins):
    raw, name, src = load_recipe_source(str(TINY), standins)
    assert resolve(raw, [], name=name).stages["reference"].schedule.steps == 6
    recipe = resolve(raw, ["profile=longer", "stages.finetune.schedule.steps=2"], name=name)
    assert recipe.profile == "longer" and "profiles" not in recipe.to_dict()
    assert recipe.stages["reference"].schedule.steps == 12
    assert recipe.stages["finetune"].schedule.steps == 2
    # new keys are allowed inside argument tables only
    recipe = resolve(raw, ["data.train.args.extra=3"], name=name)
    assert recipe.data.train.args["extra"] == 3
    assert recipe.stages["reference"].data.train.args["extra"] == 3


def test_the_untrained_cascade_is_a_row_after_the_reference(tmp_path, standins):
    """``cascade@0`` = the reference applied to its own output = the cascade before its first
    step (anchor = sampler = the reference): scored like every row, right after the reference."""
    res = run_recipe(str(TINY), ["stages.finetune.schedule.steps=1",
                                 "stages.control.schedule.steps=1"], registry=standins,
                     out_dir=tmp_path, progress=False, log=lambda m: None)
    assert list(res.metrics) == ["input", "reference", CASCADE_AT_0, "finetune", "control"]
    untrained = CascadedFineTuner(res.stages["reference"].model)
    test = standins.create("datasets", "tiny-pairs", split="test", size=16, length=4)
    want = evaluate_model({"self": untrained}, (ForwardStep("self", ("input",), "pred"),), test,
                          ["psnr", "masked-psnr"], registry=standins, batch_size=2)
    assert res.metrics[CASCADE_AT_0] == pytest.approx(want.means, abs=1e-6)
    assert res.metrics[CASCADE_AT_0]["psnr"] != pytest.approx(res.metrics["reference"]["psnr"])
