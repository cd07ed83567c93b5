"""Training state: seeding, and checkpoints with model, optimizer, scheduler, RNG and sampler
position.

A checkpoint holds everything needed to continue a stage bit-for-bit: the trainable model's
``state_dict``, the optimizer's and LR scheduler's states, the step, the data sampler position
(epoch and batch offset), the torch / numpy / python RNG states (CUDA too when used) and the
loss history.  It is written with :func:`zoo.checkpoint.write_training_state` (temporary file,
fsync, rename), so a crash or ``kill -9`` while saving leaves the previous checkpoint intact, and
read with :func:`zoo.checkpoint.read_training_state` (``torch.load(weights_only=True)``).

A finished stage whose ``checkpoint.pt`` is damaged or gone, but whose ``model.pt`` (its final
weights) is intact, is restored from ``model.pt`` on ``--resume``
(:func:`restore_finished_stage`): it needs no more steps, so its optimizer state is not needed.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.checkpoint import (apply_state_dict, read_model_checkpoint, read_training_state,
                            write_training_state)
from zoo.errors import ZooError


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """RNG states as plain tensors / tuples (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(path: str | Path, *, step: int, model, optimizer, scheduler,
                        sampler: dict, history: list, evals: list, stage: str,
                        extra: dict | None = None) -> Path:
    return write_training_state(path, {
        "stage": stage,
        "step": int(step),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "sampler": dict(sampler),
        "rng": rng_state(),
        "history": history,
        "evals": evals,
        "extra": dict(extra or {}),
    })


def load_training_state(path: str | Path, *, model, optimizer, scheduler, map_location="cpu") -> dict:
    """Restore a checkpoint into the given objects; returns it (step, sampler, history ...).

    The file is read to the CPU (``map_location`` is accepted for old callers): RNG states must
    stay CPU tensors, and ``load_state_dict`` moves model and optimizer tensors to their device.
    """
    state = read_training_state(path)
    apply_state_dict(model, state["model"], source=f"{path} (stage {state.get('stage')!r})")
    if optimizer is not None and state["optimizer"]:
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError) as e:
            raise ZooError(f"{path}: optimizer state does not match ({e})") from None
    if scheduler is not None and state["scheduler"]:
        scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state


def restore_finished_stage(stage_dir: str | Path, stage: str, steps: int) -> str | None:
    """Before a finished stage is reloaded: if ``checkpoint.pt`` cannot be read (or is gone)
    while ``model.pt`` can, keep the damaged file as ``checkpoint.pt.damaged`` and write a
    training state at step ``steps`` from ``model.pt`` and ``history.json`` (no optimizer or
    scheduler state: the stage takes no more steps).  Returns a log line saying so, or ``None``
    when the checkpoint is intact.  Both damaged: a one-line error naming both files."""
    folder = Path(stage_dir)
    checkpoint, weights = folder / "checkpoint.pt", folder / "model.pt"
    try:
        read_training_state(checkpoint)
        return None
    except ZooError as e:
        damage = str(e)
    try:
        model = read_model_checkpoint(weights)
    except ZooError as e:
        raise ZooError(f"stage {stage!r} finished, but {damage}, and its weights cannot stand in "
                       f"({e})") from None
    try:
        record = json.loads((folder / "history.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    record = record if isinstance(record, dict) else {}
    if checkpoint.exists():
        os.replace(checkpoint, checkpoint.with_name("checkpoint.pt.damaged"))
    write_training_state(checkpoint, {
        "stage": stage, "step": int(steps), "model": model.state_dict, "optimizer": {},
        "scheduler": {}, "sampler": {"epoch": 0, "offset": 0}, "rng": rng_state(),
        "history": list(record.get("history") or []), "evals": list(record.get("evals") or []),
        "extra": {"restored_from": str(weights)}})
    kept = " (kept as checkpoint.pt.damaged)" if checkpoint.with_name(
        "checkpoint.pt.damaged").exists() else ""
    return (f"[{stage}] {damage}{kept}; the finished stage's weights are read from {weights} "
            f"instead")
