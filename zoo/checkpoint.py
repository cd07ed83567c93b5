"""Weight and state IO: every model weight, cascade and training state the zoo reads or writes.

Reading never runs code from the file: ``.safetensors`` files are read with safetensors (no
pickle at all), everything else with ``torch.load(map_location="cpu", weights_only=True)``.  A
refused pickle is reported on one line naming what it asked for (e.g. ``posix.system``).
Writing is atomic (:mod:`zoo.atomic`): a crash leaves the old file or the new one.

Files :func:`read_checkpoint` / :func:`load_state_dict_file` understand:

* a bare state dict ``{"conv.weight": tensor, ...}`` (``.pt``/``.pth`` or ``.safetensors``);
* wrappers, tried in this one order (:data:`WRAPPER_KEYS`): BasicSR's ``params_ema`` then
  ``params`` (the EMA weights first, as BasicSR's own loader does), then ``state_dict`` and
  ``model``;
* a model checkpoint (:func:`save_model_checkpoint`), which also names the registered model
  and its factory arguments, so :func:`model_from_checkpoint` rebuilds it::

      {"format": "restoration-zoo", "format_version": 1, "model": "<registered name>",
       "config": {factory kwargs}, "state_dict": sd, "metadata": {...}}

  As ``.safetensors`` the tensors are the state dict and the header metadata holds ``format``,
  ``format_version``, ``model`` and JSON-encoded ``config`` and ``metadata``;
* a cascade checkpoint (:func:`save_cascade_checkpoint`, the engine's ``cascade.pt``): frozen
  sampler + trained anchor of one model (:func:`load_cascade_checkpoint`)::

      {"format": "restoration-zoo-cascade", "format_version": 1, "model": ..., "config": ...,
       "sampler": sd, "anchor": sd, "metadata": {...}}

  (``.safetensors``: keys ``sampler.<key>`` and ``anchor.<key>``).  Files of the first
  engine, without ``format``, read as ``format_version`` 0;
* a training state (:func:`write_training_state`, the engine's ``checkpoint.pt``): model,
  optimizer, scheduler, RNG and data positions, ``{"format": "zoo-training-state/1", ...}``.

A TensorFlow checkpoint (a folder, a prefix or its ``.index`` / ``.data-*`` / ``.meta`` file;
:mod:`zoo.tf_checkpoint`) loads with :func:`load_weights` into a model that maps TensorFlow
variable names (a ``from_tf_variables(variables, source)`` method, e.g. the KinD nets); the
other readers name it as such rather than failing inside ``torch.load``.

State dict keys lose a leading ``module.`` (DataParallel / DistributedDataParallel) or
``_orig_mod.`` (``torch.compile``) prefix.  Loading is strict by default; a mismatch is one line
listing the missing, unexpected and mis-shaped keys (:class:`StateDictDiff`).
"""
from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from zoo.version import __version__
from zoo.atomic import atomic_write, atomic_write_bytes, atomic_write_json  # noqa: F401
from zoo.errors import ZooError
from zoo.tf_checkpoint import is_tf_checkpoint, read_tf_checkpoint

FORMAT = "restoration-zoo"
FORMAT_VERSION = 1
CASCADE_FORMAT = "restoration-zoo-cascade"
CASCADE_FORMAT_VERSION = 1
TRAINING_STATE_FORMAT = "zoo-training-state/1"
#: Wrapper keys of foreign checkpoints, tried in this order.
WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model")
SAFETENSORS_SUFFIX = ".safetensors"
_PREFIXES = ("module.", "_orig_mod.")
_CASCADE_PARTS = ("sampler", "anchor")
_SHOWN = 5  # keys listed per category in a mismatch message


class MissingWeightsWarning(UserWarning):
    """A checkpoint lacked the weights of a part of a model, which then runs without that part
    (e.g. KinD's chain without its restoration net); ``zoo infer`` prints it as one notice."""


