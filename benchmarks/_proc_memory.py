"""Peak resident memory of this process, from /proc (Linux), for the memory benchmarks."""
from __future__ import annotations

import re


def rss_mib() -> float:
    """Current resident set size (MiB), from /proc/self/status VmRSS."""
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def reset_peak() -> None:
    """Reset this process's peak RSS to its current RSS (Linux >= 4.0: clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_mib() -> float:
    """Peak resident set size since the last reset (MiB), from /proc/self/status VmHWM.

    ``getrusage().ru_maxrss`` is not used: Linux keeps it across fork/exec, so a child would
    report its parent's peak.
    """
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024
