"""Exceptions meant for users: the CLI prints their message on one line and exits non-zero."""
from __future__ import annotations

import difflib
from typing import Iterable


class ZooError(Exception):
    """Base class of every error caused by user input (a name, a file, a key), not by a bug."""

    exit_code = 2


class ConfigError(ZooError):
    """A malformed or invalid configuration file or ``--set`` override."""


class PluginError(ZooError):
    """A plugin failed to load, or two plugins registered the same name."""


class UnknownNameError(ZooError, KeyError):
    """A name that is not registered; the message suggests close matches."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name = kind, name
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        from .registry import SINGULAR

        super().__init__(f"unknown {SINGULAR.get(kind, kind)} {name!r}.{hint} "
                         f"(`zoo list{' ' + kind if kind in SINGULAR and kind not in ('components', 'kinds') else ''}` shows all)")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class InputError(ZooError, ValueError):
    """A tensor or file handed to a loss, model or metric does not meet its contract."""
