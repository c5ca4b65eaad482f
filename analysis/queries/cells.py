"""One bundle's cells as the report shows them: timings, memory, parity, tile maps.

Documented SQL over the catalog's views (:mod:`analysis.tables.catalog`), one row per cell.
A cell's *series* is its tag without the ``size=`` part (``device=cpu,dtype=float32`` plus
any other axis), so cells that differ only in size line up on one curve.

Parameters: ``$stamp`` (the bundle).
"""

from __future__ import annotations

from typing import Any

from analysis.tables.catalog import Catalog

#: A cell's status from its runs rows: failed if any row failed, else skipped if any was.
STATUS_SQL = """CASE WHEN bool_or(status = 'failed') THEN 'failed'
            WHEN bool_or(status = 'skipped') THEN 'skipped'
            ELSE 'ok' END"""

#: Per cell: status, cold / warm (median, spread, samples) / profiled times, peak memory.
CELLS_SQL = f"""\
WITH r AS (SELECT * FROM runs WHERE stamp = $stamp)
SELECT cell_id,
       any_value(cell_tag) AS tag,
       trim(regexp_replace(any_value(cell_tag), '(^|,)size=[0-9]+', ''), ',') AS series,
       any_value(target) AS target,
       any_value(device) AS device,
       any_value(device_name) FILTER (WHERE device_name IS NOT NULL) AS device_name,
       any_value(dtype) AS dtype, any_value(size) AS size, any_value(pixels) AS pixels,
       any_value(params) AS params,
       {STATUS_SQL} AS status,
       any_value(error) FILTER (WHERE error IS NOT NULL) AS error,
       max(total_s) FILTER (WHERE phase = 'cold') AS cold_s,
       max(setup_s) FILTER (WHERE phase = 'cold') AS cold_setup_s,
       max(sim_s) FILTER (WHERE phase = 'cold') AS cold_sim_s,
       median(total_s) FILTER (WHERE phase = 'warm') AS warm_s,
       min(total_s) FILTER (WHERE phase = 'warm') AS warm_min_s,
       max(total_s) FILTER (WHERE phase = 'warm') AS warm_max_s,
       stddev_samp(total_s) FILTER (WHERE phase = 'warm') AS warm_sd_s,
       count(total_s) FILTER (WHERE phase = 'warm') AS warm_n,
       list(total_s ORDER BY iteration) FILTER (WHERE phase = 'warm') AS warm_samples,
       median(total_s) FILTER (WHERE phase = 'profiled') AS profiled_s,
       max(peak_mem_mb) FILTER (WHERE phase = 'cold') AS mem_cold_mb,
       max(peak_mem_mb) FILTER (WHERE phase = 'warm') AS mem_warm_mb,
       max(peak_mem_mb) AS mem_peak_mb,
       max(device_peak_allocated_mb) AS device_mem_peak_mb,
       max(throughput_px_s) FILTER (WHERE phase = 'warm') AS throughput_px_s,
       max(threads) AS threads, any_value(node) AS node
FROM r
GROUP BY cell_id
ORDER BY target, device, dtype, series, size, tag
"""

#: Per cell with a correlation row: the parity numbers and the verdict.
CORRELATIONS_SQL = """\
SELECT cell_id, cell_tag AS tag, device, dtype, size, reference, reference_s, corr,
       sum_ratio, max_abs_err, rmse, tile_min_corr, worst_tile, verdict, status, error
FROM correlations
WHERE stamp = $stamp
ORDER BY device, dtype, size, tag
"""

#: The tile maps (table ``parity_tiles``), one row per tile.
TILES_SQL = """\
SELECT cell_id, tile_row, tile_col, slow_start, slow_end, fast_start, fast_end, corr, sum_ratio
FROM parity_tiles
WHERE stamp = $stamp
ORDER BY cell_id, tile_row, tile_col
"""

_VIEWS_SQL = "SELECT view_name FROM duckdb_views() WHERE NOT internal"


def views(catalog: Catalog) -> set[str]:
    """Names of the views the catalog defines (tables of later schema versions may be absent)."""
    return {row[0] for row in catalog.query(_VIEWS_SQL).rows}


def cells(catalog: Catalog, stamp: str) -> list[dict[str, Any]]:
    """:data:`CELLS_SQL` as records."""
    return catalog.query(CELLS_SQL, {"stamp": stamp}).records()


def correlations(catalog: Catalog, stamp: str) -> list[dict[str, Any]]:
    """:data:`CORRELATIONS_SQL` as records."""
    return catalog.query(CORRELATIONS_SQL, {"stamp": stamp}).records()


def tiles(catalog: Catalog, stamp: str) -> dict[str, list[dict[str, Any]]]:
    """Tile rows per cell id (empty when the bundle predates table ``parity_tiles``)."""
    if "parity_tiles" not in views(catalog):
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for row in catalog.query(TILES_SQL, {"stamp": stamp}).records():
        out.setdefault(row.pop("cell_id"), []).append(row)
    return out
