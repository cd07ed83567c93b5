"""synthetic-flare: masks come from the layers, streaks are thin, the light source is handled in
both conventions, erasing touches the background only, items are seeded, splits are disjoint."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.data.backgrounds import BUILTIN_TEST, BUILTIN_TRAIN
from zoo.data.optics import psf_bank
from zoo.data.synthetic_flare import SyntheticFlare, luminance
from zoo.errors import ZooError

SMALL = dict(size=48, length=6, psf_size=96, psf_bank_size=2)


@pytest.fixture(scope="module")
def train():
    return SyntheticFlare("train", **SMALL)


@pytest.fixture(scope="module")
def demo_size():
    """The demo's crop size and PSF resolution, with enough items to see every mask code."""
    return SyntheticFlare("train", size=64, length=12, psf_bank_size=4, seed=5)


def _codes(mask):
    is_light = mask[2] == 1
    is_streak = (mask[0] == 1) & (mask[1] == 0)
    is_glare = (mask[0] == 1) & (mask[1] == 1)
    return is_light, is_streak, is_glare


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


def test_mask_follows_the_layers_and_thresholds(demo_size):
    ds = demo_size
    t_glare, t_streak, t_light = ds.mask_thresholds
    seen = set()
    for index in range(len(ds)):
        s = ds.sample(index)
        y_glare, y_streak = luminance(s["glare"]), luminance(s["streak"])
        y_light = luminance(s["light_linear"])
        is_light, is_streak, is_glare = _codes(s["mask"])
        assert torch.equal(is_light, y_light >= t_light)
        # a streak pixel: bright enough, brighter than the halo, on the ray's crest
        crest = F.max_pool2d(y_streak[None, None], 5, stride=1, padding=2)[0, 0]
        assert bool((y_streak[is_streak] >= t_streak).all())
        assert bool((y_streak[is_streak] >= ds.streak_ratio * y_glare[is_streak]).all())
        assert bool((y_streak[is_streak] >= ds.streak_ridge * crest[is_streak]).all())
        # a glare pixel: the halo's local mean passes the threshold
        halo = F.avg_pool2d(y_glare[None, None], 5, stride=1, padding=2,
                            count_include_pad=False)[0, 0]
        assert bool((halo[is_glare] >= t_glare - 1e-6).all())
        assert not bool((is_glare & is_streak).any() or (is_light & (is_glare | is_streak)).any())
        # nothing is labelled where the flare is dark
        dark = (y_glare + y_streak < min(t_glare, t_streak) / 10) & ~is_light
        assert not bool((is_glare | is_streak)[dark & (halo < t_glare)].any())
        seen |= {name for name, m in (("light", is_light), ("glare", is_glare),
                                      ("streak", is_streak)) if m.any()}
    assert seen == {"light", "glare", "streak"}


def test_streaks_are_thin_radial_lines(demo_size):
    """The streak mask is made of lines about one or two pixels wide that point at the light."""
    from skimage.morphology import skeletonize

    area = length = 0
    radial = total = 0
    for index in range(len(demo_size)):
        s = demo_size.sample(index)
        _, is_streak, _ = _codes(s["mask"])
        if not is_streak.any():
            continue
        area += int(is_streak.sum())
        length += int(skeletonize(is_streak.numpy()).sum())
        # the local orientation of the streak layer points at the light source
        light = luminance(s["light_linear"])
        cy, cx = (torch.nonzero(light >= 0.5).float().mean(0) + 0.5).tolist()
        y, x = torch.nonzero(is_streak, as_tuple=True)
        ys = luminance(s["streak"])
        gy = F.pad(ys[None], (0, 0, 1, 1), mode="replicate")[0]
        gx = F.pad(ys[None], (1, 1, 0, 0), mode="replicate")[0]
        grad_y = (gy[2:] - gy[:-2])[y, x]
        grad_x = (gx[:, 2:] - gx[:, :-2])[y, x]
        ry, rx = y.float() + 0.5 - cy, x.float() + 0.5 - cx
        far = torch.hypot(ry, rx) > 6
        strong = torch.hypot(grad_y, grad_x) > 1e-3
        keep = far & strong
        # across a radial line the gradient is perpendicular to the radius
        cos = (grad_y * ry + grad_x * rx).abs() / (torch.hypot(grad_y, grad_x) *
                                                     torch.hypot(ry, rx))
        radial += int((cos[keep] < math.cos(math.radians(60))).sum())
        total += int(keep.sum())
    assert length > 0
    assert area / length < 3.0  # mean width under 3 px at 64 px crops
    assert total > 0 and radial / total > 0.7


