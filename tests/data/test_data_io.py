"""read_image / write_image: bit depths, channel layouts, broken and huge files, listing,
atomic writes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.atomic import WriteError
from zoo.data.io import list_images, load_image, read_image, scan_images, write_image
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


# ------------------------------------------------------------- 16-bit decoding, limits, listing
def _libpng_16bit(tmp_path, array, name="x.png"):
    """``array`` written by libpng (adaptive row filters: Sub, Up, Average, Paeth)."""
    import imagecodecs

    path = tmp_path / name
    path.write_bytes(imagecodecs.png_encode(np.ascontiguousarray(array), level=6))
    return path


def test_16bit_png_with_every_filter_and_alpha_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:40, 0:50]
    smooth = np.stack([xx * 1200, yy * 1500, (xx + yy) * 600], -1)
    rgb = np.clip(smooth + rng.normal(0, 300, smooth.shape), 0, 65535).astype(np.uint16)
    loaded = load_image(_libpng_16bit(tmp_path, rgb))
    assert loaded.bits == 16
    assert torch.equal(loaded.image, torch.from_numpy(rgb.transpose(2, 0, 1) / 65535).float())
    rgba = np.concatenate([rgb, np.full((40, 50, 1), 13107, np.uint16)], -1)  # alpha 0.2
    black = read_image(_libpng_16bit(tmp_path, rgba, "a.png"))
    expected = torch.from_numpy(rgb.transpose(2, 0, 1) / 65535 * 0.2).float()
    assert torch.allclose(black, expected, atol=1e-6)
    assert load_image(write_image(tmp_path / "8.png", torch.rand(3, 4, 4))).bits == 8


def _png_header_only(path, width, height, depth, colour):
    import struct
    import zlib

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    # a zlib stream that would inflate to gigabytes is tiny: the size must be refused first
    idat = zlib.compress(b"\x00" * 2_000_000, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour,
                                                  0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("depth, colour", [(16, 2), (8, 2), (16, 0)])
def test_huge_png_is_refused_from_its_header(tmp_path, depth, colour):
    path = _png_header_only(tmp_path / "bomb.png", 14000, 14000, depth, colour)
    assert path.stat().st_size < 10_000
    with pytest.raises(InputError, match=r"bomb.png is too large: 14000x14000 = 196.0 megapix"):
        read_image(path)


def test_tiff_size_limit(tmp_path, monkeypatch):
    import zoo.data.io as io_module

    path = write_image(tmp_path / "t.tif", torch.rand(3, 20, 30), bits=16)
    monkeypatch.setattr(io_module, "MAX_PIXELS", 500)
    with pytest.raises(InputError, match=r"t.tif is too large: 30x20"):
        read_image(path)


def test_scan_images_reports_hidden_and_appledouble_files(tmp_path):
    for name in ("b.png", "a.jpg", "._a.jpg", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    listing = scan_images(tmp_path)
    assert [p.name for p in listing.images] == ["a.jpg", "b.png"]
    assert dict((p.name, why) for p, why in listing.skipped) == {
        "._a.jpg": "macOS metadata (AppleDouble)", ".hidden.png": "hidden",
        "notes.txt": "not an image"}
    assert [p.name for p in listing.hidden()] == ["._a.jpg", ".hidden.png"]
    assert list_images(tmp_path) == listing.images


def test_write_image_is_atomic_refuses_nan_and_existing_files(tmp_path, full_disk):
    path = write_image(tmp_path / "a.png", torch.rand(3, 8, 8))
    before = path.read_bytes()
    with pytest.raises(InputError, match="a.png: the image has 2 NaN or infinite value"):
        bad = torch.rand(3, 8, 8)
        bad[0, 0, 0], bad[1, 2, 3] = float("nan"), float("inf")
        write_image(path, bad)
    with pytest.raises(WriteError, match="a.png: already exists"):
        write_image(path, torch.rand(3, 8, 8), overwrite=False)
    for bits, name in ((8, "a.png"), (16, "a.png"), (16, "t.tif"), (8, "j.jpg")):
        full_disk(limit=0)
        with pytest.raises(WriteError, match=f"{name}: disk full"):
            write_image(tmp_path / name, torch.rand(3, 64, 64), bits=bits)
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]
