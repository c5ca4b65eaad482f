"""A real bundle for the report tests: a small grid through `run_sweep` on the shared Ray.

Four CPU cells of ``python:report_targets:with_fault`` (32² and 64², float32 and float64;
float64 at 64² fails parity on purpose) and four CUDA cells, skipped where Ray has no GPU.
"""

from __future__ import annotations

import os
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


def sweep_report_grid(tmp: Path, progress: list | None = None):
    """Run the grid; return (grid, outcome); ``progress`` collects every snapshot."""
    from farm.driver import SweepOptions, run_sweep
    from farm.grid import load_grid

    path = tmp / "report-grid.toml"
    path.write_text(GRID)
    grid = load_grid(path)
    options = SweepOptions(reports=tmp / "reports", argv=["farm", "sweep", "--grid", str(path)])

    def record(p) -> None:
        if progress is not None:
            progress.append(vars(p).copy())

    return grid, run_sweep(grid, options, on_progress=record)


def relabel_copy(bundle: Path, stamp: str) -> Path:
    """A copy of ``bundle`` under another stamp (rows relabelled): a second night for the index.

    Made once: a later call with the same stamp returns the copy already there.
    """
    target = bundle.parent / stamp
    if target.exists():
        return target
    shutil.copytree(bundle, target, ignore=shutil.ignore_patterns("report.html"))
    for part in (target / "tables").glob("*/part-*.parquet"):
        table = pq.read_table(part)
        i = table.schema.get_field_index("stamp")
        column = pa.array([stamp] * table.num_rows, pa.string())
        table = table.set_column(i, table.schema.field(i), column)
        pq.write_table(table, part)
    return target


def chromium() -> str | None:
    """The system Chromium (``FARM_CHROMIUM``, else ``chromium`` on PATH), if playwright is here."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None
    for name in (os.environ.get("FARM_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None
