"""Fixtures of the model tests: the Flare7K Uformer reference files from ``../shared``.

The folder is found beside the checkout (``tests/conftest.py``: ``<repo>/../shared`` or
``$ZOO_SHARED_DIR``); tests needing it skip with the reason when it is absent.
"""
from __future__ import annotations

import json

import pytest

from zoo.checkpoint import read_checkpoint


@pytest.fixture
def uformer_fixture(shared_dir):
    path = shared_dir / "fixtures" / "flare7k_uformer_e16_128.pt"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return read_checkpoint(path)  # the zoo's one reader (weights_only)


@pytest.fixture
def uformer_manifest(shared_dir):
    path = shared_dir / "fixtures" / "flare7k_uformer_manifest.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return json.loads(path.read_text())
