"""Atomic file writes: every file the zoo writes goes through :func:`atomic_open`.

The data goes to a temporary file beside the target (``.<name>.tmp-<pid>-<n>``), is flushed and
``fsync``-ed, then renamed over the target with ``os.replace`` (atomic on POSIX and Windows).  A
crash or ``kill -9`` at any point leaves either the old file or the new one, never a truncated
one.  What can remain after ``kill -9`` is the temporary file; the first write of a process into
a folder removes the temporary files there of processes that no longer exist (POSIX only: there
``os.kill(pid, 0)`` tells whether a process lives; a live process, even an unrelated one that
reuses the pid, keeps its file).  Once per folder and process, so that writing many files into
one folder does not list it again for each file.

Failures are one-line :class:`WriteError` messages naming the path: "disk full" (``ENOSPC``,
``EDQUOT``), "permission denied" / "read-only file system", or the system's own words, also when
the writer (``torch.save``'s zip writer, say) hides the ``OSError`` behind its own exception.

This module sits at the bottom of the layering: it imports only :mod:`zoo.errors`.
"""
from __future__ import annotations

import errno
import itertools
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator, cast

from zoo.errors import ZooError

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NOT_ALLOWED = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                errno.EROFS: "read-only file system"}
_COUNTER = itertools.count()


class WriteError(ZooError):
    """A file could not be written (disk full, no permission, ...); the old file is unchanged."""


class _TrackedFile:
    """A file object that remembers the first ``OSError`` its ``write`` raised.

    Some writers swallow that error and fail later with one of their own (``torch.save`` says
    ``unexpected pos 2062912 vs 2062800`` on a full disk); the remembered error names the cause.
    """

    def __init__(self, file: IO) -> None:
        self._file = file
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self._file.write(data)
        except OSError as e:
            self.error = self.error or e
            raise

    def __getattr__(self, name: str) -> Any:  # flush, tell, seek, fileno, ... of the real file
        return getattr(self._file, name)


def temp_path(path: Path) -> Path:
    """A fresh temporary name beside ``path`` for this process: ``.<name>.tmp-<pid>-<n>``."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{next(_COUNTER)}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, owned by someone else
        return True
    return True


_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.tmp-(?P<pid>\d+)(?:-\d+)?$")
_CLEANED_FOLDERS: set[str] = set()


def remove_stale_temps(path: str | Path, *, whole_folder: bool = False) -> list[Path]:
    """Delete the temporary files of ``path`` (or, ``whole_folder``, of every target in its
    folder) left by processes that no longer run.  Returns the files removed.

    Does nothing off POSIX (no safe liveness test there).
    """
    path = Path(path)
    if os.name != "posix" or not path.parent.is_dir():
        return []
    removed = []
    for candidate in path.parent.iterdir():
        match = _TEMP_NAME.match(candidate.name)
        if not match or not (whole_folder or match.group("target") == path.name):
            continue
        pid = int(match.group("pid"))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        try:
            candidate.unlink()
            removed.append(candidate)
        except OSError:  # cleaned by another writer first, or not ours to remove: leave it
            pass
    return removed


def _clean_folder_once(path: Path) -> None:
    folder = str(path.parent.resolve())
    if folder not in _CLEANED_FOLDERS:
        _CLEANED_FOLDERS.add(folder)
        remove_stale_temps(path, whole_folder=True)


def describe_os_error(path: Path, error: OSError) -> str:
    """One line naming ``path`` and what went wrong, in plain words."""
    if error.errno in _DISK_FULL:
        return f"{path}: disk full (no space left on the device) while writing it"
    if error.errno in _NOT_ALLOWED:
        return f"{path}: cannot write: {_NOT_ALLOWED[error.errno]}"
    reason = error.strerror or str(error) or type(error).__name__
    return f"{path}: cannot write: {reason}"


def make_folder(path: str | Path, *, exist_ok: bool = True) -> Path:
    """``path.mkdir(parents=True)`` with a one-line :class:`WriteError` when it cannot be made
    (read-only, no permission, a file in the way); ``exist_ok=False`` refuses an existing one."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=exist_ok)
    except FileExistsError:
        if path.is_dir():
            raise WriteError(f"{path}: already exists") from None
        raise WriteError(f"{path}: cannot make the folder: a file is in the way") from None
    except OSError as e:
        raise WriteError(describe_os_error(path, e)) from None
    return path


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; elsewhere folders cannot be opened)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on folders: the data is synced anyway
        pass
    finally:
        os.close(fd)


def _link_new(tmp: Path, path: Path) -> None:
    """Give ``tmp``'s content the name ``path`` only if no file has it (never replaces one)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise WriteError(f"{path}: already exists; not overwritten") from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if path.exists():  # no hard links here (FAT, some network shares): check, then rename
            raise WriteError(f"{path}: already exists; not overwritten") from None
        os.replace(tmp, path)


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", *, newline: str | None = None,
                overwrite: bool = True) -> Iterator[IO]:
    """``with atomic_open(path, "w") as f: ...``: write ``f``; on leaving the block it is
    fsync-ed and renamed to ``path``; on an error ``path`` is left as it was.

    Args:
        path: the target; missing folders are created.
        mode: ``"wb"`` or ``"w"`` (text, UTF-8).
        newline: text mode's ``newline`` (``""`` for the csv module).
        overwrite: replace an existing ``path``; when False an existing file is a
            :class:`WriteError` (also when it appears while writing).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    if not overwrite and path.exists():
        raise WriteError(f"{path}: already exists; not overwritten")
    tracked: _TrackedFile | None = None
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _clean_folder_once(path)
        text = mode == "w"
        with open(tmp, mode, encoding="utf-8" if text else None,
                  newline=newline if text else None) as raw:
            tracked = _TrackedFile(raw)
            yield cast(IO, tracked)  # a proxy: every other attribute is the real file's
            raw.flush()
            os.fsync(raw.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
        _fsync_folder(path.parent)
    except OSError as e:
        raise WriteError(describe_os_error(path, e)) from None
    except ZooError:
        raise
    except Exception:
        if tracked is not None and tracked.error is not None:  # the writer hid an OSError
            raise WriteError(describe_os_error(path, tracked.error)) from None
        raise
    finally:
        try:
            tmp.unlink()
        except OSError:  # already renamed, or never created
            pass


def atomic_write(path: str | Path, write: Callable[[IO], Any], *, binary: bool = True,
                 newline: str | None = None, overwrite: bool = True) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, rename it to ``path``
    (see :func:`atomic_open`).  A crash leaves the old file or the new one; an error leaves the
    old one and removes the temporary file.
    """
    with atomic_open(path, "wb" if binary else "w", newline=newline, overwrite=overwrite) as f:
        write(f)
    return Path(path)


def atomic_write_bytes(data: bytes | bytearray, path: str | Path, *,
                       overwrite: bool = True) -> Path:
    """``data`` written atomically to ``path`` (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(data), overwrite=overwrite)


def atomic_write_text(text: str, path: str | Path, *, overwrite: bool = True) -> Path:
    """UTF-8 ``text`` written atomically to ``path`` (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(text), binary=False, overwrite=overwrite)


def atomic_write_json(obj: Any, path: str | Path, *, overwrite: bool = True) -> Path:
    """JSON (indented, sorted keys, ``str`` for the rest) written atomically."""
    return atomic_write(path, lambda f: json.dump(obj, f, indent=2, sort_keys=True, default=str),
                        binary=False, overwrite=overwrite)
