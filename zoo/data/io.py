"""Image reading and writing shared by the datasets, ``zoo infer`` and ``zoo eval``.

:func:`read_image` returns a float tensor ``(3, H, W)`` in [0, 1], RGB, whatever the file holds
(:func:`load_image` also says the file's bit depth):

* 8-bit images are divided by 255, 16-bit images (PNG, TIFF) by 65535, 32-bit float TIFFs are
  clamped to [0, 1];
* grayscale is repeated to three channels; palette images are expanded;
* an alpha channel is composited over a black background (``alpha="black"``, the default: a
  transparent pixel carries no light), over white (``alpha="white"``) or dropped
  (``alpha="drop"``);
* images over :data:`MAX_PIXELS` are refused from their header, before anything is decoded;
  so are TIFF stacks (several pages), volumes and TIFFs of more than 4 channels;
* a missing, corrupt or truncated file raises :class:`zoo.errors.InputError` naming the file.

Decoders: Pillow for 8-bit files and 16-bit grayscale PNG; ``imagecodecs.png_decode`` (libpng)
for the other 16-bit PNGs, which Pillow cuts to 8 bits (it keeps the high byte); tifffile for
TIFF.  ``benchmarks/bench_png16.py`` compares the candidates (exactness and speed).
:func:`write_image` writes atomically (:mod:`zoo.atomic`): 8-bit files through Pillow and, with
``bits=16``, 16-bit PNG (imagecodecs) or TIFF (tifffile).
"""
from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import imagecodecs
import numpy as np
import tifffile
import torch
from PIL import Image

from zoo.atomic import atomic_write_bytes
from zoo.errors import InputError

