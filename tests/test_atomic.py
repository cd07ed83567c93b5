"""zoo.atomic: atomic writes, one-line errors (disk full, no permission), stale temp cleanup."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

import zoo.atomic
from zoo.atomic import (WriteError, atomic_open, atomic_write_bytes, atomic_write_json,
                        atomic_write_text, make_folder, remove_stale_temps)


def _temps(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_writes_create_folders_and_leave_no_temp(tmp_path):
    target = tmp_path / "a" / "b" / "x.json"
    atomic_write_json({"b": 1, "a": [1, 2]}, target)
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
    atomic_write_text("héllo", tmp_path / "t.txt")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    with atomic_open(tmp_path / "c.csv", "w", newline="") as f:
        f.write("1,2\r\n")
    assert (tmp_path / "c.csv").read_bytes() == b"1,2\r\n"
    assert _temps(tmp_path) == [] and _temps(target.parent) == []


def test_overwrite_false_refuses_an_existing_file(tmp_path):
    target = atomic_write_bytes(b"old", tmp_path / "x.bin")
    with pytest.raises(WriteError, match="x.bin: already exists; not overwritten"):
        atomic_write_bytes(b"new", target, overwrite=False)
    assert target.read_bytes() == b"old" and _temps(tmp_path) == []
    atomic_write_bytes(b"new", tmp_path / "y.bin", overwrite=False)
    assert (tmp_path / "y.bin").read_bytes() == b"new"


def test_an_error_inside_the_block_keeps_the_old_file(tmp_path):
    target = atomic_write_text("old", tmp_path / "x.txt")
    with pytest.raises(KeyError):
        with atomic_open(target, "w") as f:
            f.write("half")
            raise KeyError("bug in the writer")
    assert target.read_text() == "old" and _temps(tmp_path) == []


def test_disk_full_is_one_line_naming_the_file(tmp_path, full_disk):
    target = atomic_write_text("old", tmp_path / "x.txt")
    full_disk(limit=3)
    with pytest.raises(WriteError) as err:
        atomic_write_text("much more than three bytes", target)
    assert str(err.value) == f"{target}: disk full (no space left on the device) while writing it"
    assert target.read_text() == "old" and _temps(tmp_path) == []


@pytest.mark.parametrize("code, words", [(errno.EACCES, "permission denied"),
                                         (errno.EROFS, "read-only file system")])
def test_unwritable_folder_is_one_line(tmp_path, monkeypatch, code, words):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(zoo.atomic, "open", refuse, raising=False)
    with pytest.raises(WriteError, match=f"x.txt: cannot write: {words}$"):
        atomic_write_text("x", tmp_path / "x.txt")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions and a non-root user")
def test_read_only_folder_for_real(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(WriteError, match="permission denied"):
            atomic_write_text("x", folder / "x.txt")
    finally:
        folder.chmod(0o700)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.skipif(os.name != "posix", reason="liveness of a pid is checked on POSIX only")
def test_stale_temps_of_dead_processes_are_removed_by_the_first_write_into_the_folder(tmp_path):
    target = tmp_path / "checkpoint.pt"
    dead = tmp_path / f".checkpoint.pt.tmp-{_dead_pid()}"
    dead_new_style = tmp_path / f".checkpoint.pt.tmp-{_dead_pid()}-3"
    dead_other = tmp_path / f".other.pt.tmp-{_dead_pid()}"
    alive = tmp_path / f".checkpoint.pt.tmp-{os.getppid()}-0"  # our parent: alive
    user_file = tmp_path / ".notes.tmp-draft"  # not a name this module makes
    for p in (dead, dead_new_style, dead_other, alive, user_file):
        p.write_bytes(b"x" * 10)
    atomic_write_bytes(b"data", target)
    assert not dead.exists() and not dead_new_style.exists() and not dead_other.exists()
    assert alive.exists() and user_file.exists() and target.read_bytes() == b"data"
    # once per folder and process; the explicit call cleans one target's files
    late = tmp_path / f".checkpoint.pt.tmp-{_dead_pid()}"
    late_other = tmp_path / f".other.pt.tmp-{_dead_pid()}"
    late.write_bytes(b"x")
    late_other.write_bytes(b"x")
    atomic_write_bytes(b"again", target)
    assert late.exists()
    assert remove_stale_temps(target) == [late] and late_other.exists()


def test_make_folder_errors_are_one_line(tmp_path, monkeypatch):
    from zoo.engine.run_folder import new_run_dir

    assert make_folder(tmp_path / "a" / "b").is_dir()
    with pytest.raises(WriteError, match="b: already exists"):
        make_folder(tmp_path / "a" / "b", exist_ok=False)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WriteError, match="file: cannot make the folder: a file is in the way"):
        make_folder(blocker)
    with pytest.raises(WriteError, match="cannot write: Not a directory"):
        make_folder(blocker / "sub")
    with pytest.raises(WriteError, match="cannot write"):  # zoo run --out <file>/runs
        new_run_dir(blocker / "runs", "tiny")

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(type(tmp_path), "mkdir", read_only)
    with pytest.raises(WriteError, match="ro: cannot write: read-only file system"):
        make_folder(tmp_path / "ro")
