"""Which decoder should read 16-bit RGB PNGs?  Correctness and speed of the candidates.

Pillow decodes 16-bit RGB PNGs to 8 bits (it keeps the high byte), so ``zoo.data.io`` needs
another decoder for them.  Candidates, each run when importable:

* ``old``: the pure-Python/numpy unfilter ``zoo.data.io`` used before (copied below, unchanged);
* ``imagecodecs``: ``imagecodecs.png_decode`` (libpng / zlib-ng);
* ``opencv``: ``cv2.imdecode(..., IMREAD_UNCHANGED)`` (libpng), channels BGR -> RGB;
* ``pyspng``: ``pyspng.load`` (libspng);
* ``pypng``: ``png.Reader(...).asDirect()`` (pure Python);
* ``pillow``: ``PIL.Image.open`` (reference for speed only: it returns 8 bits);
* ``zoo.data.io``: what the zoo does now (header check, then imagecodecs), from a file in the
  page cache, up to the uint16 array (``_read_array``).

Test images are RGB noise over smooth gradients (so encoders pick every filter type: None, Sub,
Up, Average, Paeth), encoded by libpng with adaptive filtering (through OpenCV or imagecodecs);
a decoder is *correct* when it returns the exact uint16 array.  Each decoder runs on the
in-memory bytes (file reading excluded), ``--repeat`` times; the median is reported.

    python benchmarks/bench_png16.py [--sizes 1000x750,6000x4000] [--repeat 3] [--old-max-mp 1]

``--old-max-mp``: the old decoder runs only on images up to that many megapixels (it needs
about 5 us per byte: minutes for a 24 MP photo).
"""
from __future__ import annotations

import argparse
import io
import statistics
import struct
import time
import zlib
from typing import Callable

import numpy as np


# ------------------------------------------------------------------------- the old decoder
def old_decode(data: bytes) -> np.ndarray:
    """``zoo.data.io._decode_png16`` before the library decoder (kept here to measure it)."""
    channels_of = {0: 1, 2: 3, 4: 2, 6: 4}
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
        pos += 12 + length
    width, height, _, colour, _, _, _ = header
    channels = channels_of[colour]
    bpp = 2 * channels
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    rows = np.frombuffer(raw[:height * (stride + 1)], np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 1:
            cur = np.cumsum(line.reshape(-1, bpp), axis=0).reshape(-1) & 0xFF
        elif kind == 2:
            cur = (line + prev) & 0xFF
        else:
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
        out[y] = cur
        prev = cur.astype(np.int32)
    array = out.view(">u2").astype(np.uint16).reshape(height, width, channels)
    return array[..., 0] if channels == 1 else array


# ------------------------------------------------------------------------------ candidates
def candidates() -> dict[str, Callable[[bytes], np.ndarray]]:
    found: dict[str, Callable[[bytes], np.ndarray]] = {"old": old_decode}
    try:
        import imagecodecs

        found["imagecodecs"] = imagecodecs.png_decode
    except ImportError:
        pass
    try:
        import cv2

        def opencv(data: bytes) -> np.ndarray:
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            return bgr[..., ::-1]

        found["opencv"] = opencv
    except ImportError:
        pass
    try:
        import pyspng

        found["pyspng"] = pyspng.load
    except ImportError:
        pass
    try:
        import png

        def pypng(data: bytes) -> np.ndarray:
            width, height, rows, info = png.Reader(bytes=data).asDirect()
            return np.vstack([np.asarray(r, np.uint16) for r in rows]).reshape(
                height, width, info["planes"])

        found["pypng"] = pypng
    except ImportError:
        pass
    from PIL import Image

    def pillow(data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im)

    found["pillow"] = pillow
    try:
        import tempfile
        from pathlib import Path

        from zoo.data.io import _read_array

        folder = Path(tempfile.mkdtemp(prefix="bench_png16-"))

        def zoo_io(data: bytes) -> np.ndarray:
            path = folder / f"{len(data)}.png"
            if not path.exists():
                path.write_bytes(data)
            return _read_array(path)

    except ImportError:  # run from outside the repository without PYTHONPATH
        return found
    found["zoo.data.io"] = zoo_io
    return found


def test_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    smooth = np.stack([xx / width, yy / height, (xx + yy) / (width + height)], -1) * 60000
    noise = rng.normal(0, 800, (height, width, 3))
    return np.clip(smooth + noise, 0, 65535).astype(np.uint16)


def encode(array: np.ndarray) -> tuple[bytes, str]:
    """libpng with adaptive filters, through whichever binding is installed."""
    try:
        import cv2

        ok, buf = cv2.imencode(".png", array[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 6])
        assert ok
        return buf.tobytes(), "opencv (libpng)"
    except ImportError:
        import imagecodecs

        return imagecodecs.png_encode(array, level=6), "imagecodecs (libpng)"


def filter_types(data: bytes, width: int, channels: int) -> dict[int, int]:
    """How many rows use each PNG filter type (proof that the image exercises all five)."""
    pos, idat = 8, []
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        if ctype == b"IDAT":
            idat.append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels * 2 + 1
    kinds = np.frombuffer(raw, np.uint8)[::stride]
    return {int(k): int((kinds == k).sum()) for k in np.unique(kinds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000x750,6000x4000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--old-max-mp", type=float, default=1.0)
    args = ap.parse_args()
    decoders = candidates()
    versions = {}
    for mod in ("imagecodecs", "cv2", "pyspng", "png", "PIL", "numpy"):
        try:
            versions[mod] = getattr(__import__(mod), "__version__", "?")
        except ImportError:
            pass
    print("versions:", ", ".join(f"{k} {v}" for k, v in versions.items()))
    print("| image | decoder | correct (exact uint16) | median time | vs old | vs imagecodecs |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        width, height = map(int, size.lower().split("x"))
        truth = test_image(width, height)
        data, encoder = encode(truth)
        label = (f"{width}x{height} RGB16 ({len(data) / 1e6:.1f} MB, {encoder}, "
                 f"rows per filter {filter_types(data, width, 3)})")
        times: dict[str, float] = {}
        correct: dict[str, str] = {}
        for name, decode in decoders.items():
            if name == "old" and width * height / 1e6 > args.old_max_mp:
                continue
            runs = []
            result = None
            if name == "zoo.data.io":
                decode(data)  # writes the file once (not timed)
            for _ in range(1 if name in ("old", "pypng") else args.repeat):
                start = time.perf_counter()
                result = decode(data)
                runs.append(time.perf_counter() - start)
            times[name] = statistics.median(runs)
            ok = result is not None and result.dtype == np.uint16 and np.array_equal(result, truth)
            correct[name] = "yes" if ok else f"no ({result.dtype}, {result.shape})"
        for name, t in times.items():
            vs_old = f"{times['old'] / t:.0f}x faster" if "old" in times and name != "old" \
                else ""
            vs_lib = f"{t / times['imagecodecs']:.2f}x its time" if "imagecodecs" in times \
                and name != "imagecodecs" else ""
            print(f"| {label} | {name} | {correct[name]} | {t * 1e3:.1f} ms | {vs_old} | "
                  f"{vs_lib} |")
            label = '"'


if __name__ == "__main__":
    main()
