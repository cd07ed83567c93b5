"""TensorFlow checkpoints (TensorBundle, ``tf.train.Saver`` V2) read without TensorFlow.

A checkpoint ``PREFIX`` is an index file ``PREFIX.index`` and data files
``PREFIX.data-00000-of-0000N`` (the ``.meta`` graph file is not needed); a folder may hold a
``checkpoint`` text file whose ``model_checkpoint_path: "..."`` names the prefix.  The layout
(TensorFlow ``core/util/tensor_bundle``, ``core/lib/io/table``; LevelDB's ``table_format.md``):

* the index is a LevelDB-format SSTable.  Its last 48 bytes are the footer: two block handles
  (varint offset, varint size: the metaindex block, then the index block), zero padding to 40
  bytes, the magic ``0xdb4775248b80fb57`` (fixed64, little-endian).  Every block is followed by a
  5-byte trailer: the compression type (0: none) and the masked CRC-32C of block + type byte;
* a block is a run of entries ``varint shared, varint non_shared, varint value_size,
  key[shared:], value`` (keys are prefix-compressed against the previous key), then
  ``uint32 restart offsets[n]`` and ``uint32 n``.  The index block maps separator keys to the
  handles of the data blocks;
* the key ``""`` holds a ``BundleHeaderProto`` (1: num_shards, 2: endianness, 0 = little,
  3: version); every other key is a tensor name whose value is a ``BundleEntryProto``
  (1: dtype, 2: shape ``TensorShapeProto`` {2: dim {1: size}}, 3: shard_id, 4: offset, 5: size,
  6: crc32c (masked, of the tensor's bytes), 7: slices -- partitioned variables, refused);
* a tensor's bytes are ``size`` raw little-endian values at ``offset`` of data shard
  ``shard_id``, C order.

Protocol buffers are decoded by hand (varint and length-delimited fields only): nothing from the
file is executed.  Every problem is one :class:`ZooError` line naming the file.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zoo.errors import ZooError

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5
INDEX_SUFFIX = ".index"
STATE_FILE = "checkpoint"  # tf.train.Saver's folder file naming the latest prefix
_DATA_RE = re.compile(r"\.data-\d{5}-of-\d{5}$")
_MASK_DELTA = 0xA282EAD8

#: TensorFlow ``DataType`` enum -> numpy dtype (the numeric types a checkpoint holds)
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
          9: np.int64, 10: np.bool_, 17: np.uint16, 19: np.float16, 22: np.uint32,
          23: np.uint64}


# ------------------------------------------------------------------------------ CRC-32C
def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # Castagnoli, reflected
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, with google-crc32c when installed."""
    try:  # C implementation when installed (pure Python: about 11 MB/s measured)
        return int(importlib.import_module("google_crc32c").value(bytes(data)))
    except ImportError:
        pass
    crc, table = 0xFFFFFFFF, _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """LevelDB's / TensorFlow's stored form of a CRC: rotated right by 15, plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


# ------------------------------------------------------------------------- protocol buffers
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """``(field number, value)`` of a protobuf message: ints for varint / fixed fields, bytes
    for length-delimited ones."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = bytes(buf[pos:pos + size]), pos + size
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated protobuf message")
        out.append((number, value))
    return out