#: File name extensions treated as images when a folder is listed.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Largest image read, in pixels: Pillow's decompression-bomb error threshold,
#: 2 x ``PIL.Image.MAX_IMAGE_PIXELS`` = 2 x (1024 * 1024 * 1024 // 4 // 3), applied to every
#: format (Pillow's own check covers only what Pillow decodes).
MAX_PIXELS = 2 * (1024 * 1024 * 1024 // 4 // 3)
#: Largest image ``zoo eval`` scores, in pixels (per image of a pair): 25 megapixels, a 24 MP
#: camera's 6000x4000 photo.  Scoring holds both images as float32 RGB with the metrics'
#: intermediates: ``zoo eval --metrics psnr`` peaked at 1212 MiB resident on a 2048x2048 JPEG
#: pair and 2796 MiB on 4096x4096 (about 132 bytes a pixel; docs/metrics.md), so 25 MP stays
#: near 4 GB.  Larger images are refused from the header, in one line.
MAX_SCORE_PIXELS = 25_000_000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ALPHA_MODES = ("black", "white", "drop")


@dataclass(frozen=True)
class ImageListing:
    """The image files of a folder, and the files passed over with the reason."""

    images: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def hidden(self) -> list[Path]:
        """Skipped files that look like images but are hidden or macOS metadata (``._*``)."""
        return [p for p, why in self.skipped if why != "not an image"]


def scan_images(folder: str | Path) -> ImageListing:
    """Image files directly inside ``folder``, sorted by name, and what was skipped: hidden
    files (``.name``), macOS AppleDouble metadata (``._name``, copied beside every file on
    non-Mac disks) and files without an image extension."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"image folder {folder} does not exist")
    images, skipped = [], []
    for p in sorted(folder.iterdir()):
        if not p.is_file():
            continue
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped.append((p, "not an image"))
        elif p.name.startswith("._"):
            skipped.append((p, "macOS metadata (AppleDouble)"))
        elif p.name.startswith("."):
            skipped.append((p, "hidden"))
        else:
            images.append(p)
    return ImageListing(images, skipped)


def file_label(name: str | Path) -> str:
    """A file name as printable UTF-8 text: bytes that are not UTF-8 (a name Python holds with
    surrogate escapes, ``\\udcff``) become ``\\xff``, so printing or writing it into a CSV file
    never raises ``UnicodeEncodeError``."""
    return str(name).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder`` (hidden files skipped), sorted by name."""
    return scan_images(folder).images


# --------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class LoadedImage:
    """An image as :func:`read_image` returns it, with the bit depth of its file (8, 16, 32)."""

    image: torch.Tensor
    bits: int
    path: Path


def read_image(path: str | Path, *, alpha: str = "black",
               max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """The image at ``path`` as a float32 tensor ``(3, H, W)`` in [0, 1], RGB.

    Args:
        path: an image file (PNG, JPEG, BMP, TIFF, WebP).
        alpha: what to do with an alpha channel: ``"black"`` (composite over black),
            ``"white"`` (composite over white) or ``"drop"`` (ignore it).
        max_pixels: larger images are refused from their header (:data:`MAX_PIXELS`;
            ``zoo eval`` passes :data:`MAX_SCORE_PIXELS`).
    """
    return load_image(path, alpha=alpha, max_pixels=max_pixels).image


def load_image(path: str | Path, *, alpha: str = "black",
               max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """:func:`read_image`, also telling the file's bit depth (8; 16 for 16-bit PNG/TIFF;
    32 for float TIFF)."""
    if alpha not in _ALPHA_MODES:
        raise InputError(f"read_image: alpha must be 'black', 'white' or 'drop', got {alpha!r}")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image {path} does not exist")
    try:
        array = _read_array(path, min(max_pixels, MAX_PIXELS))
    except InputError:
        raise
    except Image.DecompressionBombError as e:  # Pillow's check, before ours when it opens first
        raise InputError(f"image {path} is too large: {e}") from None
    except Exception as e:  # Pillow/tifffile/imagecodecs raise many types for broken files
        raise InputError(f"cannot read image {path}: corrupt, truncated or unsupported file "
                         f"({type(e).__name__}: {e})") from None
    _check_finite(array, path)
    bits = 8 if array.dtype in (np.uint8, np.bool_) else 16 if array.dtype == np.uint16 else 32
    return LoadedImage(_to_rgb_tensor(array, path, alpha), bits, path)


def _check_finite(array: np.ndarray, path: Path) -> None:
    """A float image (a 32-bit TIFF) with NaN or infinite pixels is refused, naming the file
    and the count: clamping would turn NaN into a score without notice."""
    if np.issubdtype(array.dtype, np.floating):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise InputError(f"image {path} has {bad} NaN or infinite pixel value(s) of "
                             f"{array.size}: refused (they would be clamped into a score)")


def _check_size(path: Path, width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    if width * height > max_pixels:
        why = ("zoo.data.io.MAX_PIXELS, Pillow's decompression-bomb limit"
               if max_pixels == MAX_PIXELS else "zoo.data.io.MAX_SCORE_PIXELS, the most `zoo eval` "
               "scores (docs/metrics.md)" if max_pixels == MAX_SCORE_PIXELS else "the caller's")
        raise InputError(f"image {path} is too large: {width}x{height} = "
                         f"{width * height / 1e6:.1f} megapixels, over the limit of "
                         f"{max_pixels / 1e6:.1f} ({why}); nothing was decoded")


def _read_tiff(path: Path, tif: tifffile.TiffFile, max_pixels: int) -> np.ndarray:
    """The first image of a TIFF, after checking its header: one page (a stack of pages, or a
    volume, is refused), 1 to 4 samples per pixel, at most ``max_pixels`` pixels.  tifffile
    reads page counts and shapes from the file's IFDs without decoding any pixel."""
    if not tif.pages:
        raise InputError(f"cannot read image {path}: a TIFF without any page")
    series = tif.series[0] if tif.series else None
    stacked = len(series.pages) if series is not None else 1
    if series is not None and stacked > 1:
        raise InputError(f"image {path} is a TIFF stack of {stacked} pages "
                         f"({'x'.join(map(str, series.shape))}, axes {series.axes}); zoo reads "
                         f"single images (split the stack into files); nothing was decoded")
    first = tif.pages[0]
    # a frame shares its key page's tags
    page = first if isinstance(first, tifffile.TiffPage) else first.keyframe
    if page is None:
        raise InputError(f"cannot read image {path}: its first TIFF page has no tags")
    samples = int(page.samplesperpixel)
    if samples > 4 or int(page.imagedepth) > 1:
        raise InputError(f"image {path} has {samples} channel(s) per pixel and depth "
                         f"{page.imagedepth}; zoo reads images of 1 to 4 "
                         f"channels (gray, gray+alpha, RGB, RGBA); nothing was decoded")
    _check_size(path, int(page.imagewidth), int(page.imagelength), max_pixels)
    return np.asarray(page.asarray())


def _read_array(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An ``(H, W)`` or ``(H, W, C)`` array, integer or float, exactly as stored."""
    with open(path, "rb") as f:
        head = f.read(33)
    if head.startswith(_PNG_SIGNATURE) and len(head) >= 29 and head[12:16] == b"IHDR":
        width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
        _check_size(path, width, height, max_pixels)
        if depth == 16 and colour != 0:  # Pillow would keep 8 of the 16 bits
            return np.asarray(imagecodecs.png_decode(path.read_bytes()))
    if path.suffix.lower() in (".tif", ".tiff"):
        with tifffile.TiffFile(path) as tif:
            return _read_tiff(path, tif, max_pixels)
    with warnings.catch_warnings():  # DecompressionBombWarning: our own limit is checked below
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im: Image.Image  # the opened file, then possibly a converted copy
        with Image.open(path) as im:
            _check_size(path, *im.size, max_pixels)
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


def write_image(path: str | Path, image: torch.Tensor, *, bits: int = 8,
                overwrite: bool = True) -> Path:
    """Write a ``(C, H, W)`` tensor in [0, 1] (C = 1 or 3) to ``path`` atomically; folders are
    created.

    ``bits=8`` rounds to the nearest of 256 levels (PNG, JPEG, ... through Pillow);
    ``bits=16`` writes 65536 levels to ``.png`` or ``.tif``/``.tiff``.  An image with NaN or
    infinite values is refused (it would silently become black); ``overwrite=False`` refuses an
    existing file.
    """
    path = Path(path)
    if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] not in (1, 3):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise InputError(f"write_image {path}: expected a (C, H, W) tensor with C = 1 or 3, "
                         f"got {shape}")
    if bits not in (8, 16):
        raise InputError(f"write_image {path}: bits must be 8 or 16, got {bits}")
    bad = int((~torch.isfinite(image)).sum())
    if bad:
        raise InputError(f"write_image {path}: the image has {bad} NaN or infinite value(s); "
                         f"not written")
    suffix = path.suffix.lower()
    if bits == 16:
        x = image.detach().float().cpu().clamp(0, 1)
        array = np.ascontiguousarray(
            (x * 65535.0).round().to(torch.int32).permute(1, 2, 0).numpy().astype(np.uint16))
        plane = np.ascontiguousarray(array[..., 0]) if array.shape[2] == 1 else array
        if suffix in (".tif", ".tiff"):
            buffer = io.BytesIO()
            tifffile.imwrite(buffer, plane)
            data: bytes | bytearray = buffer.getvalue()
        elif suffix == ".png":
            data = imagecodecs.png_encode(plane, level=6)
        else:
            raise InputError(f"write_image {path}: 16-bit output needs a .png or .tif name")
        return atomic_write_bytes(data, path, overwrite=overwrite)
    kind = Image.registered_extensions().get(suffix)
    if kind is None:
        raise InputError(f"write_image {path}: unknown image extension {suffix!r} "
                         f"(e.g. {', '.join(IMAGE_EXTENSIONS)})")
    array = to_uint8(image)
    pil = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    buffer = io.BytesIO()  # encoded in memory: every byte then goes through the atomic writer
    pil.save(buffer, format=kind)
    return atomic_write_bytes(buffer.getvalue(), path, overwrite=overwrite)
