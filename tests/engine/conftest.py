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
    """Use the stand-in registry in this process for the duration of a test."""
    import zoo

    zoo.reset_registry(REGISTRY)
    yield REGISTRY
    zoo.reset_registry()


def run_cli(args, *, env=None, cwd=None, timeout=120):
    """``python -m zoo.cli --registry standins ARGS`` in a subprocess; returns CompletedProcess."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "2", **(env or {})}
    full_env.pop("ZOO_STOP_AFTER_STEP", None) if "ZOO_STOP_AFTER_STEP" not in (env or {}) else None
    cmd = [sys.executable, "-m", "zoo", "--registry", str(REGISTRY), *args]
    return subprocess.run(cmd, env=full_env, cwd=cwd or REPO, capture_output=True, text=True,
                          timeout=timeout)
