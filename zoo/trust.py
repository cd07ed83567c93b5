"""Which ``registry.toml`` files may run code or change results: the trust store.

A ``registry.toml`` in the current folder (an unpacked experiment, a cloned repository) can run
code (``[plugins] local``) and change what a command computes (``[defaults]``, ``[override]``,
``[plugins] disabled``), so it is applied only once the user has trusted it, as direnv does for
``.envrc``.  ``zoo plugins trust [PATH]`` records, under the file's resolved path:

* the SHA-256 of the ``registry.toml`` itself, and
* for every local plugin *file* it lists, the file's resolved path (symlinks followed) and the
  SHA-256 of its content, and the same for each file such a plugin names in a lazy factory
  (``"gamma_l1.py:GammaL1Loss"``: a string literal of its source, found by parsing it).

A later run compares all of them: when the registry file, a plugin file's content or the file a
plugin entry resolves to (a symlink pointed elsewhere) differs, the folder is not applied and
the notice names the file that changed (:attr:`TrustCheck.changed`); trust it again to accept.
A dotted module name in ``local`` is imported from ``sys.path`` like any installed package and
is not hashed.  A file named explicitly (``zoo --registry FILE``, ``ZOO_REGISTRY``,
``zoo.reset_registry(FILE)``) needs no trust: naming it is the consent.

The store is ``trusted-registries.json`` in the user's configuration folder: ``$ZOO_CONFIG_DIR``
if set, else the platform's user config folder for restoration-zoo (``click.get_app_dir``:
``~/.config/restoration-zoo`` on Linux).  Every change is a read-modify-write under an exclusive
lock (``trusted-registries.json.lock``, ``flock`` through :mod:`filelock`) ending in an atomic
replace (:mod:`zoo.atomic`), so concurrent ``zoo plugins trust`` keep every record.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from contextlib import contextmanager
from typing import Iterable, Iterator

import click
import filelock

from .atomic import atomic_write_text
from .errors import ConfigError

CONFIG_DIR_ENV = "ZOO_CONFIG_DIR"
APP_NAME = "restoration-zoo"
STORE_NAME = "trusted-registries.json"
STORE_VERSION = 2
#: seconds a ``zoo plugins trust`` waits for another one to finish writing the store
LOCK_TIMEOUT = 30.0


def config_dir() -> Path:
    """The user's configuration folder for restoration-zoo (``$ZOO_CONFIG_DIR`` overrides)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else Path(click.get_app_dir(APP_NAME))


def store_path() -> Path:
    return config_dir() / STORE_NAME


def digest(data: bytes) -> str:
    """``sha256:<hex>`` of a file's bytes: what trust is recorded against."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_file_reference(module: str) -> bool:
    """Whether a ``[plugins] local`` entry names a Python file (``my_losses.py``, ``sub/x.py``)
    rather than a dotted module name; trust covers the content of every such file."""
    return module.endswith(".py") or "/" in module or "\\" in module


@dataclass(frozen=True)
class PluginFile:
    """A local plugin file a registry lists: the entry as written, the file it resolves to
    (symlinks followed) and the digest of its content (``""`` when it cannot be read)."""

    entry: str
    path: str
    sha256: str


def _file_digest(path: Path) -> tuple[bytes, str]:
    try:
        data = path.read_bytes()
    except OSError:
        return b"", ""
    return data, digest(data)


def lazy_references(source: bytes) -> list[str]:
    """The files a plugin's source names in lazy factories (string literals such as
    ``"gamma_l1.py:GammaL1Loss"``), found by parsing it, never by running it; a reference built
    at run time is not seen."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            module, sep, attr = node.value.rpartition(":")
            if sep and attr and module.endswith(".py") and is_file_reference(module) \
                    and "\n" not in module and module not in found:
                found.append(module)
    return found


def plugin_files(entries: Iterable[str], base: Path) -> tuple[PluginFile, ...]:
    """The :class:`PluginFile` of every file entry of ``entries`` (relative to ``base``), and of
    every existing file such a plugin names in a lazy factory (:func:`lazy_references`, relative
    to the plugin's folder), recorded as ``"<file> (named by <entry>)"``."""
    out = []
    for entry in entries:
        if not is_file_reference(entry):
            continue
        path = (base / entry).resolve()
        data, sha = _file_digest(path)
        out.append(PluginFile(entry, str(path), sha))
        for ref in lazy_references(data):
            target = (path.parent / ref).resolve()
            if target.is_file() and target != path:
                out.append(PluginFile(f"{ref} (named by {entry})", str(target),
                                      _file_digest(target)[1]))
    return tuple(out)


@dataclass(frozen=True)
class TrustRecord:
    """One trusted registry file: its resolved path, the digest it was trusted with, its local
    plugin files as they were then, and when."""

    path: str
    sha256: str
    trusted_at: str
    plugins: tuple[PluginFile, ...] = ()


@dataclass(frozen=True)
class TrustCheck:
    """The result of comparing a registry file (and its plugin files) with the store.

    ``state`` is ``"trusted"``, ``"changed"`` (trusted once, something differs since) or
    ``"untrusted"``; ``changed`` names what differs, one phrase per file."""

    state: str
    changed: tuple[str, ...] = ()

    @property
    def trusted(self) -> bool:
        return self.state == "trusted"


