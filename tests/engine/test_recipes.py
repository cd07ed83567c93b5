"""The shipped recipes with the real components: dry runs of every profile that needs no download,
and the KinD smoke run end to end."""
from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.engine import run_recipe, validate
from zoo.engine.recipe import load_recipe_source, resolve
from zoo.errors import ZooError
from zoo.report import write_report

SHIPPED = ["cascaded-flare", "cascaded-lowlight", "kind-lowlight", "unet-denoise", "unet-lowlight"]


@pytest.fixture
def real_registry():
    zoo.reset_registry()
    yield zoo.get_registry()
    zoo.reset_registry()


@pytest.mark.parametrize("name", ["cascaded-lowlight", "unet-denoise", "unet-lowlight"])
def test_smoke_profile_dry_run(name, real_registry):
    """The full dry run (data, models run once, loss inputs, loss evaluated once)."""
    torch.manual_seed(0)
    res = run_recipe(name, ["profile=smoke"], registry=real_registry, dry_run=True,
                     log=lambda s: None)
    read = [c for c in res.checks if c.endswith("item(s) read")]  # every test item decoded
    assert res.run_dir is None and read
    assert len(res.checks) == len(res.recipe.stages) + 1 + len(read)


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("profile", ["cpu", "smoke", "paper"])
def test_every_profile_names_registered_components(name, profile, real_registry):
    """Every profile of every recipe resolves and names registered components only (the
    Uformer recipes' full dry runs take minutes on a shared 2-core CPU: see docs/recipes.md)."""
    raw, rname, source = load_recipe_source(name, real_registry)
    recipe = resolve(raw, [f"profile={profile}"], name=rname, source=source)
    assert validate(recipe, registry=real_registry, build=False)


def test_cascaded_flare_default_is_cpu_with_generic_encoders(real_registry):
    raw, rname, source = load_recipe_source("cascaded-flare", real_registry)
    recipe = resolve(raw, [], name=rname, source=source)
    assert recipe.profile == "cpu" and recipe.stages["finetune"].kind == "cascade"
    c = recipe.stages["finetune"].cascade
    assert (c.k, c.lam, c.delta) == (1, 0.6, 0.001)  # k and lambda: docs/study.md
    assert recipe.stages["control"].cascade.lam == 1.0
    assert recipe.stages["finetune"].optimizer.to_dict() == {
        "name": "sgd", "args": {"lr": 0.001, "momentum": 0.0}}
    assert "generic" in c.perceptual["encoder"] and "generic" in c.triplet["encoder"]


def test_cascaded_flare_cpu_reference_is_the_measured_one(real_registry):
    """The cpu profile's reference as chosen on the validation split (docs/study.md, "The
    regime"; benchmarks/RESULTS-demo-reference.md): unet.s trained with L2 for 4000 steps of
    batch 4 on 64-px crops whose flares include faint ones (energy log-uniform in [0.001, 1],
    the reference's data only) with AdamW at lr 5e-4 (lr 1e-3 collapsed on 2 threads), the flare PSF at its default size (2x the crop), a validation
    curve every 500 steps; the cascade stages validated every 25 steps; threads per stage."""
    raw, rname, source = load_recipe_source("cascaded-flare", real_registry)
    recipe = resolve(raw, [], name=rname, source=source)
    ref = recipe.stages["reference"]
    assert (ref.model, ref.model_args) == ("unet.s", {})
    assert [(t.name, t.weight) for t in ref.loss] == [("l2", 1.0)]
    assert (ref.schedule.steps, ref.schedule.batch_size) == (4000, 4)
    assert ref.eval.every == 500 and ref.eval.metrics == ("psnr",)
    assert ref.data.train.args["energy"] == [0.001, 1.0]
    assert (ref.optimizer.name, ref.optimizer.args) == ("adamw", {"lr": 0.0005, "weight_decay": 0.0})
    for name in ("finetune", "control"):  # the cascade's data keeps the default flares
        assert "energy" not in recipe.stages[name].data.train.args
        ev = recipe.stages[name].eval
        assert (ev.metrics, ev.every, ev.max_images) == (("psnr",), 25, 16)
    assert recipe.threads == "auto"
    for split in ("train", "test"):
        args = getattr(recipe.data, split).args
        assert args["size"] == 64 and "psf_size" not in args


def test_paper_profile_without_flare7k_is_a_clear_error(real_registry):
    with pytest.raises(ZooError) as err:
        run_recipe("cascaded-flare", ["profile=paper"], registry=real_registry, dry_run=True,
                   log=lambda s: None)
    assert "\n" not in str(err.value) and "flare7k" in str(err.value).lower()


def test_kind_lowlight_smoke_end_to_end(tmp_path, real_registry):
    torch.manual_seed(0)
    res = run_recipe("kind-lowlight", ["profile=smoke"], registry=real_registry,
                     out_dir=tmp_path, progress=False, log=lambda s: None)
    assert list(res.stages) == ["decom", "adjust", "restore"]
    assert set(res.metrics) == {"input", "restore"}
    assert all(math.isfinite(v) for v in res.metrics["restore"].values())
    # the later stages run the frozen decomposition with the weights the first stage trained
    decom = res.stages["decom"].model.state_dict()
    frozen = res.stages["restore"].setup.plan.frozen["stage:decom"]
    assert all(torch.equal(decom[k], frozen.state_dict()[k]) for k in decom)
    assert all(not p.requires_grad for p in frozen.parameters())
    report = write_report(res, registry=real_registry)
    assert report == res.run_dir / "report.md" and (res.run_dir / "grid.png").is_file()
    assert (res.run_dir / "stages/restore/model.pt").is_file()
