"""flare7k / flare7k-test on tiny Flare7K++-shaped folders made in tmp_path."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.data.io import write_image
from zoo.errors import ZooError


def _flare(size=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    c = size / 2 + torch.randint(-5, 5, (2,), generator=g)
    r2 = (yy - c[0]) ** 2 + (xx - c[1]) ** 2
    glow = torch.exp(-r2 / (2 * (size / 8) ** 2))
    light = (r2 < 9).float()
    return glow.expand(3, -1, -1).clone() * 0.8 + 0.05, light.expand(3, -1, -1).clone()


def make_flare7kpp(root, *, lights=True, test_pairs=3, missing_light=False):
    """Flare7Kpp/{Flare7K/..., Flare-R/..., test_data/real/...} and Flickr24K/ beside it."""
    torch.manual_seed(0)
    base = root / "Flare7Kpp"
    for i in range(4):
        write_image(root / "Flickr24K" / f"bg{i}.jpg", torch.rand(3, 80, 90))
    for folder in ("Flare7K/Scattering_Flare", "Flare-R"):
        for i in range(2):
            flare, light = _flare(seed=i)
            write_image(base / folder / "Compound_Flare" / f"{i:06d}.png", flare)
            if lights and not (missing_light and i == 1):
                write_image(base / folder / "Light_Source" / f"{i:06d}.png", light)
    write_image(base / "Flare7K" / "Reflective_Flare" / "r0.png", _flare(seed=5)[0] * 0.3)
    for i in range(test_pairs):
        gt = torch.rand(3, 32, 32)
        write_image(base / "test_data/real/input" / f"input_{i:06d}.png", (gt + 0.2).clamp(0, 1))
        write_image(base / "test_data/real/gt" / f"gt_{i:06d}.png", gt)
        mask = torch.zeros(3, 32, 32)
        mask[:2, :8] = 1
        mask[2, 20:24, 20:24] = 1
        write_image(base / "test_data/real/mask" / f"mask_{i:06d}.png", mask)
    return base


def test_training_synthesis_items(tmp_path):
    base = make_flare7kpp(tmp_path)
    ds = zoo.create_dataset("flare7k", root=str(base), size=64, length=4, flare_zoom=1.0)
    assert len(ds) == 4
    item = ds[1]
    assert set(item) == {"input", "gt", "flare", "light", "name"}
    for key in ("input", "gt", "flare", "light"):
        assert item[key].shape == (3, 64, 64), key
        assert 0 <= float(item[key].min()) and float(item[key].max()) <= 1, key
    again = ds[1]
    assert torch.equal(item["input"], again["input"])  # seeded per item
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["input"], item["input"])
    # the light source belongs to the ground truth, the flare layer excludes it
    assert float(item["input"].mean()) >= float(item["gt"].mean()) - 1e-3


def test_flare7k_without_light_sources_and_reflective(tmp_path):
    base = make_flare7kpp(tmp_path, lights=False)
    ds = zoo.create_dataset("flare7k", root=str(base), size=48, length=2, flare_zoom=1.0,
                            flare_sets=("flare7k",))
    item = ds[0]
    assert "light" not in item and item["input"].shape == (3, 48, 48)


def test_unpaired_light_source_is_named(tmp_path):
    base = make_flare7kpp(tmp_path, missing_light=True)
    with pytest.raises(ZooError, match=r"000001\.png has no partner in .*Light_Source"):
        zoo.create_dataset("flare7k", root=str(base), size=48)


def test_missing_folders_say_how_to_get_them(tmp_path):
    with pytest.raises(ZooError, match="Flare7Kpp.zip"):
        zoo.create_dataset("flare7k", root=str(tmp_path / "nowhere"))
    with pytest.raises(ZooError, match="synthetic-flare"):
        zoo.create_dataset("flare7k-test")
    base = make_flare7kpp(tmp_path)
    with pytest.raises(ZooError, match="background folder"):
        zoo.create_dataset("flare7k", root=str(base), backgrounds=str(tmp_path / "none"))


def test_test_split_reads_pairs_and_masks(tmp_path):
    base = make_flare7kpp(tmp_path)
    ds = zoo.create_dataset("flare7k-test", root=str(base))
    assert len(ds) == 3
    item = ds[2]
    assert item["name"] == "000002"
    assert set(item) == {"input", "gt", "mask", "name"}
    assert torch.equal(item["mask"][:, 0, 0], torch.tensor([1.0, 1.0, 0.0]))  # glare code
    assert torch.equal(item["mask"][:, 21, 21], torch.tensor([0.0, 0.0, 1.0]))  # light source
    via_train_name = zoo.create_dataset("flare7k", root=str(base), split="test")
    assert torch.equal(via_train_name[0]["gt"], ds[0]["gt"])


def test_test_pair_size_mismatch_is_named(tmp_path):
    base = make_flare7kpp(tmp_path, test_pairs=1)
    write_image(base / "test_data/real/gt/gt_000000.png", torch.rand(3, 30, 32))
    ds = zoo.create_dataset("flare7k-test", root=str(base))
    with pytest.raises(ZooError, match=r"gt_000000\.png is 30x32"):
        ds[0]
