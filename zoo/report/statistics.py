"""The numbers behind the report's verdict: paired per-image differences with bootstrap CIs.

Every evaluated row of a run is scored on the same held-out images, in the same order, so two
rows can be compared image by image: :func:`compare_rows` takes the per-image values of a metric
for both, keeps the images where both are defined (a region metric is NaN on an image without
that region) and hands the pairs to :func:`zoo.stats.paired_bootstrap`; :func:`zoo.stats.verdict`
turns the interval into better / worse / within noise.  This measures how much the choice of
test images moves a comparison, even with one training seed; it says nothing of the spread over
training seeds (the contrasts over seeds do that).

Rows named ``"<stage>/s<r>"`` (repeats of a stage with other seeds) are grouped under their
stage (:func:`group_rows`); a group's per-image value is the mean over its repeats.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Collection, Iterable, Mapping, Sequence

from zoo.engine.cascade import CASCADE_AT_0
from zoo.engine.evaluation import EvalResult
from zoo.stats import Interval, Verdict, paired_bootstrap, verdict

#: The row of the unrestored input in a run's evaluation.
INPUT_ROW = "input"
#: The row of the untrained cascade f(f(x)) (:data:`zoo.engine.cascade.CASCADE_AT_0`).
CASCADE_ROW = CASCADE_AT_0

_REPEAT = re.compile(r"^(?P<stage>.+)/s(?P<repeat>\d+)$")


def group_rows(rows: Iterable[str], stages: Collection[str] = ()) -> dict[str, tuple[str, ...]]:
    """``{group: rows}`` in first-seen order: ``"finetune/s0"``, ``"finetune/s1"`` go under
    ``"finetune"`` (when ``stages`` is given, only if ``finetune`` is one of them); any other row
    is a group of its own."""
    out: dict[str, list[str]] = {}
    for row in rows:
        m = _REPEAT.match(row)
        group = m.group("stage") if m and (not stages or m.group("stage") in stages) else row
        out.setdefault(group, []).append(row)
    return {g: tuple(rs) for g, rs in out.items()}


def unit(metric: str) -> str:
    """``"dB"`` for PSNR-like metrics (and the Flare7K score, a mean of PSNRs), else ``""``."""
    return "dB" if "psnr" in metric or metric == "flare-score" else ""


def per_image(evaluations: Mapping[str, EvalResult], rows: Sequence[str],
              metric: str) -> list[float]:
    """Per-image values of ``metric``, averaged over ``rows`` (the repeats of a group); NaN
    where any of them is NaN."""
    columns = [evaluations[r].per_image.get(metric, []) for r in rows]
    if not columns or any(len(c) != len(columns[0]) for c in columns):
        return []
    return [math.fsum(vals) / len(vals) if all(math.isfinite(v) for v in vals) else math.nan
            for vals in zip(*columns)]


def defined_images(values: Sequence[float]) -> int:
    """How many images have a finite value (e.g. contain the metric's region)."""
    return sum(1 for v in values if math.isfinite(v))


@dataclass(frozen=True)
class Difference:
    """``row`` minus ``baseline`` in ``metric``, paired over the images where both are defined.

    Attributes:
        row, baseline: the two groups compared (``row - baseline``).
        metric: the metric name; ``higher_is_better`` its direction.
        interval: the paired bootstrap interval of the mean per-image difference.
        verdict: :func:`zoo.stats.verdict` of it, "helps" meaning ``row`` is better.
        repeats: how many seed repeats each side averages (1, 1 for plain rows).
    """

    row: str
    baseline: str
    metric: str
    higher_is_better: bool
    interval: Interval
    verdict: Verdict
    repeats: tuple[int, int] = (1, 1)

    @property
    def images(self) -> int:
        return self.interval.n

    def words(self) -> str:
        """``"better"``, ``"worse"`` or ``"within noise"``."""
        return {"helps": "better", "hurts": "worse"}.get(self.verdict, "within noise")

    def cell(self, digits: int = 2) -> str:
        """``"-0.76 [-0.95, -0.56] worse"`` for a table cell."""
        iv = self.interval
        if not iv.defined:
            return f"{iv.mean:+.{digits}f} (n = {iv.n}: no interval)"
        return (f"{iv.mean:+.{digits}f} [{iv.low:+.{digits}f}, {iv.high:+.{digits}f}] "
                f"{self.words()}")

    def sentence(self, digits: int = 2) -> str:
        """One plain-language sentence, e.g. ``**finetune** is worse than **reference**: PSNR
        0.76 dB lower (-0.76 dB, 95 % CI [-0.95, -0.56] over 32 images)."``"""
        iv, u = self.interval, unit(self.metric)
        name = metric_label(self.metric)
        amount = f"{abs(iv.mean):.{digits}f}{' ' + u if u else ''}"
        direction = "higher" if iv.mean > 0 else "lower"
        paired = f"over {iv.n} image{'s' if iv.n != 1 else ''}"
        if not iv.defined:
            return (f"**{self.row}** vs **{self.baseline}**: {name} {iv.mean:+.{digits}f}"
                    f"{' ' + u if u else ''} ({paired}: too few for an interval).")
        detail = f"({iv.format(digits, u)} {paired})"
        if self.verdict == "no evidence either way":
            return f"**{self.row}** is within noise of **{self.baseline}** in {name} {detail}."
        return (f"**{self.row}** is {self.words()} than **{self.baseline}**: {name} {amount} "
                f"{direction} {detail}.")


def metric_label(metric: str) -> str:
    """How a metric is named in prose: ``PSNR``, ``S-PSNR``; other names as they are."""
    return metric.upper() if metric.replace("-", "").isalpha() and len(metric) <= 8 else metric


def compare_rows(evaluations: Mapping[str, EvalResult], groups: Mapping[str, Sequence[str]],
                 row: str, baseline: str, metric: str, higher_is_better: bool) -> Difference:
    """The :class:`Difference` ``row - baseline`` of two groups in ``metric``."""
    a = per_image(evaluations, groups[row], metric)
    b = per_image(evaluations, groups[baseline], metric)
    pairs = [(x, y) for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]
    if pairs:
        iv = paired_bootstrap([x for x, _ in pairs], [y for _, y in pairs])
    else:
        iv = Interval(math.nan, math.nan, math.nan, 0, method="bootstrap")
    return Difference(row, baseline, metric, higher_is_better, iv,
                      verdict(iv, higher_is_better),
                      (len(groups[row]), len(groups[baseline])))


def comparison_pairs(groups: Sequence[str],
                     contrasts: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """Which groups the report compares, as ``(row, baseline)``, in the verdict's order: each
    ``[eval] contrasts`` pair (e.g. finetune − control), then each contrasted model against the
    first evaluated model (the reference the others start from), then every other model against
    the reference, then -- when the run has the untrained cascade (:data:`CASCADE_ROW`) -- the
    models against it, and last the reference against the input (does it restore at all?)."""
    models = [g for g in groups if g != INPUT_ROW]
    if not models:
        return []
    ref = models[0]
    pairs: list[tuple[str, str]] = []

    def add(pair: tuple[str, str]) -> None:
        if pair[0] != pair[1] and pair not in pairs:
            pairs.append(pair)

    kept = [(a, b) for a, b in contrasts if a in models and b in models]
    for pair in kept:
        add(pair)
    for new, _ in kept:
        add((new, ref))
    for m in models[1:]:
        add((m, ref))
    if CASCADE_ROW in models and CASCADE_ROW != ref:
        for m in models[1:]:
            add((m, CASCADE_ROW))
    if INPUT_ROW in groups:
        add((ref, INPUT_ROW))
    return pairs
