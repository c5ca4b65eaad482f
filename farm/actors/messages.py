"""What travels between driver and worker: a cell's job, its result, and their encoding.

A :class:`CellResult` holds rows for the ``runs`` and ``correlations`` tables, the profiled
run's files, the ``ops`` table as compressed Arrow IPC bytes and the cell's
``benchmark_results.json`` record. Its size matters: Ray returns results under ~100 KB inline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from farm.actors.targets import Target
from farm.grid import Cell, Grid


class CellFailure(RuntimeError):
    """A cell cannot go on (non-finite image, wrong output); the message says why."""


@dataclass(frozen=True)
class CellJob:
    """Everything a worker needs to run one cell.

    Attributes:
        stamp: the bundle's stamp (a key column of every row).
        cell: the cell.
        target: its resolved target.
        iterations: timed warm renders.
        profile: whether to run the profiled renders.
        git_sha: the driver's git commit, copied into rows.
        isolation: the grid's ``isolation`` (``node`` | ``shared``), copied into rows.
        warmups: untimed warm renders before the timed ones.
        profile_renders: profiled renders (one profiler session, one window each).
        cold: ``process`` (the cell has a fresh actor) or ``instance`` (a shared one).
    """

    stamp: str
    cell: Cell
    target: Target
    iterations: int
    profile: bool
    git_sha: str = "unknown"
    isolation: str = "node"
    warmups: int = 1
    profile_renders: int = 1
    cold: str = "instance"

    @classmethod
    def of(cls, grid: Grid, stamp: str, cell: Cell, target: Target, git_sha: str) -> CellJob:
        """The job of ``cell``, with the grid's measurement settings."""
        return cls(
            stamp,
            cell,
            target,
            grid.iterations,
            grid.profile,
            git_sha,
            grid.isolation,
            warmups=grid.warmups,
            profile_renders=grid.profile_renders,
            cold=grid.cold,
        )


@dataclass
class CellResult:
    """What a worker returns for a cell: rows, trace files and the benchmark record.

    Attributes:
        cell_id: the cell's id.
        tag: the cell's tag.
        status: ``ok`` | ``failed`` | ``skipped``.
        error: the first failure, one line.
        runs: rows of table ``runs``.
        correlation: the row of table ``correlations`` (``None`` when no image was made).
        ops_ipc: table ``ops`` from the trace as zstd-compressed Arrow IPC bytes (``None``
            without a trace or an ingester): ~6x smaller, so the result stays small enough for
            Ray to return it inline; :func:`ops_table` reads it back.
        trace_files: files of the profiled run, name relative to ``profile/<tag>/`` -> bytes.
        tiles: rows of table ``parity_tiles`` (the tile map; empty without a correlation).
        diff_png: the reduced difference image of a cell that failed parity, else ``None``.
        record: the ``benchmark_results.json`` object of this cell.
        notes: things that did not work but did not fail the cell (missing analysis steps).
        worker: where it ran (node, pid, threads, device name).
    """

    cell_id: str
    tag: str
    status: str
    error: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    correlation: dict[str, Any] | None = None
    ops_ipc: bytes | None = None
    trace_files: dict[str, bytes] = field(default_factory=dict)
    tiles: list[dict[str, Any]] = field(default_factory=list)
    diff_png: bytes | None = None
    record: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    worker: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def unmeasured(
        cls,
        cell: Cell,
        status: str,
        why: str,
        git_sha: str,
        info: dict[str, Any] | None = None,
    ) -> CellResult:
        """The result of a cell that produced no measurement (skipped, lost actor, timeout).

        Args:
            cell: the cell.
            status: ``skipped`` or ``failed``.
            why: the reason, one line.
            git_sha: the driver's commit.
            info: ``describe()`` of the actor it was lost on, if any.
        """
        info = info or {}
        row = {
            "cell_tag": cell.tag,
            "target": cell.target,
            "device": cell.device,
            "device_name": info.get("device_name"),
            "dtype": cell.dtype,
            "size": cell.size,
            "pixels": cell.pixels,
            "params": cell.params_json(),
            "iteration": 0,
            "phase": None,
            "status": status,
            "error": why,
            "node": info.get("node"),
            "node_id": info.get("node_id"),
            "node_ip": info.get("node_ip"),
            "git_sha": git_sha,
        }
        record = {
            "size": cell.size,
            "pixels": cell.pixels,
            "device": cell.device,
            "dtype": cell.dtype,
            "target": cell.target,
            "cell_id": cell.cell_id,
            "tag": cell.tag,
            "status": status,
            "error": why,
        }
        return cls(cell.cell_id, cell.tag, status, error=why, runs=[row], record=record)


def to_ipc(table: Any) -> bytes:
    """An Arrow table as zstd-compressed IPC stream bytes."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def ops_table(result: CellResult) -> Any:
    """The ``ops`` table a worker returned, or ``None``."""
    if result.ops_ipc is None:
        return None
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(result.ops_ipc)).read_all()
