"""zoo.stats: intervals against hand computations and the verdict rule."""
from __future__ import annotations

import math

import numpy as np
import pytest

from scipy import stats as scipy_stats

from zoo.stats import (Interval, paired_bootstrap, paired_t_interval, seed_difference, t_interval,
                       verdict, welch_interval)


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


def test_welch_interval_by_hand():
    a, b = [20.1, 20.5, 19.8, 20.9], [19.0, 19.9, 19.2]
    iv = welch_interval(a, b)
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 3
    df = (va + vb) ** 2 / (va ** 2 / 3 + vb ** 2 / 2)  # Welch-Satterthwaite
    half = scipy_stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    diff = np.mean(a) - np.mean(b)
    assert iv.mean == pytest.approx(diff)
    assert (iv.low, iv.high) == pytest.approx((diff - half, diff + half), rel=1e-9)
    assert iv.n == 7 and iv.method == "welch"
    assert not welch_interval([1.0], [2.0, 3.0]).defined


def test_seed_difference_pairs_matching_seeds_else_welch():
    a = {0: 18.95, 1: 18.99, 2: 18.91}
    b = {0: 18.94, 1: 18.99, 2: 18.89}
    paired = seed_difference(a, b)
    assert paired.method == "paired t"
    assert paired == Interval(*_ends(paired_t_interval([18.95, 18.99, 18.91],
                                                       [18.94, 18.99, 18.89])), 3, 0.95,
                              "paired t")
    unpaired = seed_difference(a, {5: 18.94, 6: 18.99, 7: 18.89})
    assert unpaired.method == "welch"
    assert unpaired == welch_interval(list(a.values()), [18.94, 18.99, 18.89])
    assert not seed_difference({0: 1.0}, {0: 2.0}).defined  # one seed: no interval


def _ends(iv: Interval) -> tuple[float, float, float]:
    return iv.mean, iv.low, iv.high
