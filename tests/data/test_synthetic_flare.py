"""synthetic-flare: masks agree with the generated layers; seeded; disjoint splits."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.data.backgrounds import BUILTIN_TEST, BUILTIN_TRAIN
from zoo.data.synthetic_flare import SyntheticFlare, luminance
from zoo.errors import ZooError

SMALL = dict(size=48, length=6, psf_size=64, psf_bank_size=2)


@pytest.fixture(scope="module")
def train():
    torch.manual_seed(0)
    return SyntheticFlare("train", **SMALL)


def test_items_follow_the_dataset_contract(train):
    item = train[0]
    assert set(item) == {"input", "gt", "flare", "light", "mask", "name"}
    for key in ("input", "gt", "flare", "light", "mask"):
        t = item[key]
        assert t.shape == (3, 48, 48) and t.dtype == torch.float32, key
        assert float(t.min()) >= 0 and float(t.max()) <= 1, key
    # only Flare7K's colour codes appear: none, glare, streak, light source
    codes = {tuple(c) for c in item["mask"].flatten(1).T.tolist()}
    assert codes <= {(0.0, 0.0, 0.0), (1.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)}


def test_mask_matches_the_layers(train):
    t_glare, t_streak, t_light = train.mask_thresholds
    seen = set()
    for index in range(len(train)):
        s = train.sample(index)
        y_glare, y_streak = luminance(s["glare"]), luminance(s["streak"])
        y_light = luminance(s["light"] ** s["gamma"])  # the returned light is display-domain
        mask = s["mask"]
        is_light = mask[2] == 1
        is_streak = (mask[0] == 1) & (mask[1] == 0)
        is_glare = (mask[0] == 1) & (mask[1] == 1)
        assert torch.equal(is_light, y_light >= t_light - 1e-5)
        expect_streak = (y_streak >= t_streak) & (y_streak >= train.streak_ratio * y_glare)
        assert torch.equal(is_streak, expect_streak & ~is_light)
        assert torch.equal(is_glare, (y_glare >= t_glare) & ~expect_streak & ~is_light)
        seen |= {"light"} if is_light.any() else set()
        seen |= {"glare"} if is_glare.any() else set()
        seen |= {"streak"} if is_streak.any() else set()
    assert seen == {"light", "glare", "streak"}


def test_layers_compose_in_the_linear_domain(train):
    s = train.sample(2)
    g = s["gamma"]
    compound = s["glare"] + s["streak"] + (s["light"] ** g)
    expect_input = (s["background"] + compound).clamp(0, 1) ** (1 / g)
    # ghosts are folded into "glare"; the light layer is exact up to float rounding
    assert torch.allclose(s["input"], expect_input, atol=1e-4)
    expect_gt = (s["background"] + s["light"] ** g).clamp(0, 1) ** (1 / g)
    assert torch.allclose(s["gt"], expect_gt, atol=1e-4)
    assert torch.all(s["input"] >= s["gt"] - 1e-5)


def test_seeded_and_epoch_dependent():
    a = SyntheticFlare("train", seed=3, **SMALL)
    b = SyntheticFlare("train", seed=3, **SMALL)
    assert torch.equal(a[4]["input"], b[4]["input"])
    assert not torch.equal(a[4]["input"], a[5]["input"])
    c = SyntheticFlare("train", seed=4, **SMALL)
    assert not torch.equal(a[4]["input"], c[4]["input"])
    b.set_epoch(1)
    assert not torch.equal(a[4]["input"], b[4]["input"])


def test_train_and_test_never_overlap(train):
    test = SyntheticFlare("test", **SMALL)
    assert not set(BUILTIN_TRAIN) & set(BUILTIN_TEST)
    train_photos = {train[i]["name"].rsplit("-", 1)[-1] for i in range(len(train))}
    test_photos = {test[i]["name"].rsplit("-", 1)[-1] for i in range(len(test))}
    assert train_photos <= set(BUILTIN_TRAIN) and test_photos <= set(BUILTIN_TEST)
    assert not torch.equal(train.psfs, test.psfs)  # different PSF banks
    for i in range(len(test)):
        assert not torch.equal(train[i]["input"], test[i]["input"])


def test_registered_and_validated():
    ds = zoo.create_dataset("synthetic-flare", split="test", **SMALL)
    assert len(ds) == 6 and ds[0]["input"].shape == (3, 48, 48)
    with pytest.raises(ZooError, match="split"):
        zoo.create_dataset("synthetic-flare", split="val", **SMALL)
    with pytest.raises(ZooError, match="no parameter"):
        zoo.create_dataset("synthetic-flare", colour="red")


def test_batches_collate_for_the_training_engine(train):
    from torch.utils.data import DataLoader

    batch = next(iter(DataLoader(train, batch_size=3, shuffle=False)))
    assert batch["input"].shape == (3, 3, 48, 48) and batch["mask"].shape == (3, 3, 48, 48)
    assert len(batch["name"]) == 3
