"""Ranking residual Python loops (Phase B3): documented SQL over the catalog's views.

Only cells whose correlation verdict is ``pass`` count as evidence. Every other cell with
loop data (verdict ``fail``, ``no_reference``, or no correlation row at all) is refused and
listed with its reason by :data:`REFUSED_SQL`; the Phase B1 seed was blocked on exactly such
a cell (correlation 0.721).

Parameters (DuckDB named parameters): ``$stamp`` (the bundle; :func:`rank` uses
:data:`LATEST_SQL`, the newest stamp with loop data, when none is given), ``$device`` (NULL:
all; a prefix, ``cuda`` matches ``cuda:0``), ``$dtype`` (NULL: all) and ``$top`` (rows per
device and dtype).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analysis.tables.catalog import Catalog, QueryResult

#: The newest stamp with loop data (stamps are UTC times that sort as text): the stamp that
#: :func:`rank` and :func:`analysis.queries.hotspots.hotspots` use when none is given.
LATEST_SQL = "SELECT max(stamp) AS stamp FROM hot_loops"

#: Cells of stamp ``$stamp`` and whether each is evidence (a CTE prefix shared by the queries).
EVIDENCE_CTES = """\
WITH stamp_rows AS MATERIALIZED (     -- the stamp's loop rows (the views are read once)
    SELECT * FROM hot_loops WHERE stamp = $stamp
),
verdicts AS MATERIALIZED (       -- a cell is evidence only if every correlation row passes
    SELECT stamp, cell_id,
           bool_and(verdict = 'pass') AS ok,
           min(corr) AS corr, min(sum_ratio) AS sum_ratio,
           string_agg(DISTINCT verdict, ',') AS verdicts,
           string_agg(DISTINCT coalesce(error, ''), '; ') AS errors
    FROM correlations
    WHERE stamp = $stamp
    GROUP BY stamp, cell_id
),
cells AS (                       -- every cell of the stamp that has loop data
    SELECT DISTINCT stamp, cell_id, target, device, dtype, size FROM stamp_rows
),
evidence AS (
    SELECT s.*
    FROM stamp_rows s JOIN verdicts v USING (stamp, cell_id)
    WHERE v.ok
)
"""

#: Top loops per device and dtype by their mean share of the representative profiled render
#: over evidence cells.
RANK_SQL = (
    EVIDENCE_CTES
    + """\
, per_loop AS (
    SELECT device, dtype, loop_id,
           any_value(module) AS module, any_value(line) AS line,
           any_value(function) AS function, any_value(kind) AS kind,
           avg(pct_of_run) AS pct, max(pct_of_run) AS max_pct, count(*) AS cells,
           array_to_string(list_sort(list(DISTINCT size)), ',') AS sizes,
           avg(op_count) AS ops, avg(kernel_count) AS kernels,
           avg(est_iterations) AS iterations,
           avg(100 * self_python_us / nullif(inclusive_us, 0)) AS python_pct
    FROM evidence
    WHERE ($device IS NULL OR device LIKE $device || '%')
      AND ($dtype IS NULL OR dtype = $dtype)
    GROUP BY device, dtype, loop_id
)
SELECT row_number() OVER (PARTITION BY device, dtype ORDER BY pct DESC, loop_id) AS rank,
       device, dtype, module, line, function, kind,
       round(pct, 2) AS pct_of_run, round(max_pct, 2) AS max_pct, cells, sizes,
       CAST(round(ops) AS BIGINT) AS op_count, CAST(round(kernels) AS BIGINT) AS kernels,
       CAST(round(iterations) AS BIGINT) AS est_iterations,
       round(python_pct, 1) AS python_pct, loop_id
FROM per_loop
QUALIFY rank <= $top
ORDER BY device, dtype, rank
"""
)

#: Cells with loop data that are not evidence, with the reason.
REFUSED_SQL = (
    EVIDENCE_CTES
    + """\
SELECT c.stamp, c.cell_id, c.target, c.device, c.dtype, c.size,
       coalesce(v.verdicts, 'missing') AS verdict,
       CASE
           WHEN v.cell_id IS NULL THEN 'no correlation row for this cell'
           WHEN v.verdicts LIKE '%fail%' THEN
               printf('correlation %.6f, sum ratio %.6f: failed the parity gate',
                      v.corr, v.sum_ratio)
           WHEN v.verdicts LIKE '%no_reference%' THEN
               'no reference image, parity unchecked' ||
               CASE WHEN v.errors <> '' THEN ': ' || v.errors ELSE '' END
           ELSE 'verdict ' || v.verdicts
       END AS reason
FROM cells c LEFT JOIN verdicts v USING (stamp, cell_id)
WHERE NOT coalesce(v.ok, false)
ORDER BY c.device, c.dtype, c.size, c.cell_id
"""
)


@dataclass(frozen=True)
class Ranking:
    """A ranking and the cells it refused."""

    ranked: QueryResult
    refused: QueryResult


def rank_params(
    stamp: str | None = None, device: str | None = None, dtype: str | None = None, top: int = 10
) -> dict[str, Any]:
    """Named parameters of :data:`RANK_SQL` and :data:`REFUSED_SQL`."""
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    return {"stamp": stamp, "device": device, "dtype": dtype, "top": int(top)}


def latest(catalog: Catalog) -> str | None:
    """The newest stamp with loop data in the catalog (:data:`LATEST_SQL`)."""
    return catalog.query(LATEST_SQL).rows[0][0]


def rank(catalog: Catalog, **params: Any) -> Ranking:
    """Run :data:`RANK_SQL` and :data:`REFUSED_SQL` (parameters: see :func:`rank_params`)."""
    p = rank_params(**params)
    if p["stamp"] is None:
        p["stamp"] = latest(catalog)
    refused_params = {"stamp": p["stamp"]}
    return Ranking(catalog.query(RANK_SQL, p), catalog.query(REFUSED_SQL, refused_params))
