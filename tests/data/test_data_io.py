"""read_image / write_image: bit depths, channel layouts and broken files."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data.io import read_image, write_image
from zoo.errors import InputError


def test_8bit_rgb_round_trip(tmp_path):
    torch.manual_seed(0)
    x = torch.rand(3, 9, 13)
    y = read_image(write_image(tmp_path / "a.png", x))
    assert y.shape == (3, 9, 13) and y.dtype == torch.float32
    assert torch.allclose(y, (x * 255).round() / 255, atol=1e-6)


def test_grayscale_becomes_rgb(tmp_path):
    array = np.arange(30, dtype=np.uint8).reshape(5, 6) * 8
    Image.fromarray(array, mode="L").save(tmp_path / "g.png")
    y = read_image(tmp_path / "g.png")
    assert y.shape == (3, 5, 6)
    assert torch.equal(y[0], y[1]) and torch.equal(y[1], y[2])
    assert torch.allclose(y[0], torch.from_numpy(array).float() / 255)


def test_rgba_alpha_modes(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 51  # alpha 0.2
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    black = read_image(tmp_path / "a.png")
    white = read_image(tmp_path / "a.png", alpha="white")
    drop = read_image(tmp_path / "a.png", alpha="drop")
    a, r = 51 / 255, 200 / 255
    assert torch.allclose(black[0], torch.full((4, 4), r * a))
    assert torch.allclose(white[1], torch.full((4, 4), 1 - a))
    assert torch.allclose(drop[0], torch.full((4, 4), r))
    with pytest.raises(InputError, match="alpha"):
        read_image(tmp_path / "a.png", alpha="grey")


def test_16bit_grayscale_png_from_pillow(tmp_path):
    rng = np.random.default_rng(0)
    array = (rng.random((17, 23)) * 65535).astype(np.uint16)
    array[0] = np.arange(23) * 2000  # smooth rows make the encoder pick other filters
    Image.fromarray(array).save(tmp_path / "g16.png")
    y = read_image(tmp_path / "g16.png")
    assert torch.allclose(y[0], torch.from_numpy(array.astype(np.float32) / 65535), atol=1e-7)


def test_16bit_rgb_png_and_tiff_keep_16_bits(tmp_path):
    torch.manual_seed(0)
    x = torch.rand(3, 8, 10)
    for name in ("c16.png", "c16.tif"):
        y = read_image(write_image(tmp_path / name, x, bits=16))
        assert (y - x).abs().max() <= 0.5 / 65535 + 1e-7, name  # finer than 8 bits
    # a value between two 8-bit levels survives
    x = torch.full((3, 2, 2), 1000 / 65535)
    assert torch.allclose(read_image(write_image(tmp_path / "f.png", x, bits=16)), x)


def test_palette_image(tmp_path):
    im = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), mode="P")
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.save(tmp_path / "p.png")
    y = read_image(tmp_path / "p.png")
    assert torch.equal(y[:, 0, 0], torch.tensor([1.0, 0, 0]))
    assert torch.equal(y[:, 0, 1], torch.tensor([0.0, 0, 1]))


def test_corrupt_truncated_and_missing_files_name_the_file(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="junk.png"):
        read_image(tmp_path / "junk.png")
    write_image(tmp_path / "whole.png", torch.rand(3, 64, 64))
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.png"):
        read_image(tmp_path / "cut.png")
    write_image(tmp_path / "w16.png", torch.rand(3, 16, 16), bits=16)
    data = (tmp_path / "w16.png").read_bytes()
    (tmp_path / "cut16.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut16.png"):
        read_image(tmp_path / "cut16.png")
    with pytest.raises(InputError, match="nothere.png"):
        read_image(tmp_path / "nothere.png")


def test_write_image_refuses_bad_shapes(tmp_path):
    with pytest.raises(InputError, match="bad.png"):
        write_image(tmp_path / "bad.png", torch.rand(1, 3, 4, 4))
    with pytest.raises(InputError, match="16-bit"):
        write_image(tmp_path / "x.jpg", torch.rand(3, 4, 4), bits=16)
