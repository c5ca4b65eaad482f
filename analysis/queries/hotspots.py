"""CPU-vs-GPU comparison of loop hotspots: documented SQL over the catalog's views.

The same loop's mean share of the representative profiled render and operator counts on
each side (``cpu`` cells, ``cuda*`` cells), over evidence cells only (see
:mod:`analysis.queries.ranking`). A side with no evidence cells in the stamp reads NULL ("not
measured"); a measured side where the loop got no time reads 0. Flags:

- ``hot on GPU only``: share >= ``$hot`` on GPU, below it on CPU; ``(many tiny launches)``
  is added when its kernels average under ``$tiny_us`` microseconds (launch-bound);
- ``hot on CPU only``: the reverse;
- ``hot on both``;
- ``hot on CPU; GPU not measured`` (or the reverse) when the stamp has no cells on a side.

Parameters: ``$stamp`` (:func:`hotspots` picks the newest when none is given), ``$hot``
(default 5.0 %), ``$tiny_us`` (default 10 us), ``$top``.
"""

from __future__ import annotations

from typing import Any

from analysis.queries.ranking import EVIDENCE_CTES, latest
from analysis.tables.catalog import Catalog, QueryResult

HOT_PCT = 5.0
TINY_KERNEL_US = 10.0

#: The flag column of a CPU-vs-GPU comparison (``cpu_pct``, ``gpu_pct``, ``us_per_kernel``).
FLAG_SQL = """\
       CASE
           WHEN gpu_pct >= $hot AND cpu_pct < $hot THEN 'hot on GPU only' ||
               CASE WHEN us_per_kernel < $tiny_us THEN ' (many tiny launches)' ELSE '' END
           WHEN cpu_pct >= $hot AND gpu_pct < $hot THEN 'hot on CPU only'
           WHEN cpu_pct >= $hot AND gpu_pct >= $hot THEN 'hot on both'
           WHEN cpu_pct >= $hot AND gpu_pct IS NULL THEN 'hot on CPU; GPU not measured'
           WHEN gpu_pct >= $hot AND cpu_pct IS NULL THEN 'hot on GPU; CPU not measured'
           ELSE ''
       END AS flag"""

HOTSPOTS_SQL = (
    EVIDENCE_CTES
    + """\
, sides AS (                     -- which sides have evidence cells at all
    SELECT bool_or(device NOT LIKE 'cuda%') AS has_cpu, bool_or(device LIKE 'cuda%') AS has_gpu
    FROM evidence
),
per_side AS (
    SELECT loop_id, CASE WHEN device LIKE 'cuda%' THEN 'gpu' ELSE 'cpu' END AS side,
           any_value(module) AS module, any_value(line) AS line,
           any_value(function) AS function,
           avg(pct_of_run) AS pct, avg(op_count) AS ops, avg(kernel_count) AS kernels,
           sum(gpu_us) / nullif(sum(kernel_count), 0) AS us_per_kernel
    FROM evidence
    GROUP BY loop_id, side
),
wide AS (
    SELECT loop_id, any_value(module) AS module, any_value(line) AS line,
           any_value(function) AS function,
           max(pct) FILTER (WHERE side = 'cpu') AS cpu_pct,
           max(ops) FILTER (WHERE side = 'cpu') AS cpu_ops,
           max(pct) FILTER (WHERE side = 'gpu') AS gpu_pct,
           max(ops) FILTER (WHERE side = 'gpu') AS gpu_ops,
           max(kernels) FILTER (WHERE side = 'gpu') AS gpu_kernels,
           max(us_per_kernel) FILTER (WHERE side = 'gpu') AS us_per_kernel
    FROM per_side
    GROUP BY loop_id
),
filled AS (
    SELECT w.loop_id, w.module, w.line, w.function,
           CASE WHEN s.has_cpu THEN coalesce(w.cpu_pct, 0) END AS cpu_pct,
           CASE WHEN s.has_cpu THEN coalesce(w.cpu_ops, 0) END AS cpu_ops,
           CASE WHEN s.has_gpu THEN coalesce(w.gpu_pct, 0) END AS gpu_pct,
           CASE WHEN s.has_gpu THEN coalesce(w.gpu_ops, 0) END AS gpu_ops,
           CASE WHEN s.has_gpu THEN coalesce(w.gpu_kernels, 0) END AS gpu_kernels,
           w.us_per_kernel
    FROM wide w, sides s
)
SELECT module, line, function,
       round(cpu_pct, 2) AS cpu_pct, CAST(round(cpu_ops) AS BIGINT) AS cpu_ops,
       round(gpu_pct, 2) AS gpu_pct, CAST(round(gpu_ops) AS BIGINT) AS gpu_ops,
       CAST(round(gpu_kernels) AS BIGINT) AS gpu_kernels,
       round(us_per_kernel, 2) AS us_per_kernel,
"""
    + FLAG_SQL
    + """,
       loop_id
FROM filled
ORDER BY greatest(coalesce(cpu_pct, 0), coalesce(gpu_pct, 0)) DESC, loop_id
LIMIT $top
"""
)


def hotspot_params(
    stamp: str | None = None, top: int = 20, hot: float = HOT_PCT, tiny_us: float = TINY_KERNEL_US
) -> dict[str, Any]:
    """Named parameters of :data:`HOTSPOTS_SQL`."""
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    return {"stamp": stamp, "top": int(top), "hot": float(hot), "tiny_us": float(tiny_us)}


def hotspots(catalog: Catalog, **params: Any) -> QueryResult:
    """Run :data:`HOTSPOTS_SQL` (parameters: see :func:`hotspot_params`)."""
    p = hotspot_params(**params)
    if p["stamp"] is None:
        p["stamp"] = latest(catalog)
    return catalog.query(HOTSPOTS_SQL, p)