def _parse_plugins(value: object) -> tuple[PluginFile, ...] | None:
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if not (isinstance(item, dict) and all(isinstance(item.get(k), str)
                                               for k in ("entry", "path", "sha256"))):
            return None
        out.append(PluginFile(item["entry"], item["path"], item["sha256"]))
    return tuple(out)


def _read_store() -> dict[str, TrustRecord]:
    path = store_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: unreadable trust store ({e}); delete it and trust again") \
            from None
    entries = raw.get("trusted", {}) if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: malformed trust store; delete it and trust again")
    out = {}
    for key, value in entries.items():
        if isinstance(value, dict) and isinstance(value.get("sha256"), str):
            plugins = _parse_plugins(value.get("plugins"))
            # a record from before plugin files were recorded covers none: it must be renewed
            out[key] = TrustRecord(key, value["sha256"], str(value.get("trusted_at", "")),
                                   plugins if plugins is not None else
                                   (PluginFile("*", "", "unrecorded"),))
    return out


def _write_store(records: dict[str, TrustRecord]) -> None:
    data = {"version": STORE_VERSION,
            "trusted": {r.path: {"sha256": r.sha256, "trusted_at": r.trusted_at,
                                 "plugins": [{"entry": p.entry, "path": p.path,
                                              "sha256": p.sha256} for p in r.plugins]}
                        for r in sorted(records.values(), key=lambda r: r.path)}}
    atomic_write_text(json.dumps(data, indent=2) + "\n", store_path())


@contextmanager
def _locked() -> Iterator[None]:
    """Hold the store's lock file (exclusive) for a read-modify-write of the store."""
    folder = config_dir()
    lock_path = folder / (STORE_NAME + ".lock")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(lock_path), timeout=LOCK_TIMEOUT)
        lock.acquire()
    except filelock.Timeout:
        raise ConfigError(f"{lock_path}: another zoo process holds the trust store's lock "
                          f"for over {LOCK_TIMEOUT:g} s") from None
    except OSError as e:
        raise ConfigError(f"{lock_path}: cannot lock the trust store ({e})") from None
    try:
        yield
    finally:
        lock.release()


def _key(path: str | Path) -> str:
    return str(Path(path).resolve())


def _compare(record: TrustRecord, data: bytes, shown: str,
             plugins: tuple[PluginFile, ...]) -> tuple[str, ...]:
    changed = []
    if record.sha256 != digest(data):
        changed.append(f"{shown} changed")
    before = {p.entry: p for p in record.plugins}
    if "*" in before:
        return (*changed, "the trust predates plugin-file hashing")
    for now in plugins:
        old = before.pop(now.entry, None)
        if old is None:
            changed.append(f"{now.entry} is new")
        elif old.path != now.path:
            changed.append(f"{now.entry} now resolves to {now.path} (was {old.path})")
        elif old.sha256 != now.sha256:
            changed.append(f"{now.entry} changed" if now.sha256 else f"{now.entry} is missing")
    changed += [f"{entry} is no longer listed" for entry in before]
    return tuple(changed)


def check(path: str | Path, data: bytes, plugins: tuple[PluginFile, ...] = ()) -> TrustCheck:
    """Compare the registry file at ``path`` (content ``data``) and its local plugin files
    (:func:`plugin_files`) with the trust store."""
    record = _read_store().get(_key(path))
    if record is None:
        return TrustCheck("untrusted")
    changed = _compare(record, data, Path(path).name, plugins)
    return TrustCheck("changed", changed) if changed else TrustCheck("trusted")


def listed_plugin_files(data: bytes, base: Path) -> tuple[PluginFile, ...]:
    """The local plugin files a registry file's content (``data``, TOML) lists."""
    try:
        table = tomllib.loads(data.decode("utf-8")).get("plugins")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ()
    local = table.get("local") if isinstance(table, dict) else None
    return plugin_files([str(e) for e in local] if isinstance(local, list) else [], base)


def trust(path: str | Path) -> TrustRecord:
    """Trust the file at ``path`` with its current content and that of its plugin files."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{file}: file not found") from None
    except OSError as e:
        raise ConfigError(f"{file}: cannot read ({e})") from None
    plugins = listed_plugin_files(data, file.resolve().parent)
    missing = [p.entry for p in plugins if not p.sha256]
    if missing:
        raise ConfigError(f"{file}: [plugins] local lists {', '.join(missing)}, which cannot be "
                          f"read (relative to {file.resolve().parent}); not trusted")
    record = TrustRecord(_key(file), digest(data),
                         datetime.now(timezone.utc).isoformat(timespec="seconds"), plugins)
    with _locked():
        records = _read_store()
        records[record.path] = record
        _write_store(records)
    return record


def untrust(path: str | Path) -> bool:
    """Forget a trusted file; returns whether it was trusted."""
    with _locked():
        records = _read_store()
        if records.pop(_key(path), None) is None:
            return False
        _write_store(records)
    return True


def trusted_files() -> list[TrustRecord]:
    return sorted(_read_store().values(), key=lambda r: r.path)