# ------------------------------------------------------------------------------------- reading
def _load_error(error: Exception) -> str:
    """What went wrong in ``torch.load(weights_only=True)``, in a few words.

    A refused pickle names what it asked to import (``posix.system``, ``builtins.eval``, a
    class); PyTorch's advice to re-run with ``weights_only=False`` is dropped.
    """
    text = str(error)
    match = re.search(r"GLOBAL ([\w.]+)", text)
    if match:
        name = match.group(1)
        name = name if "." in name else f"builtins.{name}"
        return (f"refused: the file asks to import {name}, and only tensors and plain "
                f"containers are accepted (torch.load(weights_only=True) runs no code)")
    match = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = match.group(1).strip() if match else (lines[0] if lines else type(error).__name__)
    return f"cannot read checkpoint with torch.load(weights_only=True): {reason[:200]}"


def _read_safetensors(path: Path) -> Any:
    """The tensors of a safetensors file, rebuilt into the dict a ``.pt`` file would hold."""
    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = dict(f.metadata() or {})
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    kind = meta.get("format")
    if kind not in (FORMAT, CASCADE_FORMAT):
        return tensors
    try:
        obj: dict[str, Any] = {
            "format": kind, "format_version": int(meta.get("format_version", "0")),
            "model": meta.get("model", ""), "config": json.loads(meta.get("config", "{}")),
            "metadata": json.loads(meta.get("metadata", "{}"))}
    except ValueError as e:
        raise ZooError(f"{path}: malformed restoration-zoo header in the safetensors file "
                       f"({e})") from None
    if kind == FORMAT:
        obj["state_dict"] = tensors
    else:
        for part in _CASCADE_PARTS:
            obj[part] = {k[len(part) + 1:]: v for k, v in tensors.items()
                         if k.startswith(part + ".")}
    return obj


