"""Change points in a nightly series: where a metric stepped, found with ruptures.

Method (the shape of Apache Otava's and MongoDB's detectors: a segmentation, then a
significance test on every candidate):

1. Scale the series by its noise: ``sigma`` = 1.4826 x the median absolute deviation of the
   successive differences / sqrt(2) (a step is one outlier among the differences, so it does
   not inflate the noise), never below the metric's floor.
2. Segment it with ``ruptures.KernelCPD(kernel="linear")`` (least squares on the mean, the
   exact PELT search in ruptures' C code; ~0.2 ms for 365 points) and a BIC-like penalty
   ``3 log n`` per change point, segments of at least ``min_size`` points.
3. Keep a candidate only when Welch's t-test between the segments on either side rejects
   "same mean" at ``alpha`` and the step is at least ``min_step`` (absolute, or relative to
   the level before); a rejected candidate merges its two segments and the others are
   tested again.

Why ruptures: it installs from PyPI with numpy and scipy only (wheels for our Pythons) and
works offline. Apache Otava pins numpy 2.2 and scipy < 1.17 and pulls BigQuery, Postgres and
Slack clients; MongoDB's signal-processing-algorithms pins numpy < 2 and setuptools < 71.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Penalty per change point, in units of log(n) (on the noise-scaled series).
PENALTY_PER_LOG_N = 3.0


@dataclass(frozen=True)
class Step:
    """One change point of a series.

    Attributes:
        index: position of the first point of the new level.
        before: median of the segment before.
        after: median of the segment from ``index`` on.
        step: ``after - before``.
        rel_step: ``step / |before|`` (None when before is 0).
        p_value: Welch's t-test between the two segments.
    """

    index: int
    before: float
    after: float
    step: float
    rel_step: float | None
    p_value: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class StepRule:
    """What counts as a step for one metric.

    Attributes:
        min_abs: smallest absolute step reported (0: no bound).
        min_rel: smallest step relative to the level before (0: no bound).
        floor_abs: the noise estimate is never below this.
        floor_rel: ... nor below this fraction of the series' median.
    """

    min_abs: float = 0.0
    min_rel: float = 0.0
    floor_abs: float = 0.0
    floor_rel: float = 0.0


def noise_sigma(values: np.ndarray, rule: StepRule) -> float:
    """Robust noise of a series (see the module docstring), at least the rule's floors."""
    diffs = np.diff(values)
    sigma = 0.0
    if len(diffs):
        mad = float(np.median(np.abs(diffs - np.median(diffs))))
        sigma = 1.4826 * mad / math.sqrt(2)
    floor = max(rule.floor_abs, rule.floor_rel * abs(float(np.median(values))), 1e-12)
    return max(sigma, floor)


def _segments_test(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0 if a[0] == b[0] else 0.0
    p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return p if math.isfinite(p) else 1.0


def _big_enough(before: float, step: float, rule: StepRule) -> bool:
    if abs(step) < rule.min_abs:
        return False
    return not (rule.min_rel and before and abs(step) / abs(before) < rule.min_rel)


def find_steps(
    values: Sequence[float],
    rule: StepRule = StepRule(),
    *,
    alpha: float = 0.01,
    min_size: int = 2,
) -> list[Step]:
    """Change points of ``values`` (one per stamp, in time order); see the module docstring.

    Args:
        values: the series; NaN points are dropped before segmenting (indices refer to the
            series as given).
        rule: the metric's smallest step and noise floors.
        alpha: significance level of the test between adjacent segments.
        min_size: fewest points of a segment.
    """
    import ruptures

    raw = np.asarray(values, dtype=float)
    keep = np.flatnonzero(np.isfinite(raw))
    x = raw[keep]
    n = len(x)
    if n < 2 * min_size:
        return []
    sigma = noise_sigma(x, rule)
    z = ((x - np.median(x)) / sigma).reshape(-1, 1)
    algo = ruptures.KernelCPD(kernel="linear", min_size=min_size).fit(z)
    cuts = [int(c) for c in algo.predict(pen=PENALTY_PER_LOG_N * math.log(n))][:-1]
    while True:
        bounds = [0, *cuts, n]
        worst: tuple[float, int] | None = None
        for i, cut in enumerate(cuts):
            a, b = x[bounds[i] : cut], x[cut : bounds[i + 2]]
            p = _segments_test(a, b)
            before, after = float(np.median(a)), float(np.median(b))
            bad = p >= alpha or not _big_enough(before, after - before, rule)
            score = p if bad else -1.0
            if bad and (worst is None or score > worst[0]):
                worst = (score, i)
        if worst is None:
            break
        del cuts[worst[1]]
    bounds = [0, *cuts, n]
    steps = []
    for i, cut in enumerate(cuts):
        a, b = x[bounds[i] : cut], x[cut : bounds[i + 2]]
        before, after = float(np.median(a)), float(np.median(b))
        steps.append(
            Step(
                index=int(keep[cut]),
                before=before,
                after=after,
                step=after - before,
                rel_step=(after - before) / abs(before) if before else None,
                p_value=_segments_test(a, b),
            )
        )
    return steps
