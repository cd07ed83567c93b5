"""flare7k / flare7k-test on small Flare7K (2022) and Flare7K++ trees with the released layout."""
from __future__ import annotations

import shutil

import pytest
import torch

import zoo
from tests.data.flare7k_tree import build_flare7k_tree
from zoo.data.io import write_image
from zoo.errors import ZooError


@pytest.fixture(scope="module")
def tree2022(tmp_path_factory):
    return build_flare7k_tree(tmp_path_factory.mktemp("f7k"), "flare7k", n_train=3, n_test=2,
                              size=64)


@pytest.fixture(scope="module")
def treepp(tmp_path_factory):
    return build_flare7k_tree(tmp_path_factory.mktemp("f7kpp"), "flare7k++", n_train=3,
                              n_test=2, size=64)


def test_trees_have_the_released_layout(tree2022, treepp):
    assert tree2022.root.name == "Flare7k" and treepp.root.name == "Flare7Kpp"
    assert tree2022.backgrounds == tree2022.root.parent / "Flickr24K"
    for rel in ("Scattering_Flare/Compound_Flare/000000.png", "Reflective_Flare/000002.png",
                "test_data/real/input/input_000000.png", "test_data/synthetic/gt/gt_000001.png"):
        assert (tree2022.root / rel).is_file(), rel
    assert not (tree2022.root / "test_data/real/mask").exists()
    for rel in ("Flare7K/Scattering_Flare/Light_Source/000000.png",
                "Flare7K/Scattering_Flare/Glare_with_shimmer/000000.png",
                "Flare7K/Scattering_Flare/Streak/000000.png",
                "Flare7K/Scattering_Flare/Core/000000.png", "Flare-R/Light_Source/000002.png",
                "test_data/real/mask/mask_000001.png"):
        assert (treepp.root / rel).is_file(), rel


def test_flare7k_2022_tree_trains_without_light_sources(tree2022):
    ds = zoo.create_dataset("flare7k", root=str(tree2022.root), size=48, length=4,
                            flare_zoom=1.0)
    assert ds.version == "flare7k" and len(ds) == 4
    item = ds[1]
    assert set(item) == {"input", "gt", "flare", "name"}
    for key in ("input", "gt", "flare"):
        assert item[key].shape == (3, 48, 48), key
        assert 0 <= float(item[key].min()) and float(item[key].max()) <= 1, key
    assert torch.equal(item["input"], ds[1]["input"])  # seeded per item
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["input"], item["input"])
    with pytest.raises(ZooError, match=r"Light_Source not found.*flare7k\+\+"):
        zoo.create_dataset("flare7k", root=str(tree2022.root), size=48, version="flare7k++")


def test_flare7kpp_tree_keeps_the_light_source_and_mixes_flare_r(treepp):
    ds = zoo.create_dataset("flare7k", root=str(treepp.root), size=48, length=12, flare_zoom=1.0)
    assert ds.version == "flare7k++"
    assert [name for name, *_ in ds.sets] == ["flare7k", "flare-r"]
    items = [ds[i] for i in range(12)]
    assert all(set(it) == {"input", "gt", "flare", "light", "name"} for it in items)
    used = {it["name"].split("+")[1].rsplit("-", 1)[0] for it in items}
    assert used == {"flare7k", "flare-r"}
    # the light source is in the ground truth (the flare layer excludes it)
    lit_items = 0
    for it in items:
        lit = it["light"].mean(dim=0) > 0.9
        if lit.any():
            lit_items += 1
            assert float(it["gt"][:, lit].mean()) > 0.85
            assert float(it["flare"][:, lit].mean()) < float(it["gt"][:, lit].mean())
    assert lit_items >= 6


def test_flare7kpp_tree_read_as_flare7k_2022(treepp):
    """version='flare7k' on a Flare7K++ download: Scattering_Flare only, no Flare-R, light
    sources not used (the ground truth is the background), as the released Flare7K model."""
    kw = dict(root=str(treepp.root), size=48, length=8, flare_zoom=1.0)
    plus = zoo.create_dataset("flare7k", **kw)
    old = zoo.create_dataset("flare7k", version="flare7k", **kw)
    assert [name for name, *_ in old.sets] == ["flare7k"]
    for i in range(8):
        item = old[i]
        assert set(item) == {"input", "gt", "flare", "name"}
        assert "+flare7k-" in item["name"]
    # same background draws: the 2022 ground truth lacks the light source the ++ one has
    brighter = sum(float(plus[i]["gt"].sum() - old[i]["gt"].sum()) for i in range(8)
                   if "+flare7k-" in plus[i]["name"])
    assert brighter > 0


