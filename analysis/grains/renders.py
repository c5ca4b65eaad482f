"""One cell's several profiled renders -> one row per grain: a representative render, the spread.

A cell profiles several renders (one ``farm.run`` window each). Each is attributed on its
own; a grain's row then takes

- its times, counts and ``pct_of_run`` from the cell's **representative render**: the
  render whose line shares lie closest to the per-line medians over all renders
  (:func:`representative_render`; the same render for every table of the cell, named in
  column ``render``). It is one real render, so the shares of one table still add up the
  way one render's do (exclusive lines to at most 100 %, a function's lines to the
  function), and a render that a pause of the machine stretched on one line is not it;
- ``pct_median``: the median of its per-render shares (a grain absent from a render has 0
  there); ``pct_min``/``pct_max``: their spread;
- ``min_call_us``: the fastest call over all renders.
"""

from __future__ import annotations

import statistics
from typing import Any

Metrics = dict[str, float]

#: What every ``pct_of_run`` (of every grain) is a share of, said the same way in every text.
SHARE_OF = "the cell's representative profiled render"
#: The column label of ``pct_of_run`` in summary.md, backlog.md and report.html.
SHARE_LABEL = "% of profiled render"
#: The sentence that says what the shares are, and what they are not.
SHARE_NOTE = (
    f"`{SHARE_LABEL}` (`pct_of_run`) is a share of {SHARE_OF}: of the renders run under "
    "torch.profiler after the cold run, the untimed warm-up(s) and the timed warm renders "
    "(their median is `profiled s` in summary.md's Timings), the one closest to the "
    "per-line medians. It is not a share of the timed warm renders, which run without the "
    "profiler, nor of the cold run; over several cells it is the mean of the cells' shares. "
    "A render that ran on several threads is taken as its thread-time: its wall time times "
    "the threads that worked in it."
)


def representative_render(got: list[dict[Any, Metrics]], runs: list[float], share: str) -> int:
    """The render whose shares are closest (sum of absolute differences) to the medians.

    Args:
        got: per render, metrics per key (a grain absent from a render has share 0 there).
        runs: per render, its run time (us).
        share: the metric whose share of the render is compared.
    """
    if len(runs) <= 1:
        return 0
    keys = {k for g in got for k in g}
    shares = [
        {k: 100.0 * (g.get(k) or {}).get(share, 0.0) / run if run > 0 else 0.0 for k in keys}
        for g, run in zip(got, runs, strict=True)
    ]
    medians = {k: statistics.median(s[k] for s in shares) for k in keys}
    distance = [sum(abs(s[k] - medians[k]) for k in keys) for s in shares]
    return min(range(len(runs)), key=lambda r: (distance[r], r))


def over_renders(
    got: list[dict[Any, Metrics]],
    runs: list[float],
    share: str,
    self_share: str | None = None,
    render: int | None = None,
) -> dict[Any, Metrics]:
    """Per key: the representative render's metrics and the share statistics (see above).

    Args:
        got: per render, metrics per key.
        runs: per render, its run time (us): the denominator of its shares.
        share: the metric whose share of the render is ``pct_of_run``.
        self_share: the metric behind ``self_pct`` (from that render), if any.
        render: the representative render; None: chosen by :func:`representative_render`.
    """
    m = representative_render(got, runs, share) if render is None else render
    out: dict[Any, Metrics] = {}
    for key in {k for g in got for k in g}:
        rows = [g.get(key) or {} for g in got]
        names = {name for r in rows for name in r}
        row: Metrics = {name: rows[m].get(name, 0.0) for name in names}
        shares = [
            100.0 * r.get(share, 0.0) / run if run > 0 else 0.0
            for r, run in zip(rows, runs, strict=True)
        ]
        row["pct_of_run"] = shares[m]
        row["pct_median"] = statistics.median(shares)
        row["pct_min"], row["pct_max"] = min(shares), max(shares)
        if self_share is not None:
            row["self_pct"] = 100.0 * rows[m].get(self_share, 0.0) / runs[m] if runs[m] > 0 else 0.0
        if "min_call_us" in names:
            fastest = [
                r["min_call_us"] for r in rows if r.get("min_call_us", float("inf")) != float("inf")
            ]
            row["min_call_us"] = min(fastest) if fastest else None
        out[key] = row
    return out
