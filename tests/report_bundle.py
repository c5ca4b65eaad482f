"""A real bundle for the report tests: a small grid through `run_sweep` on the shared Ray.

Four CPU cells of ``python:report_targets:with_fault`` (32² and 64², float32 and float64;
float64 at 64² fails parity on purpose) and four CUDA cells, skipped where Ray has no GPU.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

GRID = """\
campaign = "tests"
phase = "report"
description = "Report test grid: two sizes, both dtypes, a faulty cell, CUDA skipped here."
target = "python:report_targets:with_fault"
flags = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"
reference = "builtin"
iterations = 2
profile = true
cpus_per_actor = 1
threads = 1

[axes]
device = ["cpu", "cuda"]
dtype = ["float32", "float64"]
size = [32, 64]
"""

FAILING_TAG = "device=cpu,dtype=float64,size=64"


def sweep_report_grid(tmp: Path):
    """Run the grid; return (grid, outcome)."""
    from farm.driver import SweepOptions, run_sweep
    from farm.grid import load_grid

    path = tmp / "report-grid.toml"
    path.write_text(GRID)
    grid = load_grid(path)
    options = SweepOptions(reports=tmp / "reports", argv=["farm", "sweep", "--grid", str(path)])
    outcome = run_sweep(grid, options, on_progress=lambda p: None)
    from farm.html.bundle_report import write_bundle_report  # PHASE1-TEMP

    write_bundle_report(
        outcome.bundle.path, {"report_targets": Path(__file__).parent}
    )  # PHASE1-TEMP
    return grid, outcome


def relabel_copy(bundle: Path, stamp: str) -> Path:
    """A copy of ``bundle`` under another stamp (rows relabelled): a second night for the index."""
    target = bundle.parent / stamp
    shutil.copytree(bundle, target, ignore=shutil.ignore_patterns("report.html"))
    for part in (target / "tables").glob("*/part-*.parquet"):
        table = pq.read_table(part)
        i = table.schema.get_field_index("stamp")
        column = pa.array([stamp] * table.num_rows, pa.string())
        table = table.set_column(i, table.schema.field(i), column)
        pq.write_table(table, part)
    return target
