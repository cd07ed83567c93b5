"""Uncertainty of a result: confidence intervals and the verdict they support.

A result is a distribution, not a run.  This module is the one place that turns samples into an
interval and an interval into words, so the run report, ``zoo compare`` and the studies in the
docs say "helps" or "hurts" by the same rule:

* :func:`t_interval` -- the Student-t interval of a mean over independent repeats (seeds), the
  usual choice for a handful of training runs (with n = 3 the 95 % half-width is 4.30 standard
  errors: few seeds give wide intervals, honestly).
* :func:`welch_interval` -- the Welch (unequal variances) t-interval of a difference of two
  means over independent samples, e.g. two losses trained on different seeds.
* :func:`seed_difference` -- the rule ``zoo compare`` uses to call a winner: the difference of
  two rows' means over seeds, by :func:`paired_t_interval` when both rows ran on the same seeds
  (each seed's data order and initialisation are shared, so pairing removes their noise), else
  by :func:`welch_interval`.
* :func:`paired_bootstrap` -- the bootstrap interval (scipy's BCa) of the mean paired difference
  ``a - b`` over matched items, e.g. per-image metrics of two models on the same test images.
  It measures how much the test images alone move a comparison; it says nothing of the spread
  over training seeds.
* :func:`verdict` -- ``"helps"`` when the whole interval lies on the better side of zero,
  ``"hurts"`` when it lies on the worse side, else ``"no evidence either way"``.

Everything is computed in float64 with numpy/scipy; nothing here knows about torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Literal, Mapping, Sequence, TypeVar

import numpy as np
from scipy import stats as _scipy_stats

Verdict = Literal["helps", "no evidence either way", "hurts"]
Key = TypeVar("Key", bound=Hashable)

#: The confidence level used across the project's reports.
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided confidence interval.

    Attributes:
        mean: the point estimate (mean of the samples or of the paired differences).
        low: lower end of the interval (NaN when it cannot be computed, e.g. n = 1).
        high: upper end of the interval.
        n: how many samples (seeds, or paired items) it rests on.
        level: the confidence level, e.g. 0.95.
        method: how it was computed (``"t"``, ``"paired t"``, ``"welch"`` or ``"bootstrap"``).
    """

    mean: float
    low: float
    high: float
    n: int
    level: float = LEVEL
    method: str = "t"

    @property
    def defined(self) -> bool:
        """True when both ends are finite numbers."""
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2 if self.defined else math.nan

    def excludes_zero(self) -> bool:
        return self.defined and (self.low > 0 or self.high < 0)

    def format(self, digits: int = 2, unit: str = "") -> str:
        """``"+0.12 dB, 95 % CI [-0.05, +0.29]"``; the CI part is left out when undefined."""
        u = f" {unit}" if unit else ""
        head = f"{self.mean:+.{digits}f}{u}"
        if not self.defined:
            return f"{head} (n = {self.n}: no interval)"
        return (f"{head}, {round(self.level * 100)} % CI [{self.low:+.{digits}f}, "
                f"{self.high:+.{digits}f}]")


def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError("confidence interval of values that are not all finite")
    return arr


def t_interval(values: Sequence[float] | np.ndarray, level: float = LEVEL) -> Interval:
    """Student-t interval of the mean of independent samples (e.g. one value per seed).

    ``mean ± t_{(1+level)/2, n-1} · s / sqrt(n)`` with ``s`` the sample standard deviation.  With
    one sample the interval is undefined (NaN ends).
    """
    arr = _clean(values)
    n = int(arr.size)
    if n == 0:
        raise ValueError("confidence interval of no values")
    mean = float(arr.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, level, "t")
    sem = float(arr.std(ddof=1)) / math.sqrt(n)
    q = float(_scipy_stats.t.ppf((1 + level) / 2, n - 1))
    return Interval(mean, mean - q * sem, mean + q * sem, n, level, "t")


def paired_t_interval(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                      level: float = LEVEL) -> Interval:
    """:func:`t_interval` of the paired differences ``a[i] - b[i]`` (e.g. the same seeds)."""
    x, y = _clean(a), _clean(b)
    if x.shape != y.shape:
        raise ValueError(f"paired samples of different lengths ({x.size} and {y.size})")
    return t_interval(x - y, level)


