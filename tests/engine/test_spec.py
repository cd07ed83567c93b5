"""Typed recipes: parsing with file:key errors, stage inheritance, profiles and --set on it,
and the round trip of the resolved recipe (config.toml)."""
from __future__ import annotations

import tomllib

import pytest
import tomli_w

import zoo
from zoo.engine.recipe import load_recipe_source, resolve
from zoo.engine.spec import Recipe, Schedule
from zoo.errors import ConfigError

SHIPPED = ["cascaded-flare", "cascaded-lowlight", "kind-lowlight", "unet-denoise", "unet-lowlight"]

BASE = {
    "data": {"train": {"name": "d", "args": {"size": 8}}},
    "stage_defaults": {"model": "m", "model_args": {"width": 8, "depth": 2},
                       "schedule": {"steps": 10, "batch_size": 2}},
    "stages": {
        "a": {"loss": [{"name": "l1"}], "schedule": {"steps": 4}},
        "b": {"kind": "cascade", "weights": "stage:a", "schedule": {"log_every": 5},
              "cascade": {"lambda": 0.6, "perceptual": {"encoder": "e"}}},
        "c": {"extends": "b", "cascade": {"lambda": 1.0}},
    },
    "profiles": tomllib.loads("""
        [small]
        stage_defaults.model_args = { width = 4 }
        stages.b.schedule.steps = 3
        stages.b.cascade.perceptual = { encoder = "f" }
    """),
}


def test_stage_defaults_and_extends():
    r = resolve(BASE, name="x")
    a, b, c = r.stages["a"], r.stages["b"], r.stages["c"]
    assert a.model == b.model == c.model == "m"
    assert a.schedule == Schedule(steps=4, batch_size=2)  # tables merge key by key
    assert b.schedule == Schedule(steps=10, batch_size=2, log_every=5)
    assert c.schedule == b.schedule and c.weights == "stage:a" and c.kind == "cascade"
    assert (b.cascade.lam, c.cascade.lam) == (0.6, 1.0)
    assert c.cascade.perceptual == {"encoder": "e"}


def test_profile_reaches_inheriting_stages():
    r = resolve(BASE, ["profile=small"], name="x")
    assert all(s.model_args == {"width": 4} for s in r.stages.values())  # replaced whole
    assert r.stages["c"].schedule.steps == 3 and r.stages["a"].schedule.steps == 4
    assert r.stages["c"].cascade.perceptual == {"encoder": "f"}
    assert r.stages["c"].cascade.lam == 1.0  # c's own key stays


def test_set_on_an_inherited_key_changes_that_stage_alone():
    r = resolve(BASE, ["stages.c.schedule.steps=7", "stages.c.model_args.width=2"], name="x")
    assert r.stages["c"].schedule == Schedule(steps=7, batch_size=2, log_every=5)
    assert r.stages["b"].schedule.steps == 10
    assert r.stages["c"].model_args == {"width": 2, "depth": 2}  # the inherited table, edited
    assert r.stages["b"].model_args == {"width": 8, "depth": 2}
    with pytest.raises(ConfigError, match=r"--set stages.c.schedule.steps='x': expected int"):
        resolve(BASE, ["stages.c.schedule.steps=x"], name="x")
    with pytest.raises(ConfigError, match=r"unknown key 'stepz'.*did you mean steps"):
        resolve(BASE, ["stages.c.schedule.stepz=1"], name="x")


