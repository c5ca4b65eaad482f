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
    params = {"campaign": out.campaign, "phase": out.phase}
    where = "WHERE campaign = $campaign AND phase = $phase"
    with open_summaries(refs, warn or out.notes.append) as cat:
        nights = cat.query(
            "SELECT stamp, any_value(coalesce(target_commit, git_sha)) FROM cell_stats "
            f"{where} GROUP BY stamp ORDER BY stamp",
            params,
        ).rows
        value = f"CASE WHEN status = 'ok' THEN {column} END" if column else "NULL"
        cells = cat.query(
            "SELECT identity, any_value(cell_tag), list(stamp ORDER BY stamp), "
            f"list({value} ORDER BY stamp), list(DISTINCT cell_id) FROM cell_stats {where} "
            "GROUP BY identity",
            params,
        ).rows
        spots = _spot_series(cat, {**params, "grain": grain}) if column is None else []
    stamps = [r[0] for r in nights]
    commits = [r[1] for r in nights]
    index = {st: i for i, st in enumerate(stamps)}
    tags = {r[0]: r[1] for r in cells}
    wanted = _match_cells(tags, {r[0]: r[4][0] for r in cells}, cell)
    rule = rule or default_rule
    series: list[tuple[str, str | None, np.ndarray]] = []
    if column is not None:
        for ident, _tag, night_stamps, values, _ids in cells:
            if ident in wanted:
                series.append((ident, None, _spread(index, night_stamps, values)))
    else:
        ident_of = {cid: r[0] for r in cells for cid in r[4]}
        profiled, rows = spots
        for cell_id, _key, label, night_stamps, values in rows:
            ident = ident_of.get(cell_id)
            if ident in wanted:
                seen = profiled.get(cell_id, [])
                x = _spread(index, seen, [0.0] * len(seen))
                x = _spread(index, night_stamps, values, x)
                series.append((ident, f"{grain} {label}", x))
    for ident, spot, x in series:
        s = Series(str(tags[ident]), ident, spot, list(stamps), list(commits))
        s.values = [None if np.isnan(v) else float(v) for v in x]
        for step in find_steps(x, rule, alpha=alpha):
            s.change_points.append(
                ChangePoint(
                    stamp=stamps[step.index],
                    commit=commits[step.index],
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


def _spread(
    index: dict[str, int], stamps: list[str], values: list[Any], into: np.ndarray | None = None
) -> np.ndarray:
    """Values placed at their nights' positions (NaN where a night has none)."""
    x = np.full(len(index), np.nan) if into is None else into
    pos = [index[st] for st in stamps]
    x[pos] = np.array([np.nan if v is None else v for v in values], dtype=float)
    return x


def _spot_series(cat: Any, params: dict[str, Any]) -> tuple[dict[str, list[str]], list[tuple]]:
    """Nights each cell was profiled, and one series per spot in its cell's top 5 somewhere.

    Returns:
        ``{cell_id: [stamp, ...]}`` and rows ``(cell_id, key, label, [stamp...], [pct...])``.
    """
    where = "WHERE campaign = $campaign AND phase = $phase AND grain = $grain"
    rows = cat.query(
        f"""
        WITH h AS MATERIALIZED (
            SELECT stamp, cell_id, key, pct, label, rank FROM hot_shares {where}),
        profiled AS (SELECT cell_id, list(DISTINCT stamp) AS nights FROM h GROUP BY cell_id),
        top AS (SELECT * FROM h QUALIFY min(rank) OVER (PARTITION BY cell_id, key) <= 5)
        SELECT t.cell_id, t.key, any_value(t.label), list(t.stamp ORDER BY t.stamp),
               list(t.pct ORDER BY t.stamp), any_value(p.nights)
        FROM top t JOIN profiled p USING (cell_id)
        GROUP BY t.cell_id, t.key ORDER BY t.cell_id, t.key
        """,
        params,
    ).rows
    return {r[0]: r[5] for r in rows}, [r[:5] for r in rows]


def _match_cells(tags: dict[str, Any], ids: dict[str, Any], cell: str | None) -> set[str]:
    """Identities whose tag is ``cell``, else contains it, else whose id starts with it."""
    if not tags:
        raise NightsError("these nights have no measured cells (no runs rows)")
    if not cell:
        return set(tags)
    exact = {i for i, t in tags.items() if t == cell}
    found = exact or {i for i, t in tags.items() if cell in str(t)}
    found = found or {i for i, c in ids.items() if str(c).startswith(cell)}
    if not found:
        raise NightsError(f"no cell matches {cell!r} (tags look like {next(iter(tags.values()))})")
    return found
