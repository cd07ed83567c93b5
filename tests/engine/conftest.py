"""Engine test fixtures: a registry of stand-in components (``standins/``), so these tests check
the engine itself, whatever state the real losses/models/datasets are in."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
STANDINS = HERE / "standins"
REGISTRY = STANDINS / "registry.toml"
TINY = STANDINS / "tiny.toml"
REPO = HERE.parents[1]


@pytest.fixture
def standins():
    """The stand-in registry, also made this process's registry (for the CLI) during a test."""
    import zoo

    zoo.reset_registry(REGISTRY)
    yield zoo.get_registry()
    zoo.reset_registry()


def run_script(script: Path, args, *, timeout=120):
    """``python SCRIPT ARGS`` in a subprocess with one torch thread; returns CompletedProcess."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(script), *map(str, args)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
