"""A cell over the nights: one metric's series per cell, with the change points found.

Metrics: ``warm_s`` (median warm time), ``peak_mem_mb``, ``corr``, and ``pct_of_run`` (the
share of each hot spot of a grain that was in a cell's top 5 on some night; a night that
profiled the cell but did not keep the spot reads 0). Change points come from
:mod:`analysis.nights.changepoints`, each with the stamp and commit where the new level
starts and the size of the step. One query over the per-bundle summaries answers it all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.nights.bundles import BundleRef, NightsError, list_bundles
from analysis.nights.changepoints import StepRule, find_steps
from analysis.nights.load import ensure_summaries, open_summaries

#: metric -> (cell_stats column, or None for hot_shares; what counts as a step).
METRICS: dict[str, tuple[str | None, StepRule]] = {
    "warm_s": ("warm_median_s", StepRule(min_rel=0.10, floor_rel=0.01)),
    "peak_mem_mb": ("peak_mem_mb", StepRule(min_rel=0.10, min_abs=1.0, floor_rel=0.005)),
    "corr": ("corr", StepRule(min_abs=1e-4, floor_abs=1e-6)),
    "pct_of_run": (None, StepRule(min_abs=5.0, floor_abs=0.5)),
}


@dataclass(frozen=True)
class ChangePoint:
    """Where a series steps.

    Attributes:
        stamp: the first night of the new level.
        commit: the target's commit that night.
        before: median level before.
        after: median level from ``stamp`` on.
        step: ``after - before``.
        rel_step: ``step / |before|``.
        p_value: Welch's test between the two levels.
    """

    stamp: str
    commit: str | None
    before: float
    after: float
    step: float
    rel_step: float | None
    p_value: float


@dataclass
class Series:
    """One cell's (or one hot spot's) values over the nights.

    Attributes:
        tag: the cell's tag.
        identity: its matching key.
        spot: for ``pct_of_run``, the hot spot (``loop simulator/engine.py:205``).
        stamps: nights, oldest first.
        commits: the target's commit of each night.
        values: the metric per night (None: not measured that night).
        change_points: the steps found.
    """

    tag: str
    identity: str
    spot: str | None = None
    stamps: list[str] = field(default_factory=list)
    commits: list[str | None] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    change_points: list[ChangePoint] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["points"] = [
            {"stamp": s, "commit": c, "value": v}
            for s, c, v in zip(self.stamps, self.commits, self.values, strict=True)
        ]
        for key in ("stamps", "commits", "values"):
            del out[key]
        return out


@dataclass
class History:
    """The answer of ``farm history``.

    Attributes:
        campaign: the campaign.
        phase: the phase.
        metric: the metric.
        nights: number of bundles read.
        series: one per cell (and per hot spot for ``pct_of_run``).
        notes: what happened on the way.
    """

    campaign: str
    phase: str
    metric: str
    nights: int
    series: list[Series] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "campaign": self.campaign,
            "phase": self.phase,
            "metric": self.metric,
            "nights": self.nights,
            "series": [s.to_json() for s in self.series],
            "notes": self.notes,
        }


def pick_series(root: Path, campaign: str | None, phase: str | None) -> list[BundleRef]:
    """The bundles of one campaign and phase (by default that of the newest bundle).

    Raises:
        NightsError: no bundle, or the filters leave several campaigns/phases.
    """
    refs = list_bundles(root, campaign, phase)
    if not refs:
        what = "/".join(x for x in (campaign, phase) if x) or "any campaign"
        raise NightsError(f"no bundles of {what} under {root}")
    series = sorted({r.series for r in refs})
    if len(series) > 1 and (campaign or phase):
        names = ", ".join("/".join(s) for s in series)
        raise NightsError(f"several series match ({names}): give --campaign and --phase")
    newest = refs[-1].series
    return [r for r in refs if r.series == newest]


def history(
    root: Path,
    *,
    campaign: str | None = None,
    phase: str | None = None,
    cell: str | None = None,
    metric: str = "warm_s",
    grain: str = "loop",
    alpha: float = 0.01,
    rule: StepRule | None = None,
    warn: Callable[[str], None] | None = None,
) -> History:
    """Series and change points of ``metric`` (see the module docstring).

    Args:
        root: the reports root.
        campaign: the campaign (default: the newest bundle's).
        phase: the phase.
        cell: keep cells whose tag is this, or contains it, or whose id starts with it.
        metric: ``warm_s`` | ``peak_mem_mb`` | ``corr`` | ``pct_of_run``.
        grain: for ``pct_of_run``: ``loop`` | ``line`` | ``function``.
        alpha: significance level of a change point.
        rule: the step rule (default: the metric's).
        warn: called with each warning line.

    Raises:
        NightsError: unknown metric, no bundles, or no cell matching ``cell``.
    """
    if metric not in METRICS:
        raise NightsError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    refs = pick_series(Path(root), campaign, phase)
    out = History(refs[0].campaign, refs[0].phase, metric, len(refs))
    ensure_summaries(refs, out.notes.append)
    column, default_rule = METRICS[metric]
    with open_summaries(refs, warn or out.notes.append) as cat:
        params = {"campaign": out.campaign, "phase": out.phase}
        cells = cat.query(
            "SELECT identity, stamp, any_value(cell_tag), any_value(cell_id), "
            "any_value(coalesce(target_commit, git_sha)), any_value(status), "
            f"any_value({column or 'NULL'}) FROM cell_stats "
            "WHERE campaign = $campaign AND phase = $phase GROUP BY ALL ORDER BY stamp",
            params,
        ).rows
        spots = _spot_rows(cat, {**params, "grain": grain}) if column is None else []
    stamps = sorted({r[1] for r in cells})
    commit = {r[1]: r[4] for r in cells}
    tags = {r[0]: r[2] for r in cells}
    wanted = _match_cells(tags, {r[0]: r[3] for r in cells}, cell)
    if column is not None:
        values = {(r[0], r[1]): (r[6] if r[5] == "ok" else None) for r in cells}
        keys = [(ident, None) for ident in wanted]
    else:
        profiled = {(r[0], r[1]) for r in spots}
        values = {(r[0], r[1], r[2]): r[3] for r in spots}
        labels = {(r[0], r[2]): r[4] for r in spots}
        keys = sorted({(r[0], r[2]) for r in spots if r[0] in wanted and r[5]})
    for ident, spot in keys:
        s = Series(
            str(tags[ident]), ident, None if spot is None else f"{grain} {labels[ident, spot]}"
        )
        for stamp in stamps:
            if spot is None:
                v = values.get((ident, stamp))
            elif (ident, stamp) in profiled:
                v = values.get((ident, stamp, spot), 0.0)
            else:
                v = None
            s.stamps.append(stamp)
            s.commits.append(commit.get(stamp))
            s.values.append(None if v is None else float(v))
        series_values = np.array([np.nan if v is None else v for v in s.values], dtype=float)
        for step in find_steps(series_values, rule or default_rule, alpha=alpha):
            s.change_points.append(
                ChangePoint(
                    stamp=s.stamps[step.index],
                    commit=s.commits[step.index],
                    before=step.before,
                    after=step.after,
                    step=step.step,
                    rel_step=step.rel_step,
                    p_value=step.p_value,
                )
            )
        out.series.append(s)
    out.series.sort(key=lambda s: (s.tag, s.spot or ""))
    return out


def _spot_rows(cat: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """(identity, stamp, key, pct, label, reaches the top 5 somewhere) per hot spot row."""
    return cat.query(
        """
        WITH h AS (
            SELECT c.identity, h.stamp, h.key, h.pct, h.label, h.rank
            FROM hot_shares h JOIN cell_stats c
              ON h.stamp = c.stamp AND h.cell_id = c.cell_id
             AND h.campaign = c.campaign AND h.phase = c.phase
            WHERE c.campaign = $campaign AND c.phase = $phase AND h.grain = $grain)
        SELECT identity, stamp, key, pct, label,
               min(rank) OVER (PARTITION BY identity, key) <= 5 AS top
        FROM h ORDER BY identity, key, stamp
        """,
        params,
    ).rows


def _match_cells(tags: dict[str, Any], ids: dict[str, Any], cell: str | None) -> set[str]:
    """Identities whose tag is ``cell``, else contains it, else whose id starts with it."""
    if not cell:
        return set(tags)
    exact = {i for i, t in tags.items() if t == cell}
    found = exact or {i for i, t in tags.items() if cell in str(t)}
    found = found or {i for i, c in ids.items() if str(c).startswith(cell)}
    if not found:
        raise NightsError(f"no cell matches {cell!r} (tags look like {next(iter(tags.values()))})")
    return found
