"""Shared fixtures.  The registry is process-wide; tests that change it rebuild it afterwards."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ZOO_SHARED_DIR", REPO.parent / "shared"))

torch.set_num_threads(1)  # xdist runs one worker per core
# The suite never downloads pretrained weights (zoo.hub); tests of the download path switch this
# off against a local 127.0.0.1 server.
os.environ["ZOO_OFFLINE"] = "1"


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