def test_light_source_covers_the_saturated_core(demo_size):
    """The blown-out core of the input is about the light source (not a blob many times its
    size, which taught models to cut a dark hole), and the Flare7K++ ground truth keeps it."""
    ratios = []
    for index in range(len(demo_size)):
        item = demo_size[index]
        is_light = item["mask"][2] == 1
        assert is_light.any()
        assert float(luminance(item["gt"])[is_light].min()) > 0.6
        saturated = luminance(item["input"]) >= 0.99
        cy, cx = torch.nonzero(is_light).float().mean(0).tolist()
        radius = math.sqrt(float(is_light.sum()) / math.pi)
        yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
        near = torch.hypot(yy - cy, xx - cx) <= 2 * radius
        ratios.append(float((saturated & near).sum()) / float(is_light.sum()))
    assert 0.5 <= sorted(ratios)[len(ratios) // 2] <= 2.0


def test_layers_compose_in_the_linear_domain(train):
    s = train.sample(2)
    g = s["gamma"]
    compound = s["glare"] + s["streak"] + s["light_linear"]  # ghosts are folded into "glare"
    expect_input = (s["background"] + compound).clamp(0, 1) ** (1 / g)
    assert torch.allclose(s["input"], expect_input, atol=1e-5)
    expect_gt = (s["background"] + s["light_linear"]).clamp(0, 1) ** (1 / g)
    assert torch.allclose(s["gt"], expect_gt, atol=1e-5)
    assert torch.allclose(s["flare"], (compound - s["light_linear"]).clamp(0, 1) ** (1 / g),
                          atol=1e-5)
    assert torch.all(s["input"] >= s["gt"] - 1e-5)


def test_flare7k_2022_convention_removes_the_light_source():
    keep = SyntheticFlare("test", **SMALL)
    remove = SyntheticFlare("test", light_source="remove", **SMALL)
    for index in range(3):
        a, b, s = keep[index], remove[index], remove.sample(index)
        assert set(b) == {"input", "gt", "flare", "light", "mask", "name", "gt_light",
                          "light_mask"}
        assert torch.equal(a["input"], b["input"]) and torch.equal(a["mask"], b["mask"])
        assert torch.allclose(b["gt"], s["background"] ** (1 / s["gamma"]), atol=1e-6)
        assert torch.equal(b["gt_light"], a["gt"])  # what a pasted-back result is compared with
        is_light = b["mask"][2] == 1
        assert float((b["gt_light"] - b["gt"])[:, is_light].mean()) > 0.3
        assert b["light_mask"].shape == (1, 48, 48)
        assert torch.allclose(b["light_mask"][0], luminance(s["light_linear"]).clamp(0, 1))
        assert bool((b["light_mask"][0][is_light] >= 0.5).all())
        # pasting the input back with the mask brings the background close to the Flare7K++
        # target inside the light source
        pasted = b["light_mask"] * b["input"] + (1 - b["light_mask"]) * b["gt"]
        before = (b["gt"] - b["gt_light"]).abs()[:, is_light].mean()
        assert float((pasted - b["gt_light"]).abs()[:, is_light].mean()) < 0.5 * float(before)
        # the flare to remove now includes the light source
        assert float(b["flare"][:, is_light].mean()) > float(a["flare"][:, is_light].mean())
    with pytest.raises(ZooError, match="light_source"):
        SyntheticFlare("test", light_source="drop", **SMALL)


def test_erasing_changes_the_background_only():
    plain = SyntheticFlare("train", seed=2, **SMALL)
    erased = SyntheticFlare("train", seed=2, erasing={"p": 1.0, "value": 0.7,
                                                      "scale": (0.1, 0.2)}, **SMALL)
    for index in range(3):
        a, b = plain.sample(index), erased.sample(index)
        for layer in ("glare", "streak", "light_linear", "flare", "mask"):
            assert torch.equal(a[layer], b[layer]), layer  # the flare is intact
        changed = (a["background"] != b["background"]).any(dim=0)
        rows, cols = torch.nonzero(changed, as_tuple=True)
        assert changed.any()
        box = torch.zeros_like(changed)
        box[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
        assert 0.1 <= float(box.float().mean()) <= 0.2 + 0.05  # one rectangle of that area
        assert not bool((changed & ~box).any())
        # both the input and the ground truth show the erased background; outside, nothing moved
        assert torch.equal(a["input"][:, ~box], b["input"][:, ~box])
        assert not torch.equal(a["gt"][:, box], b["gt"][:, box])
        g = b["gamma"]
        expect = (b["background"] + b["glare"] + b["streak"] + b["light_linear"]).clamp(0, 1)
        assert torch.allclose(b["input"], expect ** (1 / g), atol=1e-5)
    with pytest.raises(ZooError, match="erasing"):
        SyntheticFlare("train", erasing={"probability": 1.0}, **SMALL)
    with pytest.raises(ZooError, match="erasing"):
        SyntheticFlare("train", erasing={"p": 2.0}, **SMALL)


def test_psf_bank_goes_to_zero_inside_its_square():
    """A warped PSF must not show its square support as a straight brightness step (the cause
    of block-shaped steps in the earlier synthetic inputs): the bank is exactly 0 from the
    inscribed circle outwards, and the flare layer of an item has no jump larger than in the
    interior of the halo far from the light."""
    bank = psf_bank(2, 64, 11)
    side = bank.layers.shape[-1]
    c = torch.arange(side, dtype=torch.float32) - side / 2 + 0.5
    r = torch.hypot(c[:, None], c[None, :])
    assert float(bank.layers[..., r >= side / 2 - 0.5].abs().max()) == 0.0
    # glare and streak are non-negative and the bank is normalised to unit luminance energy
    assert float(bank.layers.min()) >= 0
    energy = torch.einsum("c,kchw->k", torch.tensor([0.2126, 0.7152, 0.0722]),
                          bank.layers[:, :3] + bank.layers[:, 3:])
    assert torch.all((energy > 0.8) & (energy <= 1.0 + 1e-4))


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
    with pytest.raises(ZooError, match="energy"):
        zoo.create_dataset("synthetic-flare", energy=(0.0, 1.0), **SMALL)


def test_batches_collate_for_the_training_engine(train):
    from torch.utils.data import DataLoader

    batch = next(iter(DataLoader(train, batch_size=3, shuffle=False)))
    assert batch["input"].shape == (3, 3, 48, 48) and batch["mask"].shape == (3, 3, 48, 48)
    assert len(batch["name"]) == 3
    remove = SyntheticFlare("train", light_source="remove", **SMALL)
    batch = next(iter(DataLoader(remove, batch_size=2, shuffle=False)))
    assert batch["light_mask"].shape == (2, 1, 48, 48)