def welch_interval(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                   level: float = LEVEL) -> Interval:
    """Welch's t-interval of ``mean(a) - mean(b)`` for two independent samples of possibly
    different sizes and variances (:func:`scipy.stats.ttest_ind` with ``equal_var=False``:
    standard error ``sqrt(s_a^2/n_a + s_b^2/n_b)``, Welch-Satterthwaite degrees of freedom).

    Undefined (NaN ends) unless both samples have at least 2 values; ``n`` is ``n_a + n_b``.
    """
    x, y = _clean(a), _clean(b)
    if x.size == 0 or y.size == 0:
        raise ValueError("confidence interval of no values")
    mean = float(x.mean() - y.mean())
    n = int(x.size + y.size)
    if x.size < 2 or y.size < 2:
        return Interval(mean, math.nan, math.nan, n, level, "welch")
    if x.var(ddof=1) == 0 and y.var(ddof=1) == 0:  # no spread at all: the difference is exact
        return Interval(mean, mean, mean, n, level, "welch")
    ci = _scipy_stats.ttest_ind(x, y, equal_var=False).confidence_interval(level)
    return Interval(mean, float(ci.low), float(ci.high), n, level, "welch")


def seed_difference(a: Mapping[Key, float], b: Mapping[Key, float],
                    level: float = LEVEL) -> Interval:
    """The interval of ``mean(a) - mean(b)`` for two results given per seed (``{seed: value}``).

    Rows that ran on the same seeds are paired: :func:`paired_t_interval` of the per-seed
    differences (method ``"paired t"``).  Otherwise the samples are treated as independent:
    :func:`welch_interval`.  With one seed per row (or one shared seed) there is no interval.
    """
    if not a or not b:
        raise ValueError("confidence interval of no values")
    if set(a) == set(b):
        keys = sorted(a, key=repr)
        iv = paired_t_interval([a[k] for k in keys], [b[k] for k in keys], level)
        return Interval(iv.mean, iv.low, iv.high, iv.n, level, "paired t")
    return welch_interval(list(a.values()), list(b.values()), level)


def paired_bootstrap(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                     level: float = LEVEL, *, n_resamples: int = 4999,
                     seed: int = 0) -> Interval:
    """Bootstrap (BCa) interval of ``mean(a - b)`` over matched items (e.g. per-image PSNR of
    two models on the same images), from :func:`scipy.stats.bootstrap`.

    Seeded, so a report is reproducible.  With fewer than 3 items, or when every difference is
    the same (a degenerate bootstrap distribution), the interval collapses to the mean (n >= 3
    identical differences) or is undefined (n < 3).
    """
    x, y = _clean(a), _clean(b)
    if x.shape != y.shape:
        raise ValueError(f"paired samples of different lengths ({x.size} and {y.size})")
    d = x - y
    n = int(d.size)
    if n == 0:
        raise ValueError("confidence interval of no values")
    mean = float(d.mean())
    if n < 3:
        return Interval(mean, math.nan, math.nan, n, level, "bootstrap")
    if np.ptp(d) == 0:
        return Interval(mean, mean, mean, n, level, "bootstrap")
    res = _scipy_stats.bootstrap((d,), np.mean, confidence_level=level, n_resamples=n_resamples,
                                 method="BCa", rng=np.random.default_rng(seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):  # BCa can fail on tiny samples
        res = _scipy_stats.bootstrap((d,), np.mean, confidence_level=level,
                                     n_resamples=n_resamples, method="percentile",
                                     rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return Interval(mean, low, high, n, level, "bootstrap")


def verdict(interval: Interval, higher_is_better: bool = True) -> Verdict:
    """``"helps"`` / ``"hurts"`` when the interval of a difference (new minus baseline) lies
    wholly on one side of zero, else ``"no evidence either way"`` (also when it is undefined)."""
    if not interval.excludes_zero():
        return "no evidence either way"
    better = interval.low > 0 if higher_is_better else interval.high < 0
    return "helps" if better else "hurts"
