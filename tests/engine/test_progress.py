"""The plain-log progress line (no terminal): elapsed time, ETA and time per step."""
from __future__ import annotations

import re

from zoo.engine.trainer import _Progress, clock_text, timing_text


def test_clock_text():
    assert clock_text(0) == "0:00"
    assert clock_text(61.4) == "1:01"
    assert clock_text(3600 + 2 * 60 + 5) == "1:02:05"


def test_timing_text_extrapolates_the_mean_rate():
    assert timing_text(10, 90, 20.0) == "0:20 elapsed, ETA 3:00 (2.0 s/step)"
    assert timing_text(50, 0, 10.0) == "0:10 elapsed, ETA 0:00 (0.2 s/step)"
    assert timing_text(0, 100, 3.0) == "0:03 elapsed"


def test_plain_log_line_has_elapsed_and_eta_of_this_session():
    now = [100.0]
    lines: list[str] = []
    # resumed at step 20 of 120: the rate counts only the steps run in this session
    bar = _Progress("finetune", 120, 20, bar=False, main=True, log=lines.append, log_every=10,
                    clock=lambda: now[0])
    for step in range(21, 41):
        now[0] += 1.5
        bar.update(step, {"step": step, "lr": 0.001, "total": 0.4, "triplet": 1.0})
    assert lines == [
        "[finetune] step 30/120 loss 0.4 lr=0.001 triplet=1 | 0:15 elapsed, ETA 2:15 (1.5 s/step)",
        "[finetune] step 40/120 loss 0.4 lr=0.001 triplet=1 | 0:30 elapsed, ETA 2:00 (1.5 s/step)",
    ]
    assert all(re.search(r"\| \d+:\d\d elapsed, ETA \d+:\d\d", line) for line in lines)


def test_other_ranks_print_nothing():
    lines: list[str] = []
    bar = _Progress("x", 10, 0, bar=False, main=False, log=lines.append, log_every=1)
    bar.update(1, {"step": 1, "total": 1.0})
    assert lines == []
