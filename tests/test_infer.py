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
    assert "cannot read image" in err and "broken.png: corrupt" in err
    assert main(["infer", "unet.t", str(images), "-o", str(tmp_path / "o")]) == 2
    assert "--weights" in capsys.readouterr().err
    assert main(["infer", str(checkpoint), str(tmp_path / "missing.png"), "-o",
                 str(tmp_path / "o")]) == 2
    assert "missing.png: no such image file or folder" in capsys.readouterr().err
    torch.save(zoo.create_model("unet.s").state_dict(), tmp_path / "s.pth")
    assert main(["infer", "unet.t", "--weights", str(tmp_path / "s.pth"), str(images),
                 "-o", str(tmp_path / "o")]) == 2
    assert "shape mismatch" in capsys.readouterr().err


# ------------------------------------------------------------------ no data loss, one-line errors
def _run(capsys, *args):
    code = main(["infer", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.err


def test_two_inputs_with_one_output_name_are_refused_before_running(tmp_path, images, checkpoint,
                                                                     capsys):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / "a.jpg")
    out = tmp_path / "out"
    code, err = _run(capsys, checkpoint, images, "-o", out)
    assert code == 2 and "a.jpg and" in err and "a.png would both be written to" in err
    assert "Traceback" not in err and not out.exists()


def test_output_folder_holding_the_inputs_is_refused(tmp_path, images, checkpoint, capsys):
    before = (images / "a.png").read_bytes()
    for target in (images, images / "." ):
        code, err = _run(capsys, checkpoint, images, "-o", target, "--overwrite")
        assert code == 2 and "holds input images" in err
    code, err = _run(capsys, checkpoint, images / "a.png", "-o", images)
    assert code == 2 and "holds input images" in err
    assert (images / "a.png").read_bytes() == before
    assert sorted(p.name for p in images.iterdir()) == ["a.png", "b.jpg", "notes.txt"]


def test_existing_outputs_need_overwrite(tmp_path, images, checkpoint, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.png").write_bytes(b"keep me")
    code, err = _run(capsys, checkpoint, images, "-o", out)
    assert code == 2 and "b.png already exist" in err and "--overwrite" in err
    assert (out / "b.png").read_bytes() == b"keep me" and not (out / "a.png").exists()
    code, err = _run(capsys, checkpoint, images, "-o", out, "--overwrite", "--tile", "0")
    assert code == 0, err
    assert "wrote 2 image(s)" in err and Image.open(out / "b.png").size == (20, 33)


def test_bad_set_values_are_one_line(tmp_path, images, checkpoint, capsys):
    code, err = _run(capsys, "unet.t", "--weights", checkpoint, images, "-o", tmp_path / "o",
                     "--set", "width=abc")
    assert code == 2 and "--set width='abc'" in err and "takes an integer for width" in err
    assert "Traceback" not in err
    code, err = _run(capsys, checkpoint, images, "-o", tmp_path / "o", "--set", "width=true")
    assert code == 2 and "--set width=True" in err
    code, err = _run(capsys, "unet.t", "--weights", checkpoint, images, "-o", tmp_path / "o",
                     "--set", "output_split=3")
    assert code == 2 and "cannot be built with --set output_split=3 (TypeError" in err, err
    assert "Traceback" not in err


def test_unwritable_output_and_full_disk_are_one_line(tmp_path, images, checkpoint, capsys,
                                                      monkeypatch, full_disk):
    import errno
    import os

    import zoo.atomic

    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = _run(capsys, checkpoint, images, "-o", blocker / "out", "--tile", "0")
    assert code == 2 and f"{blocker / 'out'}: cannot write" in err and "Traceback" not in err

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(zoo.atomic, "open", read_only, raising=False)
    code, err = _run(capsys, checkpoint, images, "-o", tmp_path / "ro", "--tile", "0")
    assert code == 2 and "a.png: cannot write: read-only file system" in err
    full_disk(limit=100)
    code, err = _run(capsys, checkpoint, images, "-o", tmp_path / "full", "--tile", "0")
    assert code == 2 and "a.png: disk full" in err and "Traceback" not in err
    assert not (tmp_path / "full").exists()  # nothing written: the folder it made is removed


def test_nan_output_is_refused_naming_the_image(tmp_path, images, capsys):
    net = zoo.create_model("unet.t")
    with torch.no_grad():
        net.Conv_1x1.bias.fill_(float("nan"))
    path = save_model_checkpoint(tmp_path / "nan.pt", net, "unet.t")
    code, err = _run(capsys, path, images / "a.png", "-o", tmp_path / "o", "--tile", "0")
    assert code == 2 and "a.png: the model's output has" in err and "NaN" in err
    assert not list((tmp_path / "o").glob("*.png"))


def test_huge_image_is_one_line(tmp_path, checkpoint, capsys):
    import struct
    import zlib

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 14000, 14000,
                                                                       16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 100_000)) + chunk(b"IEND", b""))
    code, err = _run(capsys, checkpoint, bomb, "-o", tmp_path / "o")
    assert code == 2 and "bomb.png is too large: 14000x14000" in err and "Traceback" not in err


