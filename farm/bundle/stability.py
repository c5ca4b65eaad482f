"""pyperf's stability rules for a cell's warm samples, and timing anomalies, each saying what to do.

Anomalies compare the cell's renders with each other: a warm median above the cold run
(construction included), or a warm median far from the profiled render (a factor of
``FAR_FROM_PROFILED`` either way), means one of them was disturbed or is not representative.
"""

from __future__ import annotations

import statistics
from typing import Any

#: pyperf's rules for an unstable benchmark.
STDEV_WARN = 0.10  # stdev >= 10 % of the mean
OUTLIER_WARN = 0.50  # min or max 50 % off the median
SHORT_SAMPLE_S = 1e-3  # a sample under 1 ms
FAR_FROM_PROFILED = 2.0  # warm median vs the profiled render, either way


def timing_anomalies(rec: dict[str, Any]) -> list[str]:
    """Warm slower than cold, or warm far from the profiled render, each saying what to do."""
    warm, cold = rec.get("py_time_warm"), rec.get("py_time_cold")
    prof = rec.get("py_time_profiled")
    out = []
    if warm is not None and cold is not None and warm > cold:
        out.append(
            f"anomaly: the warm median ({warm:.4g} s) is above the cold run ({cold:.4g} s, "
            "construction included): the timed renders were disturbed (another process on "
            "the cores?); rerun the cell"
        )
    if warm and prof:
        ratio = warm / prof
        if ratio >= FAR_FROM_PROFILED:
            out.append(
                f"anomaly: the warm median ({warm:.4g} s) is {ratio:.1f}x the profiled render "
                f"({prof:.4g} s), which carries the profiler's overhead: the timed renders "
                "were disturbed; rerun the cell"
            )
        elif 1 / ratio >= FAR_FROM_PROFILED:
            out.append(
                f"anomaly: the profiled render ({prof:.4g} s) is {1 / ratio:.1f}x the warm "
                f"median ({warm:.4g} s): the profile over-weights per-operator overhead; its "
                "shares are not those of the warm render"
            )
    return out


def stability_warnings(rec: dict[str, Any]) -> list[str]:
    """Timing anomalies, then pyperf-style warnings for a cell's warm samples."""
    samples = [s for s in rec.get("py_time_warm_samples") or [] if s is not None]
    if not samples:
        return []
    out = timing_anomalies(rec)
    if len(samples) == 1:
        out.append(
            "only 1 warm run: no spread is known; set `iterations` to 3 or more for medians "
            "that can be compared"
        )
        if samples[0] < SHORT_SAMPLE_S:
            out.append(f"the warm run took {samples[0] * 1e3:.3f} ms (< 1 ms): use a larger size")
        return out
    mean = statistics.fmean(samples)
    median = statistics.median(samples)
    stdev = statistics.stdev(samples)
    if mean > 0 and stdev / mean >= STDEV_WARN:
        out.append(
            f"the standard deviation is {100 * stdev / mean:.0f}% of the mean (>= 10%): the "
            "timing is unstable; close other programs, pin threads, or raise `iterations`"
        )
    lo, hi = min(samples), max(samples)
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