@pytest.mark.parametrize("change, pattern", [
    (lambda d: d["stages"]["c"].update(extends="d"), r"stages.c: extends = 'd' must name an "
                                                     r"earlier stage"),
    (lambda d: d["stage_defaults"].update(modle="m"), r"<r.toml>: stage_defaults: unknown key "
                                                      r"'modle' \(did you mean model"),
    (lambda d: d["stages"]["a"]["schedule"].update(lr_schedule="linear"),
     r"<r.toml>: stages.a.schedule: lr_schedule must be one of constant, cosine, step, got "
     r"'linear'"),
    (lambda d: d["stages"]["a"]["schedule"].update(batch_size=0),
     r"stages.a.schedule: batch_size must be an integer >= 1, got 0"),
    (lambda d: d["stages"]["b"]["cascade"].update(lambda_=1), r"stages.b.cascade: unknown key "
                                                             r"'lambda_' \(did you mean lambda"),
    (lambda d: d["stages"]["a"].update(cascade={}), r"stages.a: a cascade table needs kind"),
    (lambda d: d["stages"]["a"]["loss"][0].update(wieght=1), r"stages.a.loss term 1: unknown "
                                                             r"key 'wieght'; did you mean 'weight'"),
    (lambda d: d.update(eval={"stages": ["z"]}), r"eval: stages lists unknown stage 'z'"),
    (lambda d: d["data"].update(augment={"hflip": 1}), r"data.augment: hflip must be true or "
                                                        r"false, got 1"),
])
def test_errors_name_the_file_and_key(change, pattern):
    import copy

    data = copy.deepcopy(BASE)
    change(data)
    with pytest.raises(ConfigError, match=pattern):
        resolve(data, name="x", source="<r.toml>")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_recipes_round_trip(name, fresh_registry):
    registry = zoo.get_registry()
    for profile in ("cpu", "smoke", "paper"):
        raw, rname, source = load_recipe_source(name, registry)
        recipe = resolve(raw, [f"profile={profile}"], name=rname, source=source)
        text = tomli_w.dumps(recipe.to_dict())
        again = resolve(tomllib.loads(text), name=rname, source="config.toml")
        assert again == recipe and again.profile == profile


def test_documented_overrides_of_cascaded_flare(fresh_registry):
    """The --set examples of docs/recipes.md and docs/compare.md."""
    raw, name, source = load_recipe_source("cascaded-flare", zoo.get_registry())
    r = resolve(raw, ["stages.finetune.cascade.lambda=0.8", "stages.finetune.cascade.k=1"],
                name=name, source=source)
    assert (r.stages["finetune"].cascade.k, r.stages["finetune"].cascade.lam) == (1, 0.8)
    assert (r.stages["control"].cascade.k, r.stages["control"].cascade.lam) == (1, 1.0)
    r = resolve(raw, ["profile=paper", "stages.reference.weights=/models/net_g_last.pth",
                      "data.train.args.root=/d", "data.test.args.root=/d", "threads=1"],
                name=name, source=source)
    assert r.stages["reference"].weights == "/models/net_g_last.pth" and r.threads == 1
    # the fine-tuning stages read the recipe's training set (root included) with erasing added
    assert r.stages["reference"].data.train.args == {
        "split": "train", "size": 512, "version": "flare7k", "root": "/d"}
    assert r.stages["control"].data.train.args == {
        "split": "train", "size": 512, "version": "flare7k", "root": "/d", "erasing": 0.5}
    # scored at 128 px: "For quantitative evaluation, images of size 128x128 were used"
    assert r.stages["control"].data.test.args == {"split": "test", "version": "flare7k",
                                                  "root": "/d", "size": 128}
    # a whole new training set reaches them too
    r = resolve(raw, ["profile=paper",
                      'data.train={name="flare7k", args={split="train", size=256, root="/e"}}'],
                name=name, source=source)
    assert r.stages["finetune"].data.train.args == {"split": "train", "size": 256, "root": "/e",
                                                    "erasing": 0.5}
    r = resolve(raw, ["profile=smoke", "stages.reference.model=unet.t",
                      "stages.reference.model_args={}", "stages.finetune.model=unet.t",
                      "stages.finetune.model_args={}"], name=name, source=source)
    assert [s.model for s in r.stages.values()] == ["unet.t"] * 3
    assert r.stages["reference"].model_args == {} == r.stages["control"].model_args


def test_recipe_objects_are_resolved_already():
    r = resolve(BASE, name="x")
    assert isinstance(r, Recipe) and "stage_defaults" not in r.to_dict()
    assert all("extends" not in s for s in r.to_dict()["stages"].values())


def test_documented_overrides_of_kind_lowlight(fresh_registry):
    raw, name, source = load_recipe_source("kind-lowlight", zoo.get_registry())
    r = resolve(raw, ["profile=paper", "data.train.args.root=/d", "data.test.args.root=/d",
                      "stages.restore.data.train.args.root=/d"], name=name, source=source)
    assert r.stages["restore"].data.train.args == {"split": "train", "size": 384, "root": "/d"}
    assert r.stages["decom"].data.train.args == {"split": "train", "size": 48, "root": "/d"}
    assert all(s.optimizer.args == {"lr": 0.0001} for s in r.stages.values())