# ------------------------------------------------------------------- images read by zoo.data.io
def test_16bit_input_gives_16bit_output_and_appledouble_is_skipped(tmp_path, checkpoint, capsys):
    from zoo.data.io import load_image, write_image

    folder = tmp_path / "in"
    write_image(folder / "deep.png", torch.rand(3, 24, 24), bits=16)
    write_image(folder / "flat.png", torch.rand(3, 24, 24))
    (folder / "._deep.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS metadata
    code, err = _run(capsys, checkpoint, folder, "-o", tmp_path / "out", "--tile", "0")
    assert code == 0, err
    assert "skipped 1 hidden or macOS metadata" in err and "._deep.png" in err
    assert load_image(tmp_path / "out" / "deep.png").bits == 16
    assert load_image(tmp_path / "out" / "flat.png").bits == 8
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["deep.png", "flat.png"]


def test_alpha_is_composited_not_dropped(tmp_path, checkpoint, capsys):
    from zoo.checkpoint import model_from_checkpoint
    from zoo.data.io import read_image

    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = 220
    rgba[:, :8, 3] = 255  # left half opaque, right half transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    net = model_from_checkpoint(checkpoint, zoo.get_registry()).eval()
    for background in ("black", "white"):
        out = tmp_path / background
        code, err = _run(capsys, checkpoint, tmp_path / "t.png", "-o", out, "--tile", "0",
                         "--alpha", background)
        assert code == 0, err
        with torch.no_grad():
            expected = net(read_image(tmp_path / "t.png", alpha=background)[None])[0]
        got = read_image(out / "t.png")
        assert (got - expected.clamp(0, 1)).abs().max() <= 0.5 / 255 + 1e-6, background
    assert not torch.equal(read_image(tmp_path / "black" / "t.png"),
                           read_image(tmp_path / "white" / "t.png"))


def test_cascade_and_safetensors_checkpoints_as_model(tmp_path, images, capsys):
    from zoo.checkpoint import save_cascade_checkpoint

    torch.manual_seed(0)
    a, b = zoo.create_model("unet.t"), zoo.create_model("unet.t")
    cascade = save_cascade_checkpoint(tmp_path / "cascade.pt", a, b, "unet.t")
    single = save_model_checkpoint(tmp_path / "m.safetensors", a, "unet.t")
    for model, out in ((cascade, tmp_path / "c"), (single, tmp_path / "s")):
        code, err = _run(capsys, model, images / "a.png", "-o", out, "--tile", "0")
        assert code == 0, err
        assert (out / "a.png").is_file()


def test_the_command_module_does_not_import_torch():
    """The CLI imports every command module at start: ``zoo list`` must not pay for torch."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    code = "import sys, zoo.commands.infer; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(repo), "PATH": ""}, check=True)
    assert out.stdout.strip() == "False"
