"""One compact summary per bundle, so nights are compared and followed in one query.

A night's tables hold a part per cell and table (``runs``, ``correlations``, ``hot_loops``,
...): a year of a 40-cell grid is ~15,000 parts per table, and DuckDB needs seconds just to
open them. :func:`summarise_bundle` reads one bundle's parts once and writes two parts of its
own, one row per cell (``cell_stats``) and one per hot spot (``hot_shares``), each as
``tables/<table>/part-bundle.parquet``; ``farm compare`` and ``farm history`` read only
those (365 parts, not 15,000).

Cell identity (what compare matches on): target, device, dtype, size, ``params`` (the
flags, the flag axes and the ``[options]``, as JSON) and ``env`` (per-cell environment, where
the runs table has such a column).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from analysis.tables.catalog import Catalog, CatalogError
from analysis.tables.parts import write_part
from analysis.tables.schema import CELL_STATS, HOT_SHARES, SCHEMA_VERSION

#: Part name of the per-bundle summaries.
PART = "bundle"

#: Hot spots kept per cell and grain (the top ones, and any with at least MIN_PCT).
TOP_KEPT = 10
MIN_PCT = 1.0

#: Columns of ``runs`` that later schema versions or other issues add; NULL where absent.
_OPTIONAL_RUNS = ("env", "node_id", "node_ip", "target_commit")

#: grain -> (table, key expression, label expression, share column) for hot-spot tables.
GRAINS: dict[str, tuple[str, str, str, str]] = {
    "loop": ("hot_loops", "loop_id", "module || ':' || line", "pct_of_run"),
    "line": ("hot_lines", "module || ':' || line", "module || ':' || line", "pct_of_run"),
    "function": (
        "hot_functions",
        "module || ':' || function",
        "module || ':' || function",
        "pct_of_run",
    ),
}


def identity_of(row: dict[str, Any]) -> str:
    """The matching key of a cell (JSON text of its identity columns)."""
    keys = ("target", "device", "dtype", "size", "params", "env")
    return json.dumps([row.get(k) for k in keys], default=str)


def _columns(cat: Catalog, view: str) -> set[str]:
    try:
        return set(cat.query(f"SELECT * FROM {view} LIMIT 0").columns)
    except CatalogError:  # a view that does not exist (hot_lines before issue 9)
        return set()


def _opt(cols: set[str], name: str) -> str:
    return f"any_value({name})" if name in cols else "NULL"


def cell_stats_sql(cols: set[str]) -> str:
    """SQL of the ``cell_stats`` rows over the views ``runs`` and ``correlations``."""
    optional = ",\n       ".join(f"{_opt(cols, c)} AS {c}" for c in _OPTIONAL_RUNS)
    return f"""
WITH warm AS (
    SELECT cell_id, list(total_s ORDER BY iteration) AS warm_samples,
           median(total_s) AS warm_median_s, max(peak_mem_mb) AS peak_mem_mb
    FROM runs WHERE phase = 'warm' AND status = 'ok' AND total_s IS NOT NULL GROUP BY cell_id),
timed AS (
    SELECT cell_id, min(total_s) FILTER (phase = 'cold') AS cold_s,
           median(total_s) FILTER (phase = 'profiled') AS profiled_s
    FROM runs GROUP BY cell_id),
cells AS (
    SELECT stamp, cell_id, any_value(cell_tag) AS cell_tag, any_value(target) AS target,
       any_value(device) AS device, any_value(dtype) AS dtype, any_value(size) AS size,
       any_value(params) AS params,
       CASE WHEN bool_or(status = 'failed') THEN 'failed'
            WHEN bool_and(status = 'skipped') THEN 'skipped' ELSE 'ok' END AS status,
       any_value(torch_version) AS torch_version, any_value(device_name) AS device_name,
       any_value(threads) AS threads, any_value(git_sha) AS git_sha, any_value(node) AS node,
       {optional}
    FROM runs GROUP BY stamp, cell_id),
corr AS (
    SELECT cell_id, min(corr) AS corr, any_value(sum_ratio) AS sum_ratio,
           CASE WHEN bool_or(verdict = 'fail') THEN 'fail'
                WHEN bool_and(verdict = 'pass') THEN 'pass' ELSE any_value(verdict) END
               AS verdict
    FROM correlations GROUP BY cell_id)
SELECT c.*, w.warm_samples, w.warm_median_s, w.peak_mem_mb, t.cold_s, t.profiled_s,
       r.corr, r.sum_ratio, r.verdict
FROM cells c LEFT JOIN warm w USING (cell_id) LEFT JOIN timed t USING (cell_id)
LEFT JOIN corr r USING (cell_id)
ORDER BY c.cell_tag
"""


def hot_shares_sql(grain: str) -> str:
    """SQL of the ``hot_shares`` rows of one grain (median share over profiled renders)."""
    table, key, label, share = GRAINS[grain]
    return f"""
WITH per AS (
    SELECT cell_id, CAST({key} AS VARCHAR) AS key, any_value({label}) AS label,
           median({share}) AS pct
    FROM {table} WHERE {share} IS NOT NULL GROUP BY cell_id, {key}),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY cell_id ORDER BY pct DESC, key) AS rank
    FROM per)
SELECT cell_id, '{grain}' AS grain, key, label, pct, rank FROM ranked
WHERE rank <= {TOP_KEPT} OR pct >= {MIN_PCT}
ORDER BY cell_id, rank
"""


def summarise_bundle(bundle: Path) -> dict[str, int]:
    """Write ``cell_stats`` and ``hot_shares`` of ``bundle`` (see the module docstring).

    Returns:
        Rows written per table.
    """
    bundle = Path(bundle)
    stamp, phase, campaign = bundle.name, bundle.parent.name, bundle.parent.parent.name
    with Catalog(bundle) as cat:
        cols = _columns(cat, "runs")
        stats = cat.query(cell_stats_sql(cols)).records()
        shares: list[dict[str, Any]] = []
        for grain, (table, *_rest) in GRAINS.items():
            if "pct_of_run" in _columns(cat, table):
                shares += cat.query(hot_shares_sql(grain)).records()
    for row in stats:
        row.update(campaign=campaign, phase=phase, identity=identity_of(row))
        row["schema_version"] = SCHEMA_VERSION
        row["stamp"] = stamp
    for row in shares:
        row.update(schema_version=SCHEMA_VERSION, stamp=stamp, campaign=campaign, phase=phase)
    write_part(bundle, "cell_stats", PART, _table(CELL_STATS, stats))
    write_part(bundle, "hot_shares", PART, _table(HOT_SHARES, shares))
    return {"cell_stats": len(stats), "hot_shares": len(shares)}


def has_summary(bundle: Path) -> bool:
    """Whether ``bundle`` has its ``cell_stats`` part."""
    return (Path(bundle) / "tables" / "cell_stats" / f"part-{PART}.parquet").is_file()


def _table(schema: pa.Schema, rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(
        [{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema
    )
