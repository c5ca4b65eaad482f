"""Reading a torch.profiler Chrome trace file into columns of its complete (``ph == 'X'``) events.

Three parsers, fastest first: the compiled scanner (:mod:`analysis.traces.scan`, exact
integer-nanosecond timestamps, only the fields needed), DuckDB's parallel JSON reader, and
orjson, the slowest and most general (any valid Chrome trace, an object or a bare array).
"""

from __future__ import annotations

import gc
import re
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

_BASE_RE = re.compile(rb'"baseTimeNanoseconds"\s*:\s*(\d+)')


class TraceError(ValueError):
    """A trace file that cannot be read (missing, not gzip/JSON, no events)."""


@dataclass
class TraceEvents:
    """Trace events as columns (all ``ph == 'X'``)."""

    cat: pa.Array  # string
    name: pa.Array  # string
    thread: pa.Array  # string "pid/tid"
    ts: np.ndarray  # int64 ns since the trace's base time
    dur: np.ndarray  # int64 ns
    py_id: np.ndarray  # int64, -1 when absent
    corr: np.ndarray  # int64, -1 when absent
    base_ns: int

    def take(self, idx: np.ndarray) -> TraceEvents:
        """The events at rows ``idx``, in that order."""
        arr = pa.array(idx)
        return TraceEvents(
            cat=self.cat.take(arr),
            name=self.name.take(arr),
            thread=self.thread.take(arr),
            ts=self.ts[idx],
            dur=self.dur[idx],
            py_id=self.py_id[idx],
            corr=self.corr[idx],
            base_ns=self.base_ns,
        )


def read_events(path: Path) -> TraceEvents:
    """The complete events of the trace at ``path`` (``.json.gz`` or ``.json``).

    Raises:
        TraceError: The file is missing, not gzip or JSON, or has no ``traceEvents``.
    """
    data = _read_bytes(path)
    head = data[:4096]
    match = _BASE_RE.search(head)
    base = int(match.group(1)) if match else 0
    start = data.find(b'"traceEvents"')
    if start < 0:
        raise TraceError(f"trace {path} has no traceEvents")
    try:
        return _load_scan(data, start, base)
    except Exception:  # not an array of objects the scanner reads, or Numba failed
        pass
    try:
        return _load_duckdb(data, start, base)
    except Exception:  # DuckDB failed too: the slowest, most general parser
        return _load_orjson(data, path, base)


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TraceError(f"cannot read trace {path}: {exc.strerror or exc}") from exc
    if data[:2] == b"\x1f\x8b":
        try:
            data = zlib.decompress(data, 31)
        except zlib.error as exc:
            raise TraceError(f"trace {path} is not valid gzip: {exc}") from exc
    return data


def _array_span(data: bytes, start: int) -> memoryview:
    """The bytes of the traceEvents array (from its '[' to the last ']')."""
    open_at = data.index(b"[", start)
    close_at = data.rindex(b"]")
    return memoryview(data)[open_at : close_at + 1]


def _load_scan(data: bytes, start: int, base: int) -> TraceEvents:
    """Parse the traceEvents array with the compiled scanner (the fast path)."""
    from analysis.traces.scan import scan_events  # imports Numba: only once a trace is read

    got = scan_events(_array_span(data, start))
    return TraceEvents(**vars(got), base_ns=base)  # the same columns, no copies


_DUCK_COLUMNS = (
    "{ph: 'VARCHAR', cat: 'VARCHAR', name: 'VARCHAR', pid: 'JSON', tid: 'JSON', "
    "ts: 'DECIMAL(18,3)', dur: 'DECIMAL(18,3)', "
    "args: 'STRUCT(\"Python id\" BIGINT, correlation BIGINT)'}"
)


def _load_duckdb(data: bytes, start: int, base: int) -> TraceEvents:
    """Parse the traceEvents array with DuckDB's parallel JSON reader (exact timestamps)."""
    import duckdb

    with tempfile.NamedTemporaryFile(suffix=".json", dir=_scratch_dir()) as fh:
        fh.write(_array_span(data, start))
        fh.flush()
        con = duckdb.connect()
        try:
            rel = con.sql(
                "SELECT cat, name, CAST(pid AS VARCHAR) || '/' || CAST(tid AS VARCHAR) AS thread,"
                " CAST(CAST(ts AS DECIMAL(22, 3)) * 1000 AS BIGINT) AS ts,"
                " CAST(CAST(coalesce(dur, 0) AS DECIMAL(22, 3)) * 1000 AS BIGINT) AS dur,"
                ' coalesce(args."Python id", -1) AS py_id, coalesce(args.correlation, -1) AS corr'
                f" FROM read_json('{fh.name}', format = 'array', columns = {_DUCK_COLUMNS},"
                " maximum_object_size = 1073741824) WHERE ph = 'X' AND cat IS NOT NULL"
            )
            table = _relation_to_arrow(rel)
        finally:
            con.close()
    return TraceEvents(
        cat=table["cat"].combine_chunks(),
        name=table["name"].combine_chunks(),
        thread=table["thread"].combine_chunks(),
        ts=table["ts"].to_numpy(),
        dur=table["dur"].to_numpy(),
        py_id=table["py_id"].to_numpy(),
        corr=table["corr"].to_numpy(),
        base_ns=base,
    )


def _relation_to_arrow(rel: Any) -> pa.Table:
    """A DuckDB relation as an Arrow table, whatever this DuckDB calls that."""
    for name in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        method = getattr(rel, name, None)
        if method is not None:
            out = method()
            return out.read_all() if hasattr(out, "read_all") else out
    raise TypeError("this DuckDB cannot return Arrow tables")


def _scratch_dir() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None


def _load_orjson(data: bytes, path: Path, base: int) -> TraceEvents:
    """General parser: any valid Chrome trace (object with traceEvents, or a bare array)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise TraceError(f"trace {path} is not valid JSON: {exc}") from exc
        raw = doc.get("traceEvents") if isinstance(doc, dict) else doc
        if not isinstance(raw, list):
            raise TraceError(f"trace {path} has no traceEvents list")
        if isinstance(doc, dict) and not base:
            base = int(doc.get("baseTimeNanoseconds") or 0)
        evs = [e for e in raw if isinstance(e, dict) and e.get("ph") == "X" and e.get("cat")]
        args = [e.get("args") or {} for e in evs]
        return TraceEvents(
            cat=pa.array([e["cat"] for e in evs], pa.string()),
            name=pa.array([e.get("name", "") for e in evs], pa.string()),
            thread=pa.array([f"{e.get('pid')}/{e.get('tid')}" for e in evs], pa.string()),
            ts=np.rint(np.array([e.get("ts", 0.0) for e in evs], np.float64) * 1000).astype(
                np.int64
            ),
            dur=np.rint(np.array([e.get("dur", 0.0) for e in evs], np.float64) * 1000).astype(
                np.int64
            ),
            py_id=np.array([a.get("Python id", -1) for a in args], np.int64),
            corr=np.array([a.get("correlation", -1) for a in args], np.int64),
            base_ns=base,
        )
    finally:
        if gc_was_enabled:
            gc.enable()
