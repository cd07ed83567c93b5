"""Offline mode: whether restoration-zoo may download anything (weights), in one place.

It is on when ``ZOO_OFFLINE`` or ``HF_HUB_OFFLINE`` (the Hugging Face hub's own switch, honoured
for timm's weights too) is set to ``1``/``true``/``yes``/``on``; ``zoo --offline ...`` and
:func:`set_offline` set ``ZOO_OFFLINE`` in this process's environment, so worker processes inherit
it.  This module imports nothing heavy, so the command line can switch it before torch loads;
:mod:`zoo.hub` does the downloading.
"""
from __future__ import annotations

import os

#: Environment variables that switch downloads off (any of them set to a true value).
OFFLINE_VARIABLES = ("ZOO_OFFLINE", "HF_HUB_OFFLINE")
_TRUE = frozenset({"1", "true", "yes", "on"})


def offline_switch() -> str | None:
    """The setting that turns offline mode on, e.g. ``"ZOO_OFFLINE=1"``, or None when it is off."""
    for name in OFFLINE_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.lower() in _TRUE:
            return f"{name}={value}"
    return None


def offline() -> bool:
    """True when restoration-zoo must not download anything (see the module docstring)."""
    return offline_switch() is not None


def set_offline(on: bool = True) -> None:
    """Switch offline mode on (or off) for this process and the processes it starts.

    Sets ``ZOO_OFFLINE`` to ``1`` (or ``0``); ``HF_HUB_OFFLINE=1`` keeps downloads off either way.
    """
    os.environ["ZOO_OFFLINE"] = "1" if on else "0"
