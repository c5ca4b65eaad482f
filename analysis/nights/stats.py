"""Is a cell slower than last night? Warm samples of two bundles, compared with scipy.

A timing regression needs all three (the first two as in asv and pyperf):

* the ratio of warm medians ``new / base`` is at least ``1 + threshold``,
* the medians differ by at least ``min_delta`` seconds (the noise floor: renders of a
  fraction of a millisecond shift by up to 2x between two processes on a shared host, an
  offset that a night's own samples cannot show; measured by
  ``benchmarks/nightly_false_alarms.py``), and
* Welch's t-test on the logarithms of the warm samples rejects "same mean" at ``alpha``
  (two-sided). Logarithms because run times are skewed and their spread grows with their
  size; Welch because the two nights need not have the same spread. A t-test rather than a
  rank test because nights often keep only 3-5 warm samples, where Mann-Whitney cannot reach
  p < 0.05 at all (3 against 3: the smallest two-sided p is 0.1).

The ratio comes with a percentile bootstrap confidence interval (``scipy.stats.bootstrap``,
each night resampled on its own, fixed seed so a report is reproducible).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis.plurals import counted

#: Bootstrap resamples for the interval of the median ratio.
RESAMPLES = 2000


@dataclass(frozen=True)
class SampleChange:
    """Two nights' samples of one metric of one cell, compared.

    Attributes:
        base_median: median of the base samples.
        new_median: median of the new samples.
        ratio: ``new_median / base_median``.
        ci_low: lower end of the confidence interval of the ratio (None: too few samples).
        ci_high: upper end.
        p_value: two-sided Welch t-test on the log samples (None: fewer than 2 a side).
        n_base: base samples.
        n_new: new samples.
        significant: ``p_value < alpha``.
        slower: a regression: ratio >= 1 + threshold, above the floor and significant.
        faster: an improvement: ratio <= 1 / (1 + threshold), above the floor, significant.
        below_floor: the medians differ by less than the floor (never slower nor faster).
        note: why no test was possible, if so.
    """

    base_median: float
    new_median: float
    ratio: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_base: int
    n_new: int
    significant: bool
    slower: bool
    faster: bool
    below_floor: bool = False
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _clean(samples: Sequence[float] | None) -> np.ndarray:
    values = np.asarray([s for s in samples or () if s is not None], dtype=float)
    return values[np.isfinite(values) & (values > 0)]


def welch_log_p(base: np.ndarray, new: np.ndarray) -> float | None:
    """Two-sided p of Welch's t-test on ``log(base)`` against ``log(new)``.

    Samples without spread on both sides give 0.0 when their means differ and 1.0 when not
    (a timer that always reads the same value has no noise to test against).
    """
    from scipy import stats

    if len(base) < 2 or len(new) < 2:
        return None
    lb, ln = np.log(base), np.log(new)
    if np.ptp(lb) == 0 and np.ptp(ln) == 0:
        return 1.0 if lb[0] == ln[0] else 0.0
    p = float(stats.ttest_ind(lb, ln, equal_var=False).pvalue)
    return p if math.isfinite(p) else None


def median_ratio_ci(
    base: np.ndarray, new: np.ndarray, confidence: float = 0.95, seed: int = 0
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of ``median(new) / median(base)``."""
    from scipy import stats

    if len(base) < 2 or len(new) < 2:
        return None, None
    if np.ptp(base) == 0 and np.ptp(new) == 0:
        r = float(new[0] / base[0])
        return r, r

    def ratio(b: np.ndarray, n: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.median(n, axis=axis) / np.median(b, axis=axis)

    res = stats.bootstrap(
        (base, new),
        ratio,
        paired=False,
        vectorized=True,
        n_resamples=RESAMPLES,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return (low if math.isfinite(low) else None), (high if math.isfinite(high) else None)


def compare_samples(
    base: Sequence[float] | None,
    new: Sequence[float] | None,
    *,
    threshold: float = 0.10,
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_delta: float = 0.0,
) -> SampleChange | None:
    """Compare two nights' samples of a "lower is better" metric (see the module docstring).

    Args:
        base: the base night's samples (warm seconds, MiB, ...); non-positive values dropped.
        new: the new night's samples.
        threshold: the relative change that matters (0.10: 10 %).
        alpha: significance level of the test.
        confidence: level of the ratio's interval.
        min_delta: the noise floor: medians closer than this (in the samples' unit) never
            make a regression or an improvement.

    Returns:
        The comparison, or None when a side has no usable sample.
    """
    b, n = _clean(base), _clean(new)
    if not len(b) or not len(n):
        return None
    bm, nm = float(np.median(b)), float(np.median(n))
    ratio = nm / bm
    p = welch_log_p(b, n)
    low, high = median_ratio_ci(b, n, confidence)
    note = ""
    if p is None:
        samples = f"{counted(len(b), 'base sample')} and {counted(len(n), 'new sample')}"
        note = f"no test: {samples}; at least 2 a side needed"
    significant = p is not None and p < alpha
    below_floor = abs(nm - bm) < min_delta
    return SampleChange(
        base_median=bm,
        new_median=nm,
        ratio=ratio,
        ci_low=low,
        ci_high=high,
        p_value=p,
        n_base=len(b),
        n_new=len(n),
        significant=significant,
        slower=significant and not below_floor and ratio >= 1 + threshold,
        faster=significant and not below_floor and ratio <= 1 / (1 + threshold),
        below_floor=below_floor,
        note=note,
    )
