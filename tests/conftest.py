"""Shared fixtures.  The registry is process-wide; tests that change it rebuild it afterwards.

The test session names the example configuration, examples/registry.toml, explicitly
(``ZOO_REGISTRY``), so its local plugin is loaded without trusting the folder, and uses a
throw-away user config folder (``ZOO_CONFIG_DIR``), so no test reads or writes the real trust
store.  Subprocesses
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

#: the registry.toml the person running the tests named, if any: the loss battery
#: (tests/losses/test_battery.py) runs over it, so a plugin author can test a local module with
#: `ZOO_REGISTRY=my/registry.toml pytest tests/losses/test_battery.py`
USER_REGISTRY = os.environ.get("ZOO_USER_REGISTRY") or os.environ.get("ZOO_REGISTRY") or ""
os.environ["ZOO_USER_REGISTRY"] = USER_REGISTRY  # subprocesses and xdist workers see it too
os.environ["ZOO_REGISTRY"] = str(REPO / "examples" / "registry.toml")
os.environ["ZOO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="zoo-test-config-")

torch.set_num_threads(1)  # xdist runs one worker per core
# ... and so do the runs a test starts in a subprocess: threads = "auto" follows this
os.environ["OMP_NUM_THREADS"] = "1"
# The suite never downloads pretrained weights (zoo.hub); tests of the download path switch this
# off against a local 127.0.0.1 server.
os.environ["ZOO_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def _restore_process_registry():
    """A command run in-process (``zoo.cli.main``) installs its registry process-wide; give the
    next test the registry it would have had (a test's ``--registry`` plugins must not leak)."""
    import zoo.registry

    saved = zoo.registry._REGISTRY, zoo.registry._REGISTRY_PATH
    yield
    if (zoo.registry._REGISTRY, zoo.registry._REGISTRY_PATH) != saved:
        zoo.registry._REGISTRY, zoo.registry._REGISTRY_PATH = saved


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


class _FullDiskFile:
    """A real file whose ``write`` fails with ENOSPC once ``limit`` bytes have been written."""

    def __init__(self, file, limit: int):
        self._file, self._limit, self._written = file, limit, 0

    def write(self, data):
        import errno

        size = len(data)
        if self._written + size > self._limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._written += size
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(limit)``: from now on, files opened by :mod:`zoo.atomic` take ``limit``
    bytes and then fail with ``OSError(ENOSPC)``, as on a full disk."""
    import builtins

    import zoo.atomic

    def install(limit: int = 0) -> None:
        def fake_open(file, mode="r", *args, **kwargs):
            return _FullDiskFile(builtins.open(file, mode, *args, **kwargs), limit)

        monkeypatch.setattr(zoo.atomic, "open", fake_open, raising=False)

    return install
