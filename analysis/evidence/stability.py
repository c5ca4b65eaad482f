"""pyperf's rules for an unstable timing, applied to a cell's warm samples.

Each warning says what is wrong and what to do: stdev >= 10 % of the mean, the minimum or
the maximum 50 % off the median, a sample under 1 ms, or a single warm run (no spread).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

STDEV_WARN = 0.10  # stdev >= 10 % of the mean
OUTLIER_WARN = 0.50  # min or max 50 % off the median
SHORT_SAMPLE_S = 1e-3  # a sample under 1 ms


def stability_warnings(samples: Sequence[float | None] | None) -> list[str]:
    """Warnings for one cell's warm samples (seconds), each saying what to do."""
    values = [float(s) for s in samples or [] if s is not None]
    if not values:
        return []
    out = []
    if len(values) == 1:
        out.append(
            "only 1 warm run: no spread is known; set `iterations` to 3 or more for medians "
            "that can be compared"
        )
        if values[0] < SHORT_SAMPLE_S:
            out.append(f"the warm run took {values[0] * 1e3:.3f} ms (< 1 ms): use a larger size")
        return out
    mean = statistics.fmean(values)
    median = statistics.median(values)
    stdev = statistics.stdev(values)
    if mean > 0 and stdev / mean >= STDEV_WARN:
        out.append(
            f"the standard deviation is {100 * stdev / mean:.0f}% of the mean (>= 10%): the "
            "timing is unstable; close other programs, pin threads, or raise `iterations`"
        )
    lo, hi = min(values), max(values)
    if median > 0 and (median - lo) / median >= OUTLIER_WARN:
        out.append(f"the minimum is {100 * (median - lo) / median:.0f}% below the median")
    if median > 0 and (hi - median) / median >= OUTLIER_WARN:
        out.append(
            f"the maximum is {100 * (hi - median) / median:.0f}% above the median: "
            "look for a warm-up effect or interference"
        )
    if lo < SHORT_SAMPLE_S:
        out.append(f"the shortest warm run took {lo * 1e3:.3f} ms (< 1 ms): use a larger size")
    return out
