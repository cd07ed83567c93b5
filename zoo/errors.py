"""Exceptions meant for users: the CLI prints their message on one line and exits non-zero.

This module is the bottom layer: it imports nothing from the package, so every other module
(the registry included) can raise these errors.
"""
from __future__ import annotations

import difflib
import re
from typing import Iterable


class ZooError(Exception):
    """Base class of every error caused by user input (a name, a file, a key), not by a bug."""

    exit_code = 2


class ConfigError(ZooError):
    """A malformed or invalid configuration file or ``--set`` override."""


class PluginError(ZooError):
    """A plugin failed to load, or two plugins registered the same name."""


class PluginWarning(UserWarning):
    """Warned (``warnings.warn``) when a registry is built while some plugin failed to load, or
    when a ``registry.toml`` in the current folder was skipped because it is not trusted."""


def did_you_mean(word: str, known: Iterable[str], n: int = 3, cutoff: float = 0.5) -> list[str]:
    """Up to ``n`` distinct close matches of ``word`` among ``known`` (best first): the one
    did-you-mean of the package."""
    return difflib.get_close_matches(word, list(dict.fromkeys(known)), n=n, cutoff=cutoff)


def suggestion(word: str, known: Iterable[str], n: int = 3) -> str:
    """`` (did you mean a, b?)`` for close matches of ``word``, else `` (known: ...)``."""
    known = [str(k) for k in known]
    close = did_you_mean(word, known, n)
    return f" (did you mean {', '.join(close)}?)" if close else \
        f" (known: {', '.join(known) or 'none'})"


class UnknownNameError(ZooError, KeyError):
    """A name that is not registered; the message suggests close matches.

    Args:
        kind: what was looked up, as the registry calls it (``"losses"``); kept as ``.kind``.
        name: the name that was not found.
        known: the names that exist (duplicates are ignored).
        noun: how to call one of them in the message (``"loss"``); default ``kind``.
        listing: the command that lists them all (``"zoo list losses"``), or ``""``.
        failed: one line per plugin that failed to load (``"plugin x 1.0 failed to load: ..."``):
            the name may be missing because of them, so the message says so.
    """

    def __init__(self, kind: str, name: str, known: Iterable[str], *, noun: str | None = None,
                 listing: str = "", failed: Iterable[str] = ()):
        self.kind, self.name = kind, name
        self.failed = tuple(failed)
        close = did_you_mean(name, known)
        message = f"unknown {noun or kind} {name!r}"
        if self.failed:
            message += " — " + "; ".join(self.failed)
        message += "."
        if close:
            message += f" Did you mean {', '.join(repr(c) for c in close)}?"
        if listing:
            message += f" (`{listing}` shows all)"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ReportedError(ZooError):
    """Errors already printed in full (e.g. by ``zoo info``): the command line exits non-zero
    without printing another line."""

    def __init__(self, count: int = 1):
        super().__init__(f"{count} error(s) reported above")
        self.count = count


class ChecksFailedError(ReportedError):
    """Some of the work a command did failed, each failure reported above (``zoo plugins
    check``): exit status 1, as pytest exits 1 when tests failed and 2 for a usage error."""

    exit_code = 1


class CellsFailedError(ChecksFailedError):
    """Some cells of a ``zoo compare`` failed (each reported above, the table written)."""


class InputError(ZooError, ValueError):
    """A tensor or file handed to a loss, model or metric does not meet its contract."""


_WORKER = re.compile(r"^Caught \w+ in DataLoader worker process (\d+)")
_RAISED = re.compile(r"^[\w.]+: (.*)$")


def error_line(error: BaseException) -> str:
    """``error`` as one line: a :class:`ZooError`'s message (one raised in a DataLoader worker
    arrives wrapped in that worker's traceback: its last line is taken); any other exception as
    ``Type: message``.  Line breaks left in a message become ``"; "``."""
    text = str(error)
    worker = _WORKER.match(text)
    if worker and "Original Traceback" in text:
        last = [line for line in text.strip().splitlines() if line.strip()][-1]
        raised = _RAISED.match(last)
        text = f"{raised.group(1) if raised else last} (in DataLoader worker {worker.group(1)})"
    elif not isinstance(error, ZooError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return "; ".join(line.strip() for line in text.strip().splitlines() if line.strip())


class MissingExtraError(ZooError):
    """A feature needs an optional dependency that is not installed; the message names the
    extra that provides it (``pip install 'restoration-zoo[ray]'``)."""

    def __init__(self, feature: str, extra: str, cause: BaseException | None = None):
        self.feature, self.extra = feature, extra
        why = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        super().__init__(f"{feature} needs the '{extra}' extra: pip install "
                         f"'restoration-zoo[{extra}]'{why}")
