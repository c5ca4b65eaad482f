"""The bundle's CSV hand-offs: ``hot_loops.csv`` (Phase B2) and ``cpu_vs_gpu.csv``."""

from __future__ import annotations

import csv
import io
from typing import Any

from analysis.evidence.markdown import number
from analysis.tables.catalog import QueryResult


def hot_loops_csv(ranked: QueryResult) -> str:
    """``hot_loops.csv``: module, line, loop_id, %time, call_count, notes per ranked loop.

    ``%time`` (the seed's name) is ``pct_of_run``: the share of each cell's representative
    profiled render, mean over the cells; the notes say so, with the largest share.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["module", "line", "loop_id", "%time", "call_count", "notes"])
    for r in ranked.records():
        note = (
            f"{r['device']} {r['dtype']}; size {r['sizes']}; {r['cells']} cell(s); "
            f"%time of the profiled render (mean; max {r['max_pct']}%); "
            f"{_iterations(r['est_iterations'])}; "
            f"{number(r['python_pct'])}% Python"
        )
        if r["kernels"]:
            note += f"; {r['kernels']} kernels"
        w.writerow([r["module"], r["line"], r["loop_id"], r["pct_of_run"], r["op_count"], note])
    return buf.getvalue()


def result_csv(result: QueryResult) -> str:
    """A query result as CSV, its column names first (``cpu_vs_gpu.csv``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(result.columns)
    w.writerows(result.rows)
    return buf.getvalue()


def _iterations(v: Any) -> str:
    return "iterations unknown" if v is None else f"~{int(v)} iterations"
