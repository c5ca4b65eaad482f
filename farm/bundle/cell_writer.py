"""Writing one finished cell into the bundle: its trace files, table parts and record.

A cell that failed parity also leaves ``parity/<tag>/diff.png`` (its reduced difference
image); every correlated cell leaves its tile map as a ``parity_tiles`` part.

The ``runs`` part is written last: it is the marker ``--resume`` reads, so a cell whose writing
was cut short runs again instead of leaving a half-written cell behind.
"""

from __future__ import annotations

from analysis.tables.parts import write_bytes_atomic, write_rows
from farm.actors.messages import CellResult, ops_table
from farm.bundle.folder import Bundle
from farm.error_text import short_error


def write_cell_result(bundle: Bundle, result: CellResult) -> None:
    """Write a finished cell: traces, ops, correlation, record, then runs (the marker).

    A malformed ops table costs the ops part only: the reason joins the cell's notes.
    """
    stamp, cid = bundle.stamp, result.cell_id
    if result.trace_files:
        bundle.write_trace_files(result.tag, result.trace_files)
    if result.ops_ipc is not None:
        try:
            write_rows(bundle.path, "ops", cid, ops_table(result), stamp=stamp)
        except Exception as exc:
            result.notes.append(f"ops part not written: {short_error(exc)}")
    if result.correlation is not None:
        write_rows(bundle.path, "correlations", cid, [result.correlation], stamp=stamp)
    if result.tiles:
        write_rows(bundle.path, "parity_tiles", cid, result.tiles, stamp=stamp)
    if result.diff_png is not None:
        write_bytes_atomic(bundle.file(f"parity/{result.tag}/diff.png"), result.diff_png)
    result.record.setdefault("notes", [])
    for note in result.notes:
        if note not in result.record["notes"]:
            result.record["notes"].append(note)
    bundle.write_cell_record(cid, result.record)
    write_rows(bundle.path, "runs", cid, result.runs, stamp=stamp)
