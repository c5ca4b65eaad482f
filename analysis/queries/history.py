"""Cells across stamps: the series behind the history index (``farm report --history``).

One row per stamp and cell tag: the warm median and spread, the cell's status and its
correlation verdict, the commit it ran at. A cell is known across stamps by its tag (its
axes), not by its id. Stamps become ISO times (``2026-12-01T20:34:01Z``) for time axes.
"""

from __future__ import annotations

from typing import Any

from analysis.queries.cells import STATUS_SQL
from analysis.tables.catalog import Catalog

#: Per stamp and cell tag: warm time, spread, status, verdict, commit.
SERIES_SQL = f"""\
WITH r AS (
    SELECT stamp, cell_tag,
           trim(regexp_replace(any_value(cell_tag), '(^|,)size=[0-9]+', ''), ',') AS series,
           any_value(target) AS target, any_value(device) AS device,
           any_value(dtype) AS dtype, any_value(size) AS size,
           median(total_s) FILTER (WHERE phase = 'warm') AS warm_s,
           min(total_s) FILTER (WHERE phase = 'warm') AS warm_min_s,
           max(total_s) FILTER (WHERE phase = 'warm') AS warm_max_s,
           max(peak_mem_mb) AS mem_peak_mb,
           {STATUS_SQL} AS status,
           any_value(git_sha) AS git_sha
    FROM runs GROUP BY stamp, cell_tag
),
c AS (
    SELECT stamp, cell_tag, string_agg(DISTINCT verdict, ',') AS verdict, min(corr) AS corr
    FROM correlations GROUP BY stamp, cell_tag
)
SELECT r.*, c.verdict, c.corr,
       strftime(strptime(r.stamp, '%Y%m%dT%H%M%SZ'), '%Y-%m-%dT%H:%M:%SZ') AS time
FROM r LEFT JOIN c USING (stamp, cell_tag)
ORDER BY series, size, stamp
"""

#: Per stamp: how many cells, how they ended, how many passed parity, the commit.
STAMPS_SQL = f"""\
WITH per_cell AS (
    SELECT stamp, cell_id,
           {STATUS_SQL} AS status,
           any_value(git_sha) AS git_sha
    FROM runs GROUP BY stamp, cell_id
),
v AS (
    SELECT stamp, count(*) FILTER (WHERE verdict = 'pass') AS passed,
           count(*) FILTER (WHERE verdict = 'fail') AS failed_parity
    FROM correlations GROUP BY stamp
)
SELECT p.stamp, count(*) AS cells,
       count(*) FILTER (WHERE p.status = 'ok') AS ok,
       count(*) FILTER (WHERE p.status = 'failed') AS failed,
       count(*) FILTER (WHERE p.status = 'skipped') AS skipped,
       coalesce(any_value(v.passed), 0) AS passed,
       coalesce(any_value(v.failed_parity), 0) AS failed_parity,
       any_value(p.git_sha) AS git_sha
FROM per_cell p LEFT JOIN v USING (stamp)
GROUP BY p.stamp
ORDER BY p.stamp DESC
"""


def series(catalog: Catalog) -> list[dict[str, Any]]:
    """:data:`SERIES_SQL` as records."""
    return catalog.query(SERIES_SQL).records()


def stamps(catalog: Catalog) -> list[dict[str, Any]]:
    """:data:`STAMPS_SQL` as records (newest first)."""
    return catalog.query(STAMPS_SQL).records()
