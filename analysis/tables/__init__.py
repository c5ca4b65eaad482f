"""Tables: the Parquet schemas (here), the writing of parts, the DuckDB catalog over bundles.

Only the schemas are handed on from here: import the parts writer from
:mod:`analysis.tables.parts` (pyarrow.parquet) and the catalog from
:mod:`analysis.tables.catalog` (DuckDB), so that a module needing a schema, such as trace
ingestion in a Ray worker, loads neither.
"""

from analysis.tables.schema import (
    CELL_STATS,
    CORRELATIONS,
    HOT_LOOPS,
    HOT_SHARES,
    LOOPS,
    OPS,
    PARITY_TILES,
    RUNS,
    SCHEMA_VERSION,
    TABLES,
)

__all__ = [
    "CELL_STATS",
    "CORRELATIONS",
    "HOT_LOOPS",
    "HOT_SHARES",
    "LOOPS",
    "OPS",
    "PARITY_TILES",
    "RUNS",
    "SCHEMA_VERSION",
    "TABLES",
]
