"""Build small evidence bundles from the committed trace fixture (for query and bundle tests).

A bundle gets three profiled cells of the synthetic target, all from the same real trace:
``good`` (cpu float32, verdict pass), ``bad`` (cpu float64, correlation 0.721: fail) and
``gpu`` (cuda:0 float32, pass; the CPU trace relabelled, so its kernels are absent).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from analysis.tables import CORRELATIONS, RUNS, SCHEMA_VERSION
from analysis.traces import trace_to_ops

DATA = Path(__file__).resolve().parent / "data" / "synthetic_cpu_event_tree"
SOURCE = Path(__file__).resolve().parent / "synthetic_loops"  # what the fixtures traced
TARGET = "python:synthetic_loops.target:factory"
CELLS = {
    "good": ("cpu", "float32", 320, "pass", 0.99999),
    "bad": ("cpu", "float64", 320, "fail", 0.721),
    "gpu": ("cuda:0", "float32", 320, "pass", 0.99998),
}


def _part(bundle: Path, table: str, cell_id: str, data: pa.Table) -> None:
    folder = bundle / "tables" / table
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, folder / f"part-{cell_id}.parquet")


def make_bundle(reports: Path, stamp: str, cells: dict = CELLS) -> Path:
    """Write reports/<campaign>/<phase>/<stamp>/tables/{runs,correlations,ops}."""
    bundle = reports / "loops-test" / "phase_b" / stamp
    for cell_id, (device, dtype, size, verdict, corr) in cells.items():
        keys = {"stamp": stamp, "cell_id": cell_id, "device": device, "dtype": dtype, "size": size}
        _part(bundle, "ops", cell_id, trace_to_ops(DATA / "trace.json.gz", keys))
        run = {
            **keys,
            "schema_version": SCHEMA_VERSION,
            "target": TARGET,
            "phase": "profiled",
            "status": "ok",
            "cell_tag": f"device={device},dtype={dtype},size={size}",
        }
        _part(bundle, "runs", cell_id, pa.Table.from_pylist([run], schema=RUNS))
        row = {
            **keys,
            "schema_version": SCHEMA_VERSION,
            "reference": "builtin",
            "corr": corr,
            "sum_ratio": 1.0,
            "verdict": verdict,
            "status": "ok",
        }
        _part(bundle, "correlations", cell_id, pa.Table.from_pylist([row], schema=CORRELATIONS))
    return bundle