# ----------------------------------------------------------------------------- the index
@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor of a checkpoint lies (a ``BundleEntryProto``)."""

    name: str
    dtype: int  # TensorFlow DataType enum
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int  # masked CRC-32C of the tensor's bytes


def _entry(name: str, value: bytes) -> TensorEntry:
    dtype = shard = offset = size = crc = 0
    shape: list[int] = []
    for number, v in _fields(value):
        if number == 1 and isinstance(v, int):
            dtype = v
        elif number == 2 and isinstance(v, bytes):
            for n, dim in _fields(v):
                if n == 2 and isinstance(dim, bytes):
                    shape.append(next((int(s) for k, s in _fields(dim) if k == 1), 0))
        elif number == 3 and isinstance(v, int):
            shard = v
        elif number == 4 and isinstance(v, int):
            offset = v
        elif number == 5 and isinstance(v, int):
            size = v
        elif number == 6 and isinstance(v, int):
            crc = v
        elif number == 7:
            raise ValueError(f"tensor {name!r} is partitioned (slices), which is not supported")
    return TensorEntry(name, dtype, tuple(shape), shard, offset, size, crc)


def _block(data: bytes, offset: int, size: int) -> bytes:
    """A block's contents, its trailer checked (uncompressed, CRC)."""
    end = offset + size
    if end + BLOCK_TRAILER_SIZE > len(data):
        raise ValueError("block handle points past the end of the file")
    kind = data[end]
    if kind != 0:
        raise ValueError(f"compressed table block (type {kind}) is not supported")
    stored = int.from_bytes(data[end + 1:end + 5], "little")
    if masked_crc32c(data[offset:end + 1]) != stored:
        raise ValueError(f"block at offset {offset}: CRC-32C mismatch (corrupt index file)")
    return data[offset:end]


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise ValueError("block too short")
    restarts = int.from_bytes(block[-4:], "little")
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise ValueError("bad restart array")
    out, key, pos = [], b"", 0
    while pos < limit:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_size, pos = _varint(block, pos)
        if shared > len(key) or pos + non_shared + value_size > limit:
            raise ValueError("bad block entry")
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        out.append((key, block[pos:pos + value_size]))
        pos += value_size
    return out


def _handle(buf: bytes, pos: int) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def read_index(path: str | Path) -> tuple[int, dict[str, TensorEntry]]:
    """``(num_shards, {name: TensorEntry})`` of the index file ``path`` (``PREFIX.index``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ZooError(f"{path}: cannot read TensorFlow checkpoint index ({e.strerror})") from None
    try:
        if len(data) < FOOTER_SIZE or \
                int.from_bytes(data[-8:], "little") != TABLE_MAGIC:
            raise ValueError("not a TensorFlow checkpoint index (no table magic at its end)")
        footer = data[-FOOTER_SIZE:]
        _, _, pos = _handle(footer, 0)  # the metaindex block (empty in checkpoints)
        index_offset, index_size, _ = _handle(footer, pos)
        shards, entries = 1, {}
        for _, handle in _block_entries(_block(data, index_offset, index_size)):
            offset, size, _ = _handle(handle, 0)
            for key, value in _block_entries(_block(data, offset, size)):
                if key == b"":
                    header = dict(_fields(value))
                    shards = int(header.get(1, 1))
                    if header.get(2, 0) != 0:
                        raise ValueError("big-endian checkpoint is not supported")
                    continue
                name = key.decode("utf-8")
                entries[name] = _entry(name, value)
    except (ValueError, UnicodeDecodeError) as e:
        raise ZooError(f"{path}: {e}") from None
    return shards, entries


# ------------------------------------------------------------------------------ locating
def is_tf_checkpoint(path: str | Path) -> bool:
    """``path`` is a TensorFlow checkpoint: a folder holding one (or checkpoint folders), a
    prefix, its ``.index``, ``.data-*`` or ``.meta`` file."""
    path = Path(path).expanduser()
    if path.is_dir():
        return bool(_folder_prefixes(path))
    name = path.name
    if name.endswith((INDEX_SUFFIX, ".meta")) or _DATA_RE.search(name):
        return Path(_strip_suffix(str(path)) + INDEX_SUFFIX).is_file()
    return Path(str(path) + INDEX_SUFFIX).is_file()


def _strip_suffix(text: str) -> str:
    for suffix in (INDEX_SUFFIX, ".meta"):
        if text.endswith(suffix):
            return text[:-len(suffix)]
    return _DATA_RE.sub("", text)


def _state_prefix(folder: Path) -> Path | None:
    """The prefix a folder's ``checkpoint`` file names (``model_checkpoint_path``)."""
    state = folder / STATE_FILE
    if not state.is_file():
        return None
    match = re.search(r'^model_checkpoint_path:\s*"((?:[^"\\]|\\.)*)"',
                      state.read_text(encoding="utf-8", errors="replace"), re.M)
    if not match:
        return None
    named = Path(match.group(1))
    prefix = named if named.is_absolute() else folder / named
    if not Path(str(prefix) + INDEX_SUFFIX).is_file():  # a folder moved since it was written
        prefix = folder / named.name
    return prefix


