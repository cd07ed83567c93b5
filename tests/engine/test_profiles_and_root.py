"""Profiles that extend another profile, and ``data.root``: one folder for every dataset of a
recipe that takes a ``root``."""
from __future__ import annotations

import copy
import tomllib

import pytest

from tests.data.flare7k_tree import build_flare7k_tree
from zoo.engine.build import DatasetCache
from zoo.engine.recipe import resolve
from zoo.engine.spec import Recipe
from zoo.errors import ConfigError

BASE = {
    "data": {"train": {"name": "d", "args": {"size": 8, "root": "/recipe/train"}},
             "test": {"name": "d", "args": {"size": 8}}},
    "stage_defaults": {"model": "m", "model_args": {"width": 8, "depth": 2},
                       "schedule": {"steps": 10, "batch_size": 2}},
    "stages": {
        "a": {"loss": [{"name": "l1"}]},
        "b": {"loss": [{"name": "l1"}], "data": {"train": {"name": "e", "args": {"size": 4}}}},
        "c": {"extends": "b"},
    },
    "profiles": tomllib.loads("""
        [small]
        stage_defaults.model_args = { width = 4 }
        stages.a.schedule = { steps = 3 }

        [smaller]
        extends = "small"
        stage_defaults.model_args = { depth = 1 }
        data.train.args = { size = 2 }
        stages.b.data.train.args = { size = 1 }

        [loop-a]
        extends = "loop-b"
        [loop-b]
        extends = "loop-a"
        [orphan]
        extends = "smal"
    """),
}


def test_an_extending_profile_changes_only_the_keys_it_writes():
    small, smaller = resolve(BASE, ["profile=small"]), resolve(BASE, ["profile=smaller"])
    assert dict(small.stages["a"].model_args) == {"width": 4}  # a plain profile: table replaced
    # extends: small first, then smaller's keys one by one, inside argument tables too
    assert dict(smaller.stages["a"].model_args) == {"width": 4, "depth": 1}
    assert smaller.stages["a"].schedule.steps == 3
    assert dict(smaller.data.train.args) == {"size": 2, "root": "/recipe/train"}
    assert dict(smaller.stages["b"].data.train.args) == {"size": 1}
    assert dict(smaller.stages["c"].data.train.args) == {"size": 1}  # c extends b
    assert smaller.profile == "smaller"
    # the resolved recipe is flat: it parses back to itself
    assert Recipe.parse(smaller.to_dict()) == smaller


@pytest.mark.parametrize("profile, pattern", [
    ("loop-a", r"extends makes a cycle \(loop-a -> loop-b -> loop-a\)"),
    ("orphan", r"\[profiles.orphan\] extends: unknown profile 'smal' \(did you mean small"),
    ("tiny", r"unknown profile 'tiny'"),
])
def test_profile_extends_errors(profile, pattern):
    with pytest.raises(ConfigError, match=pattern):
        resolve(BASE, [f"profile={profile}"], source="r.toml")


def test_data_root_reaches_every_dataset_of_the_recipe():
    r = resolve(BASE, ["data.root=/data/flare7k"])
    assert r.data.root == "/data/flare7k"
    refs = [r.data.train, r.data.test] + [r.stages[s].data.train for s in "abc"]
    assert all(ref is not None and ref.root == "/data/flare7k" for ref in refs)
    # it replaces args.root of a dataset that takes a root, and is left out of one that does not
    assert r.data.train.build_args(True) == {"size": 8, "root": "/data/flare7k"}
    assert r.data.train.build_args(False) == {"size": 8, "root": "/recipe/train"}
    assert r.stages["b"].data.train.build_args(True) == {"size": 4, "root": "/data/flare7k"}
    # written once, as data.root; config.toml parses back to the same recipe
    d = r.to_dict()
    assert d["data"]["root"] == "/data/flare7k" and "root" not in d["stages"]["b"].get("data", {})
    assert d["data"]["train"]["args"]["root"] == "/recipe/train"
    assert Recipe.parse(d) == r
    # a stage may name its own
    own = copy.deepcopy(BASE)
    own["stages"]["b"]["data"]["root"] = "/elsewhere"
    r = resolve(own, ["data.root=/data/flare7k"])
    assert r.stages["b"].data.train.root == "/elsewhere" == r.stages["c"].data.train.root
    assert r.stages["a"].data.train.root == "/data/flare7k"
    with pytest.raises(ConfigError, match=r"data: root must be a string"):
        resolve(BASE, ["data.root=3"], source="r.toml")


def test_dataset_cache_gives_data_root_to_datasets_that_take_one(tmp_path, standins):
    """``flare7k-test`` takes a root: it reads the tree there; the stand-in ``tiny-pairs`` takes
    none: it is built without one."""
    import zoo

    tree = build_flare7k_tree(tmp_path, "flare7k", n_train=1, n_test=2, size=32)
    zoo.reset_registry()
    try:
        recipe = resolve({
            "data": {"train": {"name": "flare7k-test", "args": {"root": "/nowhere"}},
                     "test": {"name": "flare7k-test", "args": {"subset": "synthetic"}}},
            "stages": {"s": {"model": "m", "loss": [{"name": "l1"}]}}},
            [f"data.root={tree.root}"])
        cache = DatasetCache(zoo.get_registry())
        assert len(cache.require(recipe.data.train, "data.train")) == 2
        assert len(cache.require(recipe.data.test, "data.test")) == 2
        assert cache.takes_root("flare7k") and cache.takes_root("synthetic-flare")
    finally:
        zoo.reset_registry()
    standin_recipe = resolve({
        "data": {"train": {"name": "tiny-pairs", "args": {"length": 3}}},
        "stages": {"s": {"model": "m", "loss": [{"name": "l1"}]}}}, ["data.root=/x"])
    cache = DatasetCache(standins)
    assert not cache.takes_root("tiny-pairs")
    assert len(cache.require(standin_recipe.data.train, "data.train")) == 3
