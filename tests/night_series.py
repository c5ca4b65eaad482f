"""A series of nights made from one real bundle: its measured rows, with controlled values.

Building 12 real bundles would take minutes on 2 cores, so :func:`clone_night` copies a
real bundle's ``runs`` and ``correlations`` parts into a new stamp folder, multiplying every
warm and profiled time by ``scale``, and setting the commit, the correlation and (optionally)
a ``hot_loops`` part with given loop shares. farm history then reads the copies through the
real catalog, summarising each as a sweep would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from analysis.tables.parts import write_rows


def stamp_of(night: int) -> str:
    """A stamp per night: 2026-01-01 + night days, 02:00 UTC."""
    return f"2026{1 + night // 28:02d}{1 + night % 28:02d}T020000Z"


def clone_night(
    source: Path,
    reports: Path,
    night: int,
    *,
    scale: float = 1.0,
    commit: str = "c0ffee",
    corr: float | None = None,
    loops: dict[str, float] | None = None,
) -> Path:
    """Write night ``night`` of ``source``'s campaign and phase; return its folder."""
    source = Path(source)
    stamp = stamp_of(night)
    bundle = Path(reports) / source.parent.parent.name / source.parent.name / stamp
    bundle.mkdir(parents=True)
    for name in ("env.json", "grid.toml"):
        if (source / name).exists():
            shutil.copy(source / name, bundle / name)
    for part in sorted((source / "tables" / "runs").glob("part-*.parquet")):
        runs = pq.read_table(part)
        timed = pc.is_in(runs["phase"], value_set=pc.cast(["warm", "profiled"], "string"))
        for col in ("sim_s", "total_s"):
            scaled = pc.if_else(timed, pc.multiply(runs[col], scale), runs[col])
            runs = runs.set_column(runs.schema.get_field_index(col), col, scaled)
        rows = [{**r, "git_sha": commit, "target_commit": commit} for r in runs.to_pylist()]
        cell_id = rows[0]["cell_id"]
        write_rows(bundle, "runs", cell_id, rows, stamp=stamp)
        corr_part = source / "tables" / "correlations" / part.name
        if corr_part.exists():
            crows = pq.read_table(corr_part).to_pylist()
            if corr is not None:
                crows = [{**r, "corr": corr} for r in crows]
            write_rows(bundle, "correlations", cell_id, crows, stamp=stamp)
        if loops:
            first = rows[0]
            hot = [
                {
                    "loop_id": loop_id,
                    "module": "nightly_targets.py",
                    "line": 50 + i,
                    "target": first["target"],
                    "device": first["device"],
                    "dtype": first["dtype"],
                    "size": first["size"],
                    "pct_of_run": pct,
                }
                for i, (loop_id, pct) in enumerate(loops.items())
            ]
            write_rows(bundle, "hot_loops", cell_id, hot, stamp=stamp)
    return bundle
