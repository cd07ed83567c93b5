"""Checkpoint IO.  Everything is read with ``torch.load(weights_only=True)`` and written atomically
(a temporary file in the same folder, flushed, then renamed over the target), so a crash while
saving never leaves a truncated checkpoint behind.

Formats :func:`load_state_dict_file` reads:

* a bare state dict ``{"conv.weight": tensor, ...}``;
* BasicSR training states ``{"params_ema": sd}`` / ``{"params": sd}`` (``params_ema`` preferred,
  as BasicSR's own loader does), also ``{"state_dict": sd}`` and ``{"model": sd}``;
* ours, written by :func:`save_model_checkpoint`::

      {"format": "restoration-zoo", "format_version": 1, "model": "<registered name>",
       "config": {factory kwargs}, "state_dict": sd, "metadata": {...}}

Keys lose a leading ``module.`` (DataParallel / DistributedDataParallel) or ``_orig_mod.``
(``torch.compile``) prefix.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

import torch

from .errors import ZooError

FORMAT = "restoration-zoo"
FORMAT_VERSION = 1
_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model")
_PREFIXES = ("module.", "_orig_mod.")
_SHOWN = 5  # keys listed per category in a mismatch message


def atomic_write(path: str | Path, write: Callable[[IO], None], *, binary: bool = True) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync, then ``os.replace``.

    A crash at any point leaves either the old file or the new one, never a truncated file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_json(obj: Any, path: str | Path) -> Path:
    """JSON (indented, sorted keys, ``str`` for the rest) written atomically."""
    return atomic_write(path, lambda f: json.dump(obj, f, indent=2, sort_keys=True, default=str),
                        binary=False)


def read_checkpoint(path: str | Path) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"{path}: checkpoint file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, truncated zip, non-tensor objects ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ZooError(f"{path}: cannot read checkpoint with torch.load(weights_only=True): "
                       f"{msg}") from e


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _strip_prefixes(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in _PREFIXES:
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def is_zoo_checkpoint(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def extract_state_dict(obj: Any, source: str = "<checkpoint>") -> dict[str, torch.Tensor]:
    """The state dict inside an already-loaded checkpoint object (see the module docstring)."""
    if is_zoo_checkpoint(obj):
        sd = obj.get("state_dict")
    elif _is_state_dict(obj):
        sd = obj
    else:
        sd = None
        if isinstance(obj, dict):
            for key in _WRAPPER_KEYS:
                if _is_state_dict(obj.get(key)):
                    sd = obj[key]
                    break
    if not _is_state_dict(sd):
        keys = ", ".join(map(str, list(obj)[:6])) if isinstance(obj, dict) else type(obj).__name__
        raise ZooError(f"{source}: no state dict found (top-level keys: {keys}); expected a state "
                       f"dict, a BasicSR file with 'params_ema'/'params', or a restoration-zoo "
                       f"checkpoint")
    return _strip_prefixes(dict(sd))


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read the state dict of any supported checkpoint format (always ``weights_only=True``)."""
    return extract_state_dict(read_checkpoint(path), str(path))


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


def diff_state_dict(model: torch.nn.Module, sd: dict[str, torch.Tensor]) -> StateDictDiff:
    own = model.state_dict()
    diff = StateDictDiff(missing=[k for k in own if k not in sd],
                         unexpected=[k for k in sd if k not in own])
    diff.mismatched = [(k, tuple(sd[k].shape), tuple(v.shape)) for k, v in own.items()
                       if k in sd and tuple(sd[k].shape) != tuple(v.shape)]
    return diff


def _model_label(model: torch.nn.Module) -> str:
    return getattr(model, "zoo_name", None) or type(model).__name__