def test_erasing_the_background_leaves_the_flare_intact(treepp):
    kw = dict(root=str(treepp.root), size=48, length=4, flare_zoom=1.0)
    plain = zoo.create_dataset("flare7k", **kw)
    erased = zoo.create_dataset("flare7k", erasing={"p": 1.0, "value": 0.5,
                                                    "scale": [0.1, 0.2]}, **kw)
    for i in range(4):
        a, b = plain[i], erased[i]
        assert torch.equal(a["flare"], b["flare"]) and torch.equal(a["light"], b["light"])
        changed = (a["gt"] != b["gt"]).any(dim=0)
        rows, cols = torch.nonzero(changed, as_tuple=True)
        box = torch.zeros_like(changed)
        box[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
        assert not bool(((a["input"] != b["input"]).any(dim=0) & ~box).any())
        assert not bool((changed & ~box).any())


def test_flare7k_test_reads_both_layouts(tree2022, treepp):
    old = zoo.create_dataset("flare7k-test", root=str(tree2022.root))
    assert len(old) == 2 and set(old[0]) == {"input", "gt", "name"}
    # the folder above Flare7k/ works too, and the synthetic subset
    above = zoo.create_dataset("flare7k-test", root=str(tree2022.root.parent),
                               subset="synthetic")
    assert len(above) == 2 and above[1]["name"] == "000001"
    plus = zoo.create_dataset("flare7k-test", root=str(treepp.root))
    item = plus[1]
    assert set(item) == {"input", "gt", "mask", "name"} and item["name"] == "000001"
    codes = {tuple(c) for c in item["mask"].flatten(1).T.round().tolist()}
    assert (0.0, 0.0, 1.0) in codes and codes <= {(0.0, 0.0, 0.0), (1.0, 1.0, 0.0),
                                                  (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)}
    # version="flare7k" records the convention; the items are the same (the paste-back is the
    # evaluation's job: [eval] light_source = "paste", zoo.metrics.light_source)
    old_convention = zoo.create_dataset("flare7k-test", root=str(treepp.root), version="flare7k")
    assert old_convention.version == "flare7k" and set(old_convention[1]) == set(item)
    assert torch.equal(old_convention[1]["input"], item["input"])
    via_train_name = zoo.create_dataset("flare7k", root=str(treepp.root), split="test")
    assert torch.equal(via_train_name[0]["gt"], plus[0]["gt"])


def test_unpaired_light_source_is_named(tmp_path):
    tree = build_flare7k_tree(tmp_path, "flare7k++", n_train=2, n_test=1, size=48)
    light = tree.root / "Flare7K/Scattering_Flare/Light_Source/000001.png"
    kept = light.read_bytes()
    light.unlink()
    with pytest.raises(ZooError, match=r"000001\.png has no partner in .*Light_Source"):
        zoo.create_dataset("flare7k", root=str(tree.root), size=48)
    light.write_bytes(kept)
    shutil.rmtree(tree.root / "Flare-R")
    detected = zoo.create_dataset("flare7k", root=str(tree.root), size=48)
    assert [name for name, *_ in detected.sets] == ["flare7k"]  # used what is there
    with pytest.raises(ZooError, match=r"Flare-R/Compound_Flare not found"):
        zoo.create_dataset("flare7k", root=str(tree.root), size=48, version="flare7k++")


def test_missing_folders_say_how_to_get_them(tmp_path, tree2022):
    with pytest.raises(ZooError, match="Flare7Kpp.zip"):
        zoo.create_dataset("flare7k", root=str(tmp_path / "nowhere"))
    with pytest.raises(ZooError, match="synthetic-flare"):
        zoo.create_dataset("flare7k-test")
    with pytest.raises(ZooError, match="background folder"):
        zoo.create_dataset("flare7k", root=str(tree2022.root),
                           backgrounds=str(tmp_path / "none"))
    with pytest.raises(ZooError, match="version"):
        zoo.create_dataset("flare7k", root=str(tree2022.root), version="flare7k+")
    with pytest.raises(ZooError, match="erasing"):
        zoo.create_dataset("flare7k", root=str(tree2022.root), erasing="often")


def test_test_pair_size_mismatch_is_named(tmp_path):
    tree = build_flare7k_tree(tmp_path, "flare7k", n_train=1, n_test=1, size=48)
    write_image(tree.root / "test_data/real/gt/gt_000000.png", torch.rand(3, 30, 32))
    ds = zoo.create_dataset("flare7k-test", root=str(tree.root))
    with pytest.raises(ZooError, match=r"gt_000000\.png is 30x32"):
        ds[0]
