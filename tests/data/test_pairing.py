"""Pairing folders by file name, not by sorted position."""
from __future__ import annotations

import pytest
import torch

from zoo.data.io import write_image
from zoo.data.pairing import pair_by_name
from zoo.errors import InputError


def _img(path, value=0.5, size=8):
    write_image(path, torch.full((3, size, size), value))


def test_role_prefixes_pair_flare7k_names(tmp_path):
    for i in range(3):
        _img(tmp_path / "input" / f"input_{i:06d}.png")
        _img(tmp_path / "gt" / f"gt_{i:06d}.png")
        _img(tmp_path / "mask" / f"mask_{i:06d}.png")
    pairs = pair_by_name({"input": tmp_path / "input", "gt": tmp_path / "gt",
                          "mask": tmp_path / "mask"})
    assert [k for k, _ in pairs] == ["000000", "000001", "000002"]
    key, paths = pairs[1]
    assert paths["input"].name == "input_000001.png" and paths["gt"].name == "gt_000001.png"


def test_pairs_by_name_not_by_position(tmp_path):
    # sorted positions disagree: low has a.png, b.png; high has b.png, a.png plus nothing else
    _img(tmp_path / "low" / "a.png", 0.1)
    _img(tmp_path / "low" / "b.png", 0.2)
    _img(tmp_path / "high" / "b.jpg", 0.2)
    _img(tmp_path / "high" / "a.png", 0.1)
    pairs = dict(pair_by_name({"input": tmp_path / "low", "gt": tmp_path / "high"}))
    assert pairs["b"]["gt"].name == "b.jpg"


def test_missing_partner_is_named(tmp_path):
    _img(tmp_path / "low" / "1.png")
    _img(tmp_path / "low" / "2.png")
    _img(tmp_path / "high" / "1.png")
    with pytest.raises(InputError, match=r"2\.png has no partner in .*high"):
        pair_by_name({"input": tmp_path / "low", "gt": tmp_path / "high"})
    _img(tmp_path / "high" / "2.png")
    _img(tmp_path / "high" / "3.png")
    with pytest.raises(InputError, match=r"3\.png has no partner in .*low"):
        pair_by_name({"input": tmp_path / "low", "gt": tmp_path / "high"})


def test_duplicate_keys_and_empty_folders(tmp_path):
    _img(tmp_path / "a" / "x.png")
    _img(tmp_path / "a" / "x.jpg")
    _img(tmp_path / "b" / "x.png")
    with pytest.raises(InputError, match="same name key"):
        pair_by_name({"input": tmp_path / "a", "gt": tmp_path / "b"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        pair_by_name({"input": tmp_path / "b", "gt": tmp_path / "empty"})
    with pytest.raises(InputError, match="does not exist"):
        pair_by_name({"input": tmp_path / "b", "gt": tmp_path / "nowhere"})