def _folder_prefixes(folder: Path, depth: int = 1) -> list[Path]:
    """The checkpoint prefixes of ``folder``: the one its ``checkpoint`` file names, else its
    only ``*.index``; else (``depth`` levels down) one per sub-folder holding a checkpoint (a
    release's ``checkpoint/`` folder with one folder per net)."""
    prefix = _state_prefix(folder)
    if prefix is not None and Path(str(prefix) + INDEX_SUFFIX).is_file():
        return [prefix]
    indexes = sorted(folder.glob("*" + INDEX_SUFFIX))
    if len(indexes) == 1:
        return [Path(str(indexes[0])[:-len(INDEX_SUFFIX)])]
    if indexes or depth <= 0:
        return []  # several and no checkpoint file: ambiguous (see checkpoint_prefixes)
    found = []
    try:
        subs = sorted(p for p in folder.iterdir() if p.is_dir() and p.name[:1] != ".")
    except OSError:
        return []
    for sub in subs:
        found += _folder_prefixes(sub, depth - 1)
    return found


def checkpoint_prefixes(path: str | Path) -> list[Path]:
    """The checkpoint prefixes ``path`` stands for (see :func:`is_tf_checkpoint`); a one-line
    :class:`ZooError` when there are none."""
    path = Path(path).expanduser()
    if path.is_dir():
        found = _folder_prefixes(path)
        if found:
            return found
        several = sorted(p.name for p in path.glob("*" + INDEX_SUFFIX))
        if len(several) > 1:
            raise ZooError(f"{path}: several TensorFlow checkpoints ({', '.join(several[:4])}) "
                           f"and no '{STATE_FILE}' file naming one: give the .index file")
        raise ZooError(f"{path}: no TensorFlow checkpoint here (no '{STATE_FILE}' file, no "
                       f"*.index file, no sub-folder holding one)")
    prefix = Path(_strip_suffix(str(path)))
    if not Path(str(prefix) + INDEX_SUFFIX).is_file():
        raise ZooError(f"{path}: TensorFlow checkpoint index {prefix.name}{INDEX_SUFFIX} "
                       f"not found")
    return [prefix]


# ------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class TFCheckpoint:
    """One TensorFlow checkpoint: its prefix, shard count and tensor entries."""

    prefix: Path
    num_shards: int
    entries: dict[str, TensorEntry]

    @classmethod
    def open(cls, prefix: str | Path) -> "TFCheckpoint":
        prefix = Path(prefix)
        shards, entries = read_index(str(prefix) + INDEX_SUFFIX)
        return cls(prefix, shards, entries)

    def data_file(self, shard: int) -> Path:
        return Path(f"{self.prefix}.data-{shard:05d}-of-{self.num_shards:05d}")

    def tensors(self, names: list[str] | None = None,
                verify: bool = True) -> dict[str, torch.Tensor]:
        """The tensors ``names`` (default: all numeric ones) as CPU tensors in TensorFlow's
        layout; ``verify`` checks each one's CRC-32C."""
        wanted = list(self.entries) if names is None else names
        out: dict[str, torch.Tensor] = {}
        cache: dict[int, bytes] = {}
        for name in wanted:
            entry = self.entries.get(name)
            if entry is None:
                raise ZooError(f"{self.prefix}{INDEX_SUFFIX}: no variable {name!r}")
            dtype = DTYPES.get(entry.dtype)
            if dtype is None:
                if names is None:
                    continue  # strings, resources ...: not weights
                raise ZooError(f"{self.prefix}{INDEX_SUFFIX}: variable {name!r} has TensorFlow "
                               f"dtype {entry.dtype}, not a numeric type")
            if entry.shard_id not in cache:
                data_path = self.data_file(entry.shard_id)
                try:
                    cache[entry.shard_id] = data_path.read_bytes()
                except OSError as e:
                    raise ZooError(f"{data_path}: cannot read TensorFlow checkpoint data "
                                   f"({e.strerror})") from None
            data = cache[entry.shard_id]
            raw = data[entry.offset:entry.offset + entry.size]
            count = int(np.prod(entry.shape, dtype=np.int64)) if entry.shape else 1
            if len(raw) != entry.size or entry.size != count * np.dtype(dtype).itemsize:
                raise ZooError(f"{self.data_file(entry.shard_id)}: variable {name!r} "
                               f"{list(entry.shape)} needs {count * np.dtype(dtype).itemsize} "
                               f"bytes at offset {entry.offset}, the file has {len(raw)} "
                               f"(truncated or mismatched data file)")
            if verify and masked_crc32c(raw) != entry.crc32c:
                raise ZooError(f"{self.data_file(entry.shard_id)}: variable {name!r}: CRC-32C "
                               f"mismatch (corrupt data file)")
            array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(entry.shape)
            out[name] = torch.from_numpy(array.astype(np.dtype(dtype), copy=True))
        return out


