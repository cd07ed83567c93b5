"""Shared fixtures.  The registry is process-wide; tests that change it rebuild it afterwards.

The test session names this checkout's registry.toml explicitly (``ZOO_REGISTRY``), so the
example local plugin is loaded without trusting the folder, and uses a throw-away user config
folder (``ZOO_CONFIG_DIR``), so no test reads or writes the real trust store.  Subprocesses
inherit both; tests of the trust model unset ``ZOO_REGISTRY`` themselves.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ZOO_SHARED_DIR", REPO.parent / "shared"))

os.environ["ZOO_REGISTRY"] = str(REPO / "registry.toml")
os.environ["ZOO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="zoo-test-config-")

torch.set_num_threads(1)  # xdist runs one worker per core


@pytest.fixture
def fresh_registry():
    """Rebuild the registry before and after a test that installs plugins of its own."""
    import zoo

    zoo.reset_registry()
    yield
    zoo.reset_registry()


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared fixtures folder {SHARED} is absent")
    return SHARED
