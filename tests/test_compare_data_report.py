"""results.md of a comparison on a custom dataset: the sample counts actually used, the dataset
behind the task and the config's description."""
from __future__ import annotations

import textwrap
from pathlib import Path

import zoo
from zoo.cli import main

PLUGIN = '''
import torch
from torch import nn
from zoo.hookspecs import hookimpl


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return x + self.conv(x)


class FourPairs(torch.utils.data.Dataset):
    """A folder-like dataset: always 4 pairs, whatever ``length`` a comparison asks for."""

    def __init__(self, size=16, seed=0, split="train", length=0):
        self.size = size

    def __len__(self):
        return 4

    def __getitem__(self, i):
        gt = torch.full((3, self.size, self.size), 0.2 * (i + 1))
        return {"input": gt * 0.5, "gt": gt, "name": str(i)}


@hookimpl
def zoo_register_models(register):
    register("rep-tiny", TinyNet)


@hookimpl
def zoo_register_datasets(register):
    register("four-pairs", FourPairs)
'''


def test_results_md_states_what_was_scored(tmp_path, capsys):
    (tmp_path / "rep_plugin.py").write_text(textwrap.dedent(PLUGIN))
    toml = tmp_path / "registry.toml"
    toml.write_text('[plugins]\nlocal = ["rep_plugin.py"]\n')
    config = tmp_path / "mine.toml"
    config.write_text(textwrap.dedent('''
        name = "mine"
        description = "L1 on my four photo pairs"
        tasks = ["denoise"]
        losses = ["l1"]
        model = "rep-tiny"
        seeds = 1
        steps = 1
        size = 16
        batch_size = 1
        train_length = 512
        test_length = 16
        metrics = ["psnr"]
        [datasets.denoise]
        name = "four-pairs"
        test_args = {split = "test"}
    '''))
    try:
        code = main(["--registry", str(toml), "compare", "--config", str(config), "--jobs", "1",
                     "--out", str(tmp_path / "cmp")])
    finally:
        zoo.reset_registry()
    assert code == 0, capsys.readouterr()
    md = (tmp_path / "cmp" / "results.md").read_text()
    assert "4 train samples (512 asked for) / 4 test samples (16 asked for)" in md, md
    assert "512 train / 16 test samples" not in md
    assert "description: L1 on my four photo pairs" in md
    assert "data of denoise: dataset 'four-pairs' (test_args {'split': 'test'})" in md


def test_a_config_declares_a_new_task(tmp_path, capsys):
    (tmp_path / "rep_plugin.py").write_text(textwrap.dedent(PLUGIN))
    toml = tmp_path / "registry.toml"
    toml.write_text('[plugins]\nlocal = ["rep_plugin.py"]\n')
    config = tmp_path / "photos.toml"
    config.write_text(textwrap.dedent('''
        tasks = ["photos"]
        losses = ["l1"]
        model = "rep-tiny"
        seeds = 1
        steps = 1
        size = 16
        batch_size = 1
        train_length = 4
        test_length = 4
        [datasets.photos]
        name = "four-pairs"
        metrics = ["psnr"]
    '''))
    try:
        code = main(["--registry", str(toml), "compare", "--config", str(config), "--jobs", "1",
                     "--out", str(tmp_path / "cmp")])
    finally:
        zoo.reset_registry()
    out = capsys.readouterr()
    assert code == 0, out
    md = (tmp_path / "cmp" / "results.md").read_text()
    assert "### photos" in md and "data of photos: dataset 'four-pairs'" in md, md
    assert "PSNR" in md and "SSIM" not in md
