"""Local worker processes end with the process that started them.

A ``zoo compare`` killed with ``kill -9`` cannot stop its ``ProcessPoolExecutor`` workers, and
each would go on training (hundreds of MB apiece) with nobody to read its result.  Every worker
therefore calls :func:`exit_with_parent` first:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` (through ``ctypes``): the kernel sends the
  worker SIGTERM the moment its parent dies (the pool starts its workers from the comparison's
  main thread, which lives as long as the parent);
* everywhere, a daemon thread that polls the parent's pid every :data:`POLL_SECONDS` and ends
  the worker with ``os._exit`` when the parent is gone (the worker was re-parented), for
  platforms without ``prctl`` and as a fallback should the signal be caught and ignored.

A cell interrupted this way has no record; ``zoo compare --resume`` runs it again.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

#: seconds between two checks of the parent's pid
POLL_SECONDS = 1.0
#: exit status of a worker whose parent died (128 + SIGTERM, as if it had been terminated)
EXIT_STATUS = 128 + signal.SIGTERM
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _set_parent_death_signal(signum: int) -> bool:
    """Ask the Linux kernel to send ``signum`` when the parent dies; whether it took."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(EXIT_STATUS)


def exit_with_parent(parent: int | None = None, *, interval: float = POLL_SECONDS) -> bool:
    """Make this process end when ``parent`` (default: the current parent) dies; returns
    whether the kernel's parent-death signal was set (the pid poll runs in any case)."""
    parent = os.getppid() if parent is None else parent
    armed = _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(EXIT_STATUS)
    threading.Thread(target=_watch, args=(parent, interval), name="zoo-parent-watch",
                     daemon=True).start()
    return armed