def read_tf_checkpoint(path: str | Path, verify: bool = True) -> dict[str, torch.Tensor]:
    """Every numeric variable of the TensorFlow checkpoint(s) at ``path`` (a folder, a prefix,
    or one of its files), by TensorFlow name, in TensorFlow's layout (conv kernels HWIO)."""
    out: dict[str, torch.Tensor] = {}
    for prefix in checkpoint_prefixes(path):
        for name, tensor in TFCheckpoint.open(prefix).tensors(verify=verify).items():
            if name in out:
                raise ZooError(f"{path}: variable {name!r} is in two of its checkpoints")
            out[name] = tensor
    return out


SLIM_SUFFIXES = (("weight", "weights"), ("bias", "biases"))
"""zoo parameter suffix -> TensorFlow variable suffix of ``tf.contrib.slim`` layers."""
LAYERS_SUFFIXES = (("weight", "kernel"), ("bias", "bias"))
"""zoo parameter suffix -> TensorFlow variable suffix of ``tf.layers`` layers."""


def variable_scopes(variables: Mapping[str, torch.Tensor]) -> str:
    """The first few top-level scopes of a checkpoint's variables, for error messages."""
    scopes = sorted({k.split("/")[0] for k in variables})
    return ", ".join(scopes[:6]) or "none"


def state_dict_from_tf(model: torch.nn.Module, label: str, scope: str, names: Mapping[str, str],
                       variables: Mapping[str, torch.Tensor], source: str, *,
                       suffixes: tuple[tuple[str, str], ...] = SLIM_SUFFIXES,
                       prefix: str = "", hint: str = "") -> dict[str, torch.Tensor]:
    """zoo keys of ``model`` (under ``prefix``) from TensorFlow ``variables``: ``names`` maps a
    zoo conv (``conv1.0``) to its TensorFlow layer name (``g_conv1_1``) inside ``scope``, and
    ``suffixes`` a zoo parameter (``weight``) to the variable's last part (``weights``).
    Kernels ``[kh, kw, a, b]`` become ``[b, a, kh, kw]`` (conv: HWIO -> OIHW; transposed conv:
    ``[kh, kw, out, in]`` -> ``[in, out, kh, kw]``); one-line errors name the variable."""
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, tf_name in names.items():
        for suffix, tf_suffix in suffixes:
            if f"{key}.{suffix}" not in own:
                continue
            var = f"{scope}/{tf_name}/{tf_suffix}"
            if var not in variables:
                raise ZooError(f"{source}: no TensorFlow variable {var!r} for model {label!r} "
                               f"(the file's scopes: {variable_scopes(variables)})")
            value = variables[var]
            value = value.permute(3, 2, 0, 1) if value.dim() == 4 else value
            want = tuple(own[f"{key}.{suffix}"].shape)
            if tuple(value.shape) != want:
                tf_want = (want[2], want[3], want[1], want[0]) if len(want) == 4 else want
                raise ZooError(f"{source}: {var} is {list(variables[var].shape)} in the file, "
                               f"model {label!r} needs {list(tf_want)} (TensorFlow layout)"
                               f"{hint}")
            out[prefix + f"{key}.{suffix}"] = value.contiguous().float()
    return out
