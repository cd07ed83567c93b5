"""Which ``registry.toml`` files may run code: the trust store.

A ``registry.toml`` that lists local plugins runs their code, so one found in the current folder
(an unpacked experiment, a downloaded repository) is loaded only once the user has trusted it,
as direnv does for ``.envrc``: ``zoo plugins trust [PATH]`` records the file's absolute path and
the SHA-256 of its content; a file whose content changed since must be trusted again.  A file
named explicitly (``zoo --registry FILE``, ``ZOO_REGISTRY``, ``zoo.reset_registry(FILE)``) needs
no trust: naming it is the consent.

The store is ``trusted-registries.json`` in the user's configuration folder: ``$ZOO_CONFIG_DIR``
if set, else the platform's user config folder for restoration-zoo (``click.get_app_dir``:
``~/.config/restoration-zoo`` on Linux).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import click

from .errors import ConfigError

CONFIG_DIR_ENV = "ZOO_CONFIG_DIR"
APP_NAME = "restoration-zoo"
STORE_NAME = "trusted-registries.json"


def config_dir() -> Path:
    """The user's configuration folder for restoration-zoo (``$ZOO_CONFIG_DIR`` overrides)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else Path(click.get_app_dir(APP_NAME))


def store_path() -> Path:
    return config_dir() / STORE_NAME


def digest(data: bytes) -> str:
    """``sha256:<hex>`` of a file's bytes: what trust is recorded against."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class TrustRecord:
    """One trusted file: its absolute path, the digest it was trusted with, and when."""

    path: str
    sha256: str
    trusted_at: str


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
            out[key] = TrustRecord(key, value["sha256"], str(value.get("trusted_at", "")))
    return out


def _write_store(records: dict[str, TrustRecord]) -> None:
    path = store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"version": 1, "trusted": {r.path: {"sha256": r.sha256, "trusted_at": r.trusted_at}
                                      for r in sorted(records.values(), key=lambda r: r.path)}}
    fd, tmp = tempfile.mkstemp(prefix=".trusted-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _key(path: str | Path) -> str:
    return str(Path(path).resolve())


def trust_state(path: str | Path, data: bytes) -> str:
    """``"trusted"``, ``"changed"`` (trusted with other content) or ``"untrusted"``."""
    record = _read_store().get(_key(path))
    if record is None:
        return "untrusted"
    return "trusted" if record.sha256 == digest(data) else "changed"


def trust(path: str | Path) -> TrustRecord:
    """Trust the file at ``path`` with its current content."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{file}: file not found") from None
    except OSError as e:
        raise ConfigError(f"{file}: cannot read ({e})") from None
    records = _read_store()
    record = TrustRecord(_key(file), digest(data),
                         datetime.now(timezone.utc).isoformat(timespec="seconds"))
    records[record.path] = record
    _write_store(records)
    return record


def untrust(path: str | Path) -> bool:
    """Forget a trusted file; returns whether it was trusted."""
    records = _read_store()
    if records.pop(_key(path), None) is None:
        return False
    _write_store(records)
    return True


def trusted_files() -> list[TrustRecord]:
    return sorted(_read_store().values(), key=lambda r: r.path)
