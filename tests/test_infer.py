"""``zoo infer``: checkpoints in, PNGs out, tiled; one-line errors naming the bad file."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import zoo
from zoo.checkpoint import save_model_checkpoint
from zoo.cli import cli, main


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    folder.mkdir()
    for name, size in (("a.png", (40, 56)), ("b.jpg", (33, 20))):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "unet_t.pt"
    save_model_checkpoint(path, zoo.create_model("unet.t"), "unet.t")
    return path


def test_folder_with_our_checkpoint_and_tiles(tmp_path, images, checkpoint):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["infer", str(checkpoint), str(images), "-o", str(out),
                                      "--tile", "32", "--overlap", "8"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    with Image.open(out / "a.png") as img:
        assert img.size == (56, 40) and img.mode == "RGB"
    # tiled output is close to the whole-image output
    whole = tmp_path / "whole"
    result = CliRunner().invoke(cli, ["infer", str(checkpoint), str(images / "a.png"), "-o",
                                      str(whole), "--tile", "0"])
    assert result.exit_code == 0, result.output
    a = np.asarray(Image.open(out / "a.png"), dtype=np.float32)
    b = np.asarray(Image.open(whole / "a.png"), dtype=np.float32)
    assert np.abs(a - b).mean() < 5


def test_name_with_basicsr_weights_and_all_parts(tmp_path, images):
    torch.manual_seed(0)
    net = zoo.create_model("kind-decom")
    torch.save({"params_ema": net.state_dict()}, tmp_path / "net_g.pth")
    out = tmp_path / "parts"
    result = CliRunner().invoke(cli, ["infer", "kind-decom", "--weights",
                                      str(tmp_path / "net_g.pth"), str(images / "a.png"),
                                      "-o", str(out), "--all-parts", "--tile", "24",
                                      "--overlap", "4"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a_illumination.png", "a_reflectance.png"]
    assert Image.open(out / "a_illumination.png").mode == "L"


def test_errors_are_one_line_with_exit_code_2(tmp_path, images, checkpoint, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG garbage")
    assert main(["infer", str(checkpoint), str(bad), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "broken.png: cannot read image" in err
    assert main(["infer", "unet.t", str(images), "-o", str(tmp_path / "o")]) == 2
    assert "--weights" in capsys.readouterr().err
    assert main(["infer", str(checkpoint), str(tmp_path / "missing.png"), "-o",
                 str(tmp_path / "o")]) == 2
    assert "missing.png: no such image file or folder" in capsys.readouterr().err
    torch.save(zoo.create_model("unet.s").state_dict(), tmp_path / "s.pth")
    assert main(["infer", "unet.t", "--weights", str(tmp_path / "s.pth"), str(images),
                 "-o", str(tmp_path / "o")]) == 2
    assert "shape mismatch" in capsys.readouterr().err
