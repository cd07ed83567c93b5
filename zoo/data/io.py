"""Robust image reading and writing shared by the datasets, ``zoo infer`` and ``zoo eval``.

:func:`read_image` returns a float tensor ``(3, H, W)`` in [0, 1], RGB, whatever the file holds:

* 8-bit images are divided by 255, 16-bit images (PNG, TIFF) by 65535, 32-bit float TIFFs are
  clamped to [0, 1];
* grayscale is repeated to three channels; palette images are expanded;
* an alpha channel is composited over a black background (``alpha="black"``, the default: a
  transparent pixel carries no light), over white (``alpha="white"``) or dropped
  (``alpha="drop"``);
* a missing, corrupt or truncated file raises :class:`zoo.errors.InputError` naming the file.

Pillow reads 16-bit RGB(A) PNGs as 8-bit (it keeps the high byte only), so those files are
decoded here from their zlib stream (PNG specification, W3C 2003, sections 9 and 11: IHDR,
IDAT, the five scan-line filters).  :func:`write_image` writes 8-bit files through Pillow and,
with ``bits=16``, 16-bit PNG (filter type 0) or TIFF.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from zoo.errors import InputError

#: File name extensions treated as images when a folder is listed.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder`` (hidden files skipped), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"image folder {folder} does not exist")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS)


# --------------------------------------------------------------------------------------- reading
def read_image(path: str | Path, *, alpha: str = "black") -> torch.Tensor:
    """The image at ``path`` as a float32 tensor ``(3, H, W)`` in [0, 1], RGB.

    Args:
        path: an image file (PNG, JPEG, BMP, TIFF, WebP).
        alpha: what to do with an alpha channel: ``"black"`` (composite over black),
            ``"white"`` (composite over white) or ``"drop"`` (ignore it).
    """
    if alpha not in ("black", "white", "drop"):
        raise InputError(f"read_image: alpha must be 'black', 'white' or 'drop', got {alpha!r}")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image {path} does not exist")
    try:
        array = _read_array(path)
    except InputError:
        raise
    except Exception as e:  # Pillow/tifffile raise many types for broken files
        raise InputError(f"cannot read image {path}: corrupt, truncated or unsupported file "
                         f"({type(e).__name__}: {e})") from None
    return _to_rgb_tensor(array, path, alpha)


def _read_array(path: Path) -> np.ndarray:
    """An ``(H, W)`` or ``(H, W, C)`` array, integer or float, exactly as stored."""
    with open(path, "rb") as f:
        head = f.read(33)
    if head.startswith(_PNG_SIGNATURE) and len(head) >= 29 and head[24] == 16:
        if head[28] == 0:  # not interlaced: decode the 16 bits ourselves (Pillow drops 8 of them)
            return _decode_png16(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        return np.asarray(tifffile.imread(path))
    from PIL import Image

    with Image.open(path) as im:
        im.load()  # forces decoding: truncated files fail here
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif im.mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
            im = im.convert("RGB")
        elif im.mode == "PA":
            im = im.convert("RGBA")
        array = np.asarray(im)
        if im.mode.startswith("I;16"):
            array = array.astype(np.uint16)
        elif im.mode == "I":  # 32-bit integer: Pillow's container for 16-bit grayscale PNG
            array = array.astype(np.int64)
            if array.max(initial=0) <= 65535 and array.min(initial=0) >= 0:
                array = array.astype(np.uint16)
    return array


def _decode_png16(path: Path) -> np.ndarray:
    """Decode a non-interlaced 16-bit PNG into a uint16 array (PNG spec sections 9, 11)."""
    data = path.read_bytes()
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) < length:
            raise InputError(f"cannot read image {path}: truncated PNG chunk {ctype!r}")
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
        pos += 12 + length
    if header is None or not idat:
        raise InputError(f"cannot read image {path}: PNG without IHDR or IDAT")
    width, height, _, colour, _, _, _ = header
    if colour not in _PNG_CHANNELS:
        raise InputError(f"cannot read image {path}: unsupported 16-bit PNG colour type {colour}")
    channels = _PNG_CHANNELS[colour]
    bpp = 2 * channels  # bytes per pixel
    stride = width * bpp
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise InputError(f"cannot read image {path}: corrupt PNG data ({e})") from None
    if len(raw) < height * (stride + 1):
        raise InputError(f"cannot read image {path}: truncated PNG data")
    rows = np.frombuffer(raw[:height * (stride + 1)], np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: each byte adds the byte bpp to its left -> cumulative sums
            cur = np.cumsum(line.reshape(-1, bpp), axis=0).reshape(-1) & 0xFF
        elif kind == 2:  # Up
            cur = (line + prev) & 0xFF
        elif kind in (3, 4):  # Average, Paeth: sequential along the row
            cur = line.copy()
            for x in range(stride):
                a = int(cur[x - bpp]) if x >= bpp else 0
                b = int(prev[x])
                if kind == 3:
                    cur[x] = (cur[x] + ((a + b) >> 1)) & 0xFF
                else:
                    c = int(prev[x - bpp]) if x >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                    cur[x] = (cur[x] + pred) & 0xFF
        else:
            raise InputError(f"cannot read image {path}: bad PNG filter type {kind} in row {y}")
        out[y] = cur
        prev = cur.astype(np.int32)
    array = out.view(">u2").astype(np.uint16).reshape(height, width, channels)
    return array[..., 0] if channels == 1 else array


def _to_rgb_tensor(array: np.ndarray, path: Path, alpha: str) -> torch.Tensor:
    if array.dtype == np.bool_:
        array = array.astype(np.float32)
    elif array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        array = np.clip(np.nan_to_num(array.astype(np.float32)), 0.0, 1.0)
    else:
        raise InputError(f"cannot read image {path}: unsupported sample type {array.dtype}")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"cannot read image {path}: unsupported shape {array.shape}")
    c = array.shape[2]
    if c in (2, 4):  # gray+alpha or RGBA
        colour, a = array[..., :c - 1], array[..., c - 1:]
        if alpha == "black":
            colour = colour * a
        elif alpha == "white":
            colour = colour * a + (1.0 - a)
        array = colour
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).float()


# --------------------------------------------------------------------------------------- writing
def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` or ``(1, H, W)`` in [0, 1] -> ``(H, W, C)`` uint8, rounding to nearest."""
    image = image.detach().float().cpu().clamp(0, 1)
    return (image * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()


def write_image(path: str | Path, image: torch.Tensor, *, bits: int = 8) -> Path:
    """Write a ``(C, H, W)`` tensor in [0, 1] (C = 1 or 3) to ``path``; folders are created.

    ``bits=8`` rounds to the nearest of 256 levels (PNG, JPEG, ... through Pillow);
    ``bits=16`` writes 65536 levels to ``.png`` or ``.tif``/``.tiff``.
    """
    path = Path(path)
    if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] not in (1, 3):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise InputError(f"write_image {path}: expected a (C, H, W) tensor with C = 1 or 3, "
                         f"got {shape}")
    if bits not in (8, 16):
        raise InputError(f"write_image {path}: bits must be 8 or 16, got {bits}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if bits == 16:
        x = image.detach().float().cpu().clamp(0, 1)
        array = (x * 65535.0).round().to(torch.int32).permute(1, 2, 0).numpy().astype(np.uint16)
        suffix = path.suffix.lower()
        if suffix in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(path, array[..., 0] if array.shape[2] == 1 else array)
        elif suffix == ".png":
            path.write_bytes(_encode_png16(array))
        else:
            raise InputError(f"write_image {path}: 16-bit output needs a .png or .tif name")
        return path
    from PIL import Image

    array = to_uint8(image)
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(path)
    return path


def _encode_png16(array: np.ndarray) -> bytes:
    """A 16-bit PNG (colour type 0 or 2, filter type 0 on every row) of an (H, W, C) array."""
    height, width, channels = array.shape
    colour = 0 if channels == 1 else 2
    rows = array.astype(">u2").reshape(height, width * channels).tobytes()
    stride = width * channels * 2
    raw = b"".join(b"\x00" + rows[y * stride:(y + 1) * stride] for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    return (_PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour,
                                                         0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
