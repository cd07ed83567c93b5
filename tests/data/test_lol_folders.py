"""lol on a tiny LOL-shaped folder made in tmp_path."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.data.io import write_image
from zoo.errors import ZooError


def make_lol(root, n_train=3, n_test=2):
    torch.manual_seed(0)
    for part, n in (("our485", n_train), ("eval15", n_test)):
        for i in range(n):
            high = torch.rand(3, 40, 60)
            write_image(root / part / "high" / f"{i + 1}.png", high)
            write_image(root / part / "low" / f"{i + 1}.png", high * 0.1)
    return root


def test_train_crops_and_pairs_by_name(tmp_path):
    root = make_lol(tmp_path)
    ds = zoo.create_dataset("lol", root=str(root), size=32)
    assert len(ds) == 3
    item = ds[0]
    assert item["input"].shape == item["gt"].shape == (3, 32, 32)
    # low = 0.1 * high up to 8-bit rounding, through the same crop and flips
    assert torch.allclose(item["input"], item["gt"] * 0.1, atol=1 / 255)
    assert torch.equal(ds[0]["input"], item["input"])


def test_test_split_is_eval15_whole_images(tmp_path):
    root = make_lol(tmp_path)
    ds = zoo.create_dataset("lol", root=str(root), split="test")
    assert len(ds) == 2 and ds[1]["name"] == "2"
    assert ds[1]["gt"].shape == (3, 40, 60)


def test_missing_partner_and_missing_root(tmp_path):
    root = make_lol(tmp_path)
    (root / "eval15" / "high" / "2.png").unlink()
    with pytest.raises(ZooError, match=r"2\.png has no partner in .*high"):
        zoo.create_dataset("lol", root=str(root), split="test")
    with pytest.raises(ZooError, match="LOLdataset"):
        zoo.create_dataset("lol", root=str(tmp_path / "absent"))