def apply_state_dict(model: torch.nn.Module, sd: dict[str, torch.Tensor], *, strict: bool = True,
                     source: str = "<state dict>") -> StateDictDiff:
    """Load ``sd`` into ``model``; strict: any difference is a :class:`ZooError` naming
    ``source`` with the diff; not strict: load the keys that fit, return the diff."""
    diff = diff_state_dict(model, sd)
    if diff and strict:
        raise ZooError(f"{source}: weights do not fit model {_model_label(model)!r}: "
                       f"{diff.describe()}")
    if diff.mismatched:
        bad = {k for k, _, _ in diff.mismatched}
        sd = {k: v for k, v in sd.items() if k not in bad}
    model.load_state_dict(sd, strict=False)
    return diff


def load_weights(model: torch.nn.Module, path: str | Path, strict: bool = True) -> StateDictDiff:
    """Load the weights in ``path`` (any supported format) into ``model``; see
    :func:`apply_state_dict`.  Returns the (empty when strict) :class:`StateDictDiff`."""
    return apply_state_dict(model, load_state_dict_file(path), strict=strict, source=str(path))


def _plain(value: Any, where: str) -> Any:
    """Config values must survive ``weights_only`` loading: tuples become lists."""
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
    raise ZooError(f"checkpoint config {where}: {type(value).__name__} values cannot be stored "
                   f"(use numbers, strings, lists and tables)")


def save_model_checkpoint(path: str | Path, model: torch.nn.Module, name: str | None = None,
                          config: dict | None = None, metadata: dict | None = None) -> Path:
    """Write ``model`` atomically with what :func:`model_from_checkpoint` needs to rebuild it.

    ``name`` is the registered model name (preset included, e.g. ``"uformer.flare7k"``; default
    ``model.zoo_name``), ``config`` the keyword arguments given to the factory on top of it.
    """
    name = name or getattr(model, "zoo_name", None)
    if not name:
        raise ZooError(f"save_model_checkpoint({path}): pass the registered model name")
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    meta = {"torch": torch.__version__}
    try:
        from . import __version__
        meta["zoo"] = __version__
    except ImportError:  # pragma: no cover
        pass
    meta.update(metadata or {})
    obj = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": name,
           "config": _plain(dict(config or {}), "config"), "state_dict": sd,
           "metadata": _plain(meta, "metadata")}
    return atomic_save(obj, path)


def model_from_checkpoint(path: str | Path, **overrides: Any) -> torch.nn.Module:
    """Rebuild a model saved by :func:`save_model_checkpoint` through the registry and load its
    weights strictly; ``overrides`` replace stored config entries (e.g. ``fused_attention``).

    The model gets ``checkpoint_metadata`` (the stored metadata) as an attribute.
    """
    obj = read_checkpoint(path)
    if isinstance(obj, dict) and "sampler" in obj and "anchor" in obj and "model" in obj:
        return _cascade_from_checkpoint(obj, str(path), overrides)
    if not is_zoo_checkpoint(obj):
        raise ZooError(f"{path}: not a restoration-zoo checkpoint (no model name inside); "
                       f"build the model by name: zoo.create_model(NAME, pretrained={str(path)!r})")
    from .registry import create_model

    config = dict(obj.get("config") or {})
    config.update(overrides)
    model = create_model(obj["model"], **config)
    apply_state_dict(model, extract_state_dict(obj, str(path)), strict=True, source=str(path))
    model.checkpoint_metadata = obj.get("metadata", {})
    return model


def _cascade_from_checkpoint(obj: dict, path: str, overrides: dict) -> torch.nn.Module:
    """A cascade saved by the engine (``stages/<stage>/cascade.pt``): frozen sampler + anchor.

    The result is ``zoo.engine.cascade.CascadedFineTuner``; ``model(x)`` = anchor(sampler(x)).
    """
    from .engine.cascade import CascadedFineTuner
    from .registry import create_model

    config = dict(obj.get("config") or {})
    config.update(overrides)
    parts = {}
    for part in ("sampler", "anchor"):
        parts[part] = create_model(obj["model"], **config)
        apply_state_dict(parts[part], extract_state_dict(obj[part], f"{path} ({part})"),
                         strict=True, source=f"{path} ({part})")
    model = CascadedFineTuner(parts["sampler"], anchor=parts["anchor"])
    model.checkpoint_metadata = obj.get("metadata", {})
    return model
