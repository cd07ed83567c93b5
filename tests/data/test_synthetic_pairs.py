"""synthetic-lowlight and synthetic-denoise: degradations, seeds and held-out photos."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.data.backgrounds import BUILTIN_TRAIN
from zoo.data.io import write_image
from zoo.errors import ZooError


def test_lowlight_is_darker_and_noisy():
    ds = zoo.create_dataset("synthetic-lowlight", size=32, length=4)
    item = ds[0]
    assert item["input"].shape == item["gt"].shape == (3, 32, 32)
    assert float(item["input"].mean()) < float(item["gt"].mean())
    assert 0 <= float(item["input"].min()) and float(item["input"].max()) <= 1
    # Poisson noise: with few photons the darkened image is visibly noisy
    few = zoo.create_dataset("synthetic-lowlight", size=32, length=1, photons=(5.0, 5.0),
                             gamma=(1.0, 1.0), brightness=(1.0, 1.0), read_noise=(0.0, 0.0))[0]
    assert float((few["input"] - few["gt"]).abs().mean()) > 0.05


def test_denoise_noise_level_matches_sigma():
    torch.manual_seed(0)
    ds = zoo.create_dataset("synthetic-denoise", size=64, length=2, sigma=25.0, clip=False)
    noise = ds[0]["input"] - ds[0]["gt"]
    assert abs(float(noise.std()) - 25 / 255) < 0.01
    blind = zoo.create_dataset("synthetic-denoise.blind", size=16, length=2)
    assert blind.sigma == (0.0, 55.0)
    with pytest.raises(ZooError, match="sigma"):
        zoo.create_dataset("synthetic-denoise", sigma=(10.0, 5.0))


def test_seeded_and_held_out():
    a = zoo.create_dataset("synthetic-denoise", size=24, length=3, seed=1)
    b = zoo.create_dataset("synthetic-denoise", size=24, length=3, seed=1)
    assert torch.equal(a[2]["input"], b[2]["input"])
    test = zoo.create_dataset("synthetic-denoise", split="test", size=24, length=3, seed=1)
    for i in range(3):
        assert test[i]["name"].rsplit("-", 1)[-1] not in BUILTIN_TRAIN
        assert not torch.equal(test[i]["gt"], a[i]["gt"])


def test_folder_of_photos_is_split_by_name(tmp_path):
    torch.manual_seed(0)
    for i in range(30):
        write_image(tmp_path / f"photo{i:03d}.png", torch.rand(3, 20, 20))
    train = zoo.create_dataset("synthetic-lowlight", root=str(tmp_path), size=16, length=1)
    test = zoo.create_dataset("synthetic-lowlight", root=str(tmp_path), split="test", size=16,
                              length=1)
    train_names = {train.photos.name(i) for i in range(len(train.photos))}
    test_names = {test.photos.name(i) for i in range(len(test.photos))}
    assert train_names and test_names and not train_names & test_names
    assert len(train_names | test_names) == 30
