"""Test helper: run a recipe with the stand-in registry and die by SIGKILL (like ``kill -9``:
no cleanup, no checkpoint) right after a given global training step.

    python tests/engine/kill_after_step.py RECIPE OUT_DIR GLOBAL_STEP
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import torch

from zoo.engine import run_recipe
from zoo.registry import build_registry

REGISTRY = Path(__file__).resolve().parent / "standins" / "registry.toml"


def main(recipe: str, out: str, kill_at: int) -> None:
    torch.set_num_threads(1)  # as in the test process

    def on_step(stage: str, step: int, global_step: int) -> None:
        if global_step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    run_recipe(recipe, registry=build_registry(REGISTRY), out_dir=out, progress=False,
               on_step=on_step)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
