"""zoo.stats: intervals against hand computations and the verdict rule."""
from __future__ import annotations

import math

import numpy as np
import pytest

from zoo.stats import Interval, paired_bootstrap, paired_t_interval, t_interval, verdict


def test_t_interval_by_hand():
    values = [1.0, 2.0, 4.0]
    iv = t_interval(values)
    mean = 7 / 3
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    q = 4.302652729911275  # t_{0.975, 2}, from tables
    assert iv.mean == pytest.approx(mean)
    assert iv.low == pytest.approx(mean - q * s / math.sqrt(3), rel=1e-9)
    assert iv.high == pytest.approx(mean + q * s / math.sqrt(3), rel=1e-9)
    assert iv.n == 3 and iv.method == "t"


def test_one_sample_has_no_interval_and_no_verdict():
    iv = t_interval([0.7])
    assert not iv.defined and math.isnan(iv.low)
    assert verdict(iv) == "no evidence either way"
    assert "no interval" in iv.format()


def test_paired_t_is_t_of_differences():
    a, b = [3.0, 5.0, 4.5, 6.0], [2.0, 4.5, 4.0, 5.0]
    assert paired_t_interval(a, b) == t_interval(np.subtract(a, b))
    with pytest.raises(ValueError):
        paired_t_interval([1.0], [1.0, 2.0])


def test_paired_bootstrap_covers_a_clear_shift_and_is_seeded():
    rng = np.random.default_rng(0)
    b = rng.normal(20, 2, 200)
    a = b + 0.5 + rng.normal(0, 0.1, 200)
    iv = paired_bootstrap(a, b)
    assert iv.low < 0.5 < iv.high and iv.low > 0.4 and iv.high < 0.6
    assert paired_bootstrap(a, b) == iv  # same seed, same interval
    assert verdict(iv) == "helps" and verdict(iv, higher_is_better=False) == "hurts"


def test_paired_bootstrap_degenerate_cases():
    assert paired_bootstrap([1.0, 2.0], [0.0, 1.0]).defined is False
    iv = paired_bootstrap([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])
    assert (iv.low, iv.mean, iv.high) == (0.5, 0.5, 0.5)


def test_verdict_rule():
    assert verdict(Interval(0.1, -0.2, 0.4, 3)) == "no evidence either way"
    assert verdict(Interval(-0.3, -0.5, -0.1, 3)) == "hurts"
    assert verdict(Interval(-0.3, -0.5, -0.1, 3), higher_is_better=False) == "helps"


def test_non_finite_values_are_refused():
    with pytest.raises(ValueError):
        t_interval([1.0, float("nan")])