def read_checkpoint(path: str | Path) -> Any:
    """The object stored in ``path``: safetensors, or ``torch.load(weights_only=True)``.

    Every failure (missing, truncated, foreign, code-carrying file) is a one-line
    :class:`ZooError` naming the file.
    """
    path = Path(path).expanduser()
    if is_tf_checkpoint(path):
        raise ZooError(f"{path}: a TensorFlow checkpoint, which loads only into a model that "
                       f"maps TensorFlow names: zoo.create_model(NAME, pretrained=PATH) or zoo "
                       f"infer NAME --weights PATH (NAME e.g. kind-decom; see docs/models.md)")
    if path.is_dir():
        raise ZooError(f"{path}: a folder, not a checkpoint file (and no TensorFlow checkpoint "
                       f"in it or its sub-folders)")
    if not path.is_file():
        raise ZooError(f"{path}: checkpoint file not found")
    if path.suffix == SAFETENSORS_SUFFIX:
        try:
            return _read_safetensors(path)
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise ZooError(f"{path}: cannot read safetensors file: "
                           f"{str(e).strip().splitlines()[0] if str(e).strip() else e}") from None
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error says it
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, truncated zip, non-tensor objects ...
        raise ZooError(f"{path}: {_load_error(e)}") from None


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _strip_prefixes(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in _PREFIXES:
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def is_zoo_checkpoint(obj: Any) -> bool:
    """A model checkpoint written by :func:`save_model_checkpoint`."""
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def is_cascade_checkpoint(obj: Any) -> bool:
    """A cascade checkpoint: :func:`save_cascade_checkpoint`'s or the first engine's."""
    if not isinstance(obj, dict):
        return False
    return obj.get("format") == CASCADE_FORMAT or (
        "format" not in obj and all(k in obj for k in ("sampler", "anchor", "model")))


def extract_state_dict(obj: Any, source: str = "<checkpoint>") -> dict[str, torch.Tensor]:
    """The state dict inside an already-loaded checkpoint object (see the module docstring)."""
    if is_zoo_checkpoint(obj):
        sd = obj.get("state_dict")
    elif _is_state_dict(obj):
        sd = obj
    else:
        sd = None
        if isinstance(obj, dict):
            for key in WRAPPER_KEYS:
                if _is_state_dict(obj.get(key)):
                    sd = obj[key]
                    break
    if not _is_state_dict(sd):
        keys = ", ".join(map(str, list(obj)[:6])) if isinstance(obj, dict) else type(obj).__name__
        hint = " (a cascade checkpoint: load it with zoo.engine.cascade.cascade_from_checkpoint)" \
            if is_cascade_checkpoint(obj) else ""
        raise ZooError(f"{source}: no state dict found (top-level keys: {keys}); expected a state "
                       f"dict, a BasicSR file with 'params_ema'/'params', or a restoration-zoo "
                       f"checkpoint{hint}")
    return _strip_prefixes(dict(sd))


def load_state_dict_file(path: str | Path, what: str | None = None) -> dict[str, torch.Tensor]:
    """The state dict in ``path``, any supported format; ``what`` prefixes error messages."""
    try:
        return extract_state_dict(read_checkpoint(path), str(path))
    except ZooError as e:
        if what:
            raise ZooError(f"{what}: {e}") from None
        raise


# --------------------------------------------------------------------------- applying weights
@dataclass
class StateDictDiff:
    """How a state dict differs from a model's: missing, unexpected and shape-mismatched keys."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # key, file, model

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched)

    def describe(self, shown: int = _SHOWN) -> str:
        """One line: each non-empty category with its count and the first ``shown`` keys."""
        def listing(items: list[str]) -> str:
            more = f", ... {len(items) - shown} more" if len(items) > shown else ""
            return ", ".join(items[:shown]) + more

        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing key(s) [{listing(self.missing)}]")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected key(s) "
                         f"[{listing(self.unexpected)}]")
        if self.mismatched:
            items = [f"{k}: file {list(a)} vs model {list(b)}" for k, a, b in self.mismatched]
            parts.append(f"{len(self.mismatched)} shape mismatch(es) [{listing(items)}]")
        return "; ".join(parts)


def diff_state_dict(model: torch.nn.Module, sd: Mapping[str, torch.Tensor]) -> StateDictDiff:
    own = model.state_dict()
    diff = StateDictDiff(missing=[k for k in own if k not in sd],
                         unexpected=[k for k in sd if k not in own])
    diff.mismatched = [(k, tuple(sd[k].shape), tuple(v.shape)) for k, v in own.items()
                       if k in sd and tuple(sd[k].shape) != tuple(v.shape)]
    return diff


def _model_label(model: torch.nn.Module) -> str:
    return getattr(model, "zoo_name", None) or type(model).__name__


def apply_state_dict(model: torch.nn.Module, sd: Mapping[str, torch.Tensor], *,
                     strict: bool = True, source: str = "<state dict>") -> StateDictDiff:
    """Load ``sd`` into ``model``; strict: any difference is a :class:`ZooError` naming
    ``source`` with the diff; not strict: load the keys that fit, return the diff."""
    diff = diff_state_dict(model, sd)
    if diff and strict:
        raise ZooError(f"{source}: weights do not fit model {_model_label(model)!r}: "
                       f"{diff.describe()}")
    if diff.mismatched:
        bad = {k for k, _, _ in diff.mismatched}
        sd = {k: v for k, v in sd.items() if k not in bad}
    model.load_state_dict(dict(sd), strict=False)
    return diff


def load_weights(model: torch.nn.Module, path: str | Path, strict: bool = True) -> StateDictDiff:
    """Load the weights in ``path`` (any supported format, TensorFlow checkpoints included for
    models with ``from_tf_variables``) into ``model``; see :func:`apply_state_dict`.  Returns
    the (empty when strict) :class:`StateDictDiff`."""
    if is_tf_checkpoint(path):
        convert = getattr(model, "from_tf_variables", None)
        if not callable(convert):
            raise ZooError(f"{path}: a TensorFlow checkpoint, and model {_model_label(model)!r} "
                           f"has no mapping of TensorFlow variable names (docs/models.md lists "
                           f"the models that load one)")
        sd = convert(read_tf_checkpoint(path), str(path))
        return apply_state_dict(model, sd, strict=strict, source=str(path))
    return apply_state_dict(model, load_state_dict_file(path), strict=strict, source=str(path))


# ------------------------------------------------------------------------------------- writing
def _plain(value: Any, where: str) -> Any:
    """Config values must survive ``weights_only`` loading and JSON: tuples become lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if value is None:
        return None
    for kind in (bool, int, float, str):  # exact built-in types (not e.g. TorchVersion)
        if isinstance(value, kind):
            return kind(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / 0-d tensor
        return _plain(value.item(), where)
    raise ZooError(f"checkpoint {where}: {type(value).__name__} values cannot be stored "
                   f"(use numbers, strings, lists and tables)")


def _cpu_state(source: torch.nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    sd = source.state_dict() if isinstance(source, torch.nn.Module) else source
    return {str(k): v.detach().cpu() for k, v in sd.items()}


def _stamp(metadata: Mapping | None) -> dict:
    return _plain({"torch": str(torch.__version__), "zoo": __version__, **dict(metadata or {})},
                  "metadata")


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` written atomically (see :func:`zoo.atomic.atomic_write`)."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def _save_safetensors(path: Path, tensors: dict[str, torch.Tensor],
                      header: Mapping[str, str] | None) -> Path:
    # safetensors refuses tensors that share memory (tied weights): give each its own copy
    own = {k: v.contiguous().clone() for k, v in tensors.items()}
    return atomic_write_bytes(safetensors_bytes(own, dict(header) if header else None), path)


def _header(kind: str, version: int, name: str, config: Any, metadata: Any) -> dict[str, str]:
    return {"format": kind, "format_version": str(version), "model": name,
            "config": json.dumps(config, sort_keys=True),
            "metadata": json.dumps(metadata, sort_keys=True)}


def save_state_dict(path: str | Path, weights: torch.nn.Module | Mapping[str, torch.Tensor],
                    metadata: Mapping[str, str] | None = None) -> Path:
    """A bare state dict (of a module or a mapping), atomically; ``.safetensors`` (with
    ``metadata`` as its string header) or ``torch.save`` by the suffix of ``path``."""
    path, sd = Path(path), _cpu_state(weights)
    if path.suffix == SAFETENSORS_SUFFIX:
        return _save_safetensors(path, sd, {str(k): str(v) for k, v in (metadata or {}).items()})
    return atomic_save(sd, path)


def save_model_checkpoint(path: str | Path, model: torch.nn.Module, name: str | None = None,
                          config: Mapping | None = None, metadata: Mapping | None = None) -> Path:
    """Write ``model`` atomically with what :func:`model_from_checkpoint` needs to rebuild it.

    ``name`` is the registered model name (preset included, e.g. ``"uformer.flare7k"``; default
    ``model.zoo_name``), ``config`` the keyword arguments given to the factory on top of it.
    A ``.safetensors`` path writes safetensors (no pickle), anything else ``torch.save``.
    """
    name = name or getattr(model, "zoo_name", None)
    if not name:
        raise ZooError(f"save_model_checkpoint({path}): pass the registered model name")
    path, sd = Path(path), _cpu_state(model)
    config, meta = _plain(dict(config or {}), "config"), _stamp(metadata)
    if path.suffix == SAFETENSORS_SUFFIX:
        return _save_safetensors(path, sd, _header(FORMAT, FORMAT_VERSION, name, config, meta))
    return atomic_save({"format": FORMAT, "format_version": FORMAT_VERSION, "model": name,
                        "config": config, "state_dict": sd, "metadata": meta}, path)


def save_cascade_checkpoint(path: str | Path, sampler: torch.nn.Module | Mapping,
                            anchor: torch.nn.Module | Mapping, model_name: str,
                            model_args: Mapping | None = None,
                            metadata: Mapping | None = None) -> Path:
    """A cascade (frozen sampler + trained anchor, two instances of registered ``model_name``
    built with ``model_args``) written atomically; read back by :func:`load_cascade_checkpoint`.
    """
    path = Path(path)
    config, meta = _plain(dict(model_args or {}), "config"), _stamp(metadata)
    parts = {"sampler": _cpu_state(sampler), "anchor": _cpu_state(anchor)}
    if path.suffix == SAFETENSORS_SUFFIX:
        flat = {f"{part}.{k}": v for part, sd in parts.items() for k, v in sd.items()}
        return _save_safetensors(path, flat, _header(CASCADE_FORMAT, CASCADE_FORMAT_VERSION,
                                                     model_name, config, meta))
    return atomic_save({"format": CASCADE_FORMAT, "format_version": CASCADE_FORMAT_VERSION,
                        "model": model_name, "config": config, **parts, "metadata": meta}, path)


# ---------------------------------------------------------------------------- typed checkpoints
def _check_version(obj: Mapping, supported: int, source: str) -> int:
    version = obj.get("format_version", 0)
    if not isinstance(version, int) or version > supported:
        raise ZooError(f"{source}: format_version {version!r} is newer than this restoration-zoo "
                       f"reads ({supported}); upgrade restoration-zoo")
    return version


class ModelFactory(Protocol):
    """What rebuilding a checkpoint needs of the registry (:class:`zoo.registry.Registry`)."""

    def create(self, kind: str, name: str, **kwargs: Any) -> Any: ...


def _build(registry: ModelFactory, name: str, config: Mapping, overrides: Mapping,
           state: Mapping[str, torch.Tensor], source: str) -> torch.nn.Module:
    kwargs = {**dict(config), **dict(overrides)}
    check_shapes_first(registry, name, kwargs, state, source)
    model = registry.create("models", name, **kwargs)
    apply_state_dict(model, state, strict=True, source=source)
    return model


def check_shapes_first(registry: ModelFactory, name: str, kwargs: Mapping[str, Any],
                       state: Mapping[str, torch.Tensor], source: str) -> None:
    """Build the model on PyTorch's ``meta`` device (shapes, no memory) and refuse, in one line,
    a configuration whose parameters are not the file's: a checkpoint whose config asks for
    ``width=3000`` beside small weights would otherwise allocate gigabytes before the strict
    load fails.  So what a checkpoint builds is never larger than the weights it carries.  A
    factory that cannot be built on ``meta`` (it reads files, say) is built as before."""
    try:
        with torch.device("meta"):
            probe = registry.create("models", name, **dict(kwargs))
        shapes = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    except Exception:  # the real build below reports any real problem
        return
    stored = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    wanted = sum(math.prod(s) for s in shapes.values())
    held = sum(math.prod(s) for s in stored.values())
    differ = [k for k in shapes if k in stored and shapes[k] != stored[k]]
    if differ or wanted > max(held, 1) * 2:
        key = differ[0] if differ else next(iter(shapes), "?")
        given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no arguments"
        raise ZooError(f"{source}: model {name!r} with {given} has {wanted:,} parameters "
                       f"({key}: {shapes.get(key)}), but the file holds {held:,} "
                       f"({key}: {stored.get(key)}); not built")


@dataclass(frozen=True)
class ModelCheckpoint:
    """A model checkpoint: registered name, factory arguments, weights and metadata."""

    model_name: str
    model_args: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any]
    format_version: int
    source: str

    @classmethod
    def from_object(cls, obj: Any, source: str) -> "ModelCheckpoint":
        if not is_zoo_checkpoint(obj):
            hint = (" (a cascade checkpoint: load it with "
                    "zoo.engine.cascade.cascade_from_checkpoint)") if is_cascade_checkpoint(obj) \
                else (f"; build the model by name: zoo.create_model(NAME, "
                      f"pretrained={source!r})")
            raise ZooError(f"{source}: not a restoration-zoo model checkpoint (no model name "
                           f"inside){hint}")
        return cls(str(obj.get("model", "")), dict(obj.get("config") or {}),
                   extract_state_dict(obj, source), dict(obj.get("metadata") or {}),
                   _check_version(obj, FORMAT_VERSION, source), source)

    def build(self, registry: ModelFactory, **overrides: Any) -> torch.nn.Module:
        """The model rebuilt through ``registry`` (``overrides`` replace stored arguments), its
        weights loaded strictly; ``checkpoint_metadata`` holds the stored metadata."""
        model = _build(registry, self.model_name, self.model_args, overrides, self.state_dict,
                       self.source)
        # torch types Module.__setattr__'s value as Tensor | Module; any value is accepted
        model.checkpoint_metadata = dict(self.metadata)  # type: ignore[assignment]
        return model


@dataclass(frozen=True)
class CascadeCheckpoint:
    """A cascade checkpoint: two instances of one registered model, sampler and anchor."""

    model_name: str
    model_args: dict[str, Any]
    sampler_state: dict[str, torch.Tensor]
    anchor_state: dict[str, torch.Tensor]
    metadata: dict[str, Any]
    format_version: int
    source: str

    @classmethod
    def from_object(cls, obj: Any, source: str) -> "CascadeCheckpoint":
        if not is_cascade_checkpoint(obj):
            raise ZooError(f"{source}: not a cascade checkpoint (no 'sampler' and 'anchor' "
                           f"weights inside)")
        states = [extract_state_dict(obj[part], f"{source} ({part})") for part in _CASCADE_PARTS]
        return cls(str(obj["model"]), dict(obj.get("config") or {}), states[0], states[1],
                   dict(obj.get("metadata") or {}),
                   _check_version(obj, CASCADE_FORMAT_VERSION, source), source)

    def build_parts(self, registry: ModelFactory,
                    **overrides: Any) -> tuple[torch.nn.Module, torch.nn.Module]:
        """``(sampler, anchor)`` rebuilt through ``registry``, weights loaded strictly."""
        return tuple(_build(registry, self.model_name, self.model_args, overrides,  # type: ignore
                            state, f"{self.source} ({part})")
                     for part, state in zip(_CASCADE_PARTS, (self.sampler_state,
                                                             self.anchor_state)))


def read_model_checkpoint(path: str | Path) -> ModelCheckpoint:
    """The :class:`ModelCheckpoint` in ``path`` (``.pt`` or ``.safetensors``)."""
    return ModelCheckpoint.from_object(read_checkpoint(path), str(path))


def load_cascade_checkpoint(path: str | Path) -> CascadeCheckpoint:
    """The :class:`CascadeCheckpoint` in ``path`` (any ``format_version`` up to the current)."""
    return CascadeCheckpoint.from_object(read_checkpoint(path), str(path))


def model_from_checkpoint(path: str | Path, registry: ModelFactory,
                          **overrides: Any) -> torch.nn.Module:
    """Rebuild a model saved by :func:`save_model_checkpoint` through ``registry`` and load its
    weights strictly; ``overrides`` replace stored config entries (e.g. ``fused_attention``).

    The model gets ``checkpoint_metadata`` (the stored metadata) as an attribute.  Cascade files
    are built by :func:`zoo.engine.cascade.cascade_from_checkpoint`.
    """
    return read_model_checkpoint(path).build(registry, **overrides)


# ----------------------------------------------------------------------------- training states
def write_training_state(path: str | Path, state: Mapping[str, Any]) -> Path:
    """A training state (model, optimizer, scheduler, RNG, ... as tensors and plain
    containers) written atomically with ``format`` = :data:`TRAINING_STATE_FORMAT`."""
    return atomic_save({**dict(state), "format": TRAINING_STATE_FORMAT}, path)


def read_training_state(path: str | Path) -> dict[str, Any]:
    """A training state written by :func:`write_training_state` (``weights_only=True``)."""
    state = read_checkpoint(path)
    if not isinstance(state, dict) or state.get("format") != TRAINING_STATE_FORMAT:
        raise ZooError(f"{path}: not a zoo training checkpoint")
    return state
