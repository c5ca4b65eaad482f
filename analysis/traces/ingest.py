"""Trace ingestion: a torch.profiler Chrome trace (+ call-site sidecar) into table ``ops``.

One row per trace event that matters: Python frames (``python``), operators (``cpu_op``),
``record_function`` annotations (``annotation``), CUDA runtime calls (``runtime``), GPU
kernels and copies (``kernel``) and the call-site mode's own frames (``instr``, whose
``self_us`` is profiling overhead that attribution subtracts). Every row has its Python
call stack with *call-site* lines, innermost first, as ``file:line:function``.

How it stays fast (the target is >= 100 MB/s of trace JSON end to end):

- the event array is read by a compiled scanner (:mod:`analysis.traces.scan`) that keeps
  only the fields needed, with exact integer-nanosecond timestamps; DuckDB's JSON reader and
  then orjson are the fallbacks;
- nesting (operators inside Python frames, by time containment per thread) is computed with
  numpy from nesting depths, not with a per-event Python loop;
- stacks are interned: one id per distinct stack, built one nesting level at a time, and
  materialised once per distinct stack.

CUDA: a kernel's parent is the runtime call with the same correlation id, so a kernel has
the launching operator's stack and its GPU time lands on the same Python lines.
"""

from __future__ import annotations

import gc
import re
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from analysis.tables.schema import OPS, SCHEMA_VERSION
from analysis.traces import callsite

KIND_BY_CATEGORY = {
    "python_function": "python",
    "cpu_op": "cpu_op",
    "user_annotation": "annotation",
    "cuda_runtime": "runtime",
    "cuda_driver": "runtime",
    "kernel": "kernel",
    "gpu_memcpy": "kernel",
    "gpu_memset": "kernel",
}
INSTR_NAME = "farm::callsite_mode"
_DEF_NAME = re.compile(r"^(.*)\((\d+)\): (.*)$")
_BASE_RE = re.compile(rb'"baseTimeNanoseconds"\s*:\s*(\d+)')
#: The capture module as trace frames name it ("analysis/traces/capture.py").
_CAPTURE_FILE = "/".join(Path(__file__).with_name("capture.py").parts[-3:])


class TraceError(ValueError):
    """A trace file that cannot be read (missing, not gzip/JSON, no events)."""


@dataclass
class _Events:
    """Trace events as columns (all ``ph == 'X'``)."""

    cat: pa.Array  # string
    name: pa.Array  # string
    thread: pa.Array  # string "pid/tid"
    ts: np.ndarray  # int64 ns since the trace's base time
    dur: np.ndarray  # int64 ns
    py_id: np.ndarray  # int64, -1 when absent
    corr: np.ndarray  # int64, -1 when absent
    base_ns: int


def trace_to_ops(trace_path: Path, keys: Mapping[str, Any]) -> pa.Table:
    """Read one Chrome trace (and its call-site sidecar) into rows of table ``ops``.

    Args:
        trace_path: ``trace.json.gz`` (or ``.json``) written by :func:`analysis.traces.capture.
            profile_call` or any torch.profiler export.
        keys: Values for the key columns: ``stamp``, ``cell_id`` and, when known, ``device``,
            ``dtype``, ``size``.

    Returns:
        A table with schema :data:`analysis.tables.schema.OPS`.

    Raises:
        TraceError: The file is missing or not a readable trace.
    """
    trace_path = Path(trace_path)
    events = _load_events(trace_path)
    side = callsite.read_sidecar(trace_path)
    return _build(events, side, keys)


# --- loading -------------------------------------------------------------------------------


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


def _load_events(path: Path) -> _Events:
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


def _array_span(data: bytes, start: int) -> memoryview:
    """The bytes of the traceEvents array (from its '[' to the last ']')."""
    open_at = data.index(b"[", start)
    close_at = data.rindex(b"]")
    return memoryview(data)[open_at : close_at + 1]


def _load_scan(data: bytes, start: int, base: int) -> _Events:
    """Parse the traceEvents array with the compiled scanner (the fast path)."""
    from analysis.traces.scan import scan_events

    got = scan_events(_array_span(data, start))
    return _Events(
        cat=got.cat,
        name=got.name,
        thread=got.thread,
        ts=got.ts,
        dur=got.dur,
        py_id=got.py_id,
        corr=got.corr,
        base_ns=base,
    )


_DUCK_COLUMNS = (
    "{ph: 'VARCHAR', cat: 'VARCHAR', name: 'VARCHAR', pid: 'JSON', tid: 'JSON', "
    "ts: 'DECIMAL(18,3)', dur: 'DECIMAL(18,3)', "
    "args: 'STRUCT(\"Python id\" BIGINT, correlation BIGINT)'}"
)


def _load_duckdb(data: bytes, start: int, base: int) -> _Events:
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
    return _Events(
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


def _load_orjson(data: bytes, path: Path, base: int) -> _Events:
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
        return _Events(
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


# --- the tree --------------------------------------------------------------------------------


def _nest(thread: np.ndarray, ts: np.ndarray, dur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parent (innermost enclosing event, -1 for none) and depth of time-sorted events.

    The events must already be sorted by (thread, start, longest first). For properly nested
    intervals the parent of event i is the last earlier event of its thread whose depth is
    depth(i) - 1, and depth(i) = earlier events of the thread - those that ended by start(i).
    """
    n = len(ts)
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pos = np.arange(n, dtype=np.int64)
    new_group = np.ones(n, bool)
    new_group[1:] = thread[1:] != thread[:-1]
    group = np.cumsum(new_group) - 1
    group_start = np.flatnonzero(new_group)[group]
    end = ts + dur
    span = int(max(end.max() - ts.min(), 0)) + 2
    rel_start = ts - ts.min()
    rel_end = end - ts.min()
    end_keys = np.sort(group * span + rel_end)
    closed = np.searchsorted(end_keys, group * span + rel_start, "right") - np.searchsorted(
        end_keys, group * span, "left"
    )
    # zero-length events that start with i but sort after it were counted as closed
    zero = dur == 0
    same_start = np.ones(n, bool)
    same_start[1:] = new_group[1:] | (ts[1:] != ts[:-1])
    run = np.cumsum(same_start) - 1
    zeros_in_run = np.bincount(run, weights=zero)[run]
    zeros_before = np.cumsum(zero) - zero
    zeros_before -= zeros_before[np.flatnonzero(same_start)][run]
    closed -= (zeros_in_run - zeros_before).astype(np.int64)
    depth = (pos - group_start) - closed
    depth = np.maximum(depth, 0)
    keys = np.sort(depth * n + pos)
    idx = np.searchsorted(keys, (depth - 1) * n + pos, "left") - 1
    cand = keys[np.clip(idx, 0, None)]
    ok = (depth > 0) & (idx >= 0) & (cand // n == depth - 1)
    parent = np.where(ok, cand % n, -1)
    parent = np.where(parent >= group_start, parent, -1)
    return parent.astype(np.int64), depth.astype(np.int64)


@dataclass
class _Stacks:
    """Interned call stacks: stack id -> (parent stack id, entry id); id 0 is empty."""

    parent: list[int]
    entry: list[int]
    index: dict[int, int]
    n_entries: int

    @classmethod
    def empty(cls, n_entries: int) -> _Stacks:
        return cls([-1], [-1], {}, max(n_entries, 1))

    def push(self, stack: np.ndarray, entry: np.ndarray) -> np.ndarray:
        """Ids of the stacks ``entry`` (innermost) on top of ``stack``."""
        key = stack.astype(np.int64) * self.n_entries + entry
        uniq, inverse = np.unique(key, return_inverse=True)
        ids = np.empty(len(uniq), np.int64)
        for k, u in enumerate(uniq.tolist()):
            got = self.index.get(u)
            if got is None:
                got = self.index[u] = len(self.parent)
                self.parent.append(u // self.n_entries)
                self.entry.append(u % self.n_entries)
            ids[k] = got
        return ids[inverse]

    def lists(self, entries: list[str]) -> list[list[str]]:
        """Every stack as a list of entry strings, innermost first."""
        out: list[list[str]] = [[]]
        for sid in range(1, len(self.parent)):
            out.append([entries[self.entry[sid]], *out[self.parent[sid]]])
        return out


def _match_sidecar(
    side: callsite.Sidecar, events: _Events, py_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], float]:
    """For each Python event row: sidecar entry id (-1), call kind, instr flag; match rate.

    Sidecar rows are keyed by start time in ns (the trace's ``ts`` is the same clock, in
    microseconds with three decimals, relative to ``baseTimeNanoseconds``); where two rows
    share a start, the event name decides.
    """
    n = len(py_rows)
    entry = np.full(n, -1, np.int64)
    is_call = np.zeros(n, bool)
    instr = np.zeros(n, np.int8)
    table = side.table
    if table is None or n == 0 or side.method != callsite.METHOD_EVENT_TREE:
        return entry, is_call, instr, [], 0.0
    s_ns = table["start_ns"].to_numpy()
    order = np.argsort(s_ns, kind="stable")
    s_ns = s_ns[order]
    text = pc.binary_join_element_wise(
        table["file"], pc.cast(table["line"], pa.string()), table["function"], ":"
    )
    encoded = pc.dictionary_encode(text).combine_chunks()
    ids = encoded.indices.to_numpy(zero_copy_only=False)[order].astype(np.int64)
    strings = encoded.dictionary.to_pylist()
    key = events.ts[py_rows] + events.base_ns
    pos = np.searchsorted(s_ns, key, "left")
    pos_c = np.clip(pos, 0, max(len(s_ns) - 1, 0))
    found = np.where((pos < len(s_ns)) & (s_ns[pos_c] == key), pos_c, -1)
    dup = np.zeros(len(s_ns), bool)
    dup[1:] = s_ns[1:] == s_ns[:-1]
    dup[:-1] |= dup[1:]
    amb = np.flatnonzero((found >= 0) & dup[np.clip(found, 0, None)])
    if len(amb):  # two Python events started in the same nanosecond: names decide
        side_names = table["name"].take(pa.array(order)).to_numpy(zero_copy_only=False)
        ev_names = events.name.take(pa.array(py_rows[amb])).to_numpy(zero_copy_only=False)
        for k, row in enumerate(amb.tolist()):
            j = found[row]
            while j > 0 and s_ns[j - 1] == s_ns[j]:
                j -= 1
            while j < len(s_ns) and s_ns[j] == key[row] and side_names[j] != ev_names[k]:
                j += 1
            found[row] = j if j < len(s_ns) and s_ns[j] == key[row] else -1
    hit = found >= 0
    rows = order[found[hit]]
    entry[hit] = ids[found[hit]]
    is_call[hit] = pc.equal(table["call_kind"], "call").to_numpy(zero_copy_only=False)[rows]
    instr[hit] = table["instr"].to_numpy()[rows]
    return entry, is_call, instr, strings, float(hit.mean())


# kinds as small integer codes while building; names in the table
PYTHON, INSTR, CPU_OP, RUNTIME, ANNOTATION, KERNEL = range(6)
KINDS = ("python", "instr", "cpu_op", "runtime", "annotation", "kernel")
_CODE = {name: code for code, name in enumerate(KINDS)}


def _kind_codes(cat: pa.Array) -> np.ndarray:
    """Kind code per event from its category (-1: not kept)."""
    enc = pc.dictionary_encode(cat)
    lut = np.array(
        [_CODE.get(KIND_BY_CATEGORY.get(c, ""), -1) for c in enc.dictionary.to_pylist()] + [-1],
        np.int64,
    )
    idx = enc.indices.to_numpy(zero_copy_only=False)
    return lut[np.where(np.isnan(idx.astype(float)), -1, idx).astype(np.int64)]


def _build(events: _Events, side: callsite.Sidecar, keys: Mapping[str, Any]) -> pa.Table:
    kind = _kind_codes(events.cat)
    keep = kind >= 0
    if not keep.all():
        events = _take(events, np.flatnonzero(keep))
        kind = kind[keep]
    # the fast record_function used for markers and the run window reports them as operators
    marked = pc.starts_with(events.name, callsite.MARKER_PREFIX).to_numpy(zero_copy_only=False)
    marked |= pc.equal(events.name, callsite.RUN_MARKER).to_numpy(zero_copy_only=False)
    kind[marked] = ANNOTATION

    # Python events: sidecar callers; instrumentation frames by flag (or by name without one)
    py_rows = np.flatnonzero(kind == PYTHON)
    entry_py, call_py, instr_py, entries, match_rate = _match_sidecar(side, events, py_rows)
    method = _effective_method(side, match_rate)
    py_names: np.ndarray | None = None
    if method != callsite.METHOD_EVENT_TREE:
        py_names = events.name.take(pa.array(py_rows)).to_numpy(zero_copy_only=False)
        call_py = np.array([not str(n).startswith("<") for n in py_names], bool)
        instr_py = np.array(
            [callsite.INSTR_FRAME if callsite.is_instrumentation_frame(n) else 0 for n in py_names],
            np.int8,
        )
    entry = np.full(len(kind), -1, np.int64)
    is_call = np.zeros(len(kind), bool)
    instr = np.zeros(len(kind), np.int8)
    entry[py_rows] = entry_py
    is_call[py_rows] = call_py
    instr[py_rows] = instr_py
    kind[py_rows[instr_py == callsite.INSTR_FRAME]] = INSTR

    def_entry: np.ndarray | None = None
    markers: dict[int, int] = {}
    if method == callsite.METHOD_MARKERS:
        entries, markers, stacks = _marker_stacks(side.table)
    else:
        if method == callsite.METHOD_DEFINITION_LINES and py_names is not None:
            # a Python frame names where it is defined: the best that is left
            entries, def_py = _definition_entries(py_names)
            def_entry = np.full(len(kind), -1, np.int64)
            def_entry[py_rows] = def_py
        stacks = _Stacks.empty(len(entries) + 1)

    # the CPU tree: Python frames, operators and runtime calls nest properly by time;
    # annotations do not (they open inside an __enter__ call), so they stay out of it
    tree = np.flatnonzero(kind <= RUNTIME)
    thread_codes = pc.dictionary_encode(events.thread).indices.to_numpy(zero_copy_only=False)
    rank = np.minimum(kind[tree], CPU_OP + 1) - (kind[tree] == INSTR)  # python/instr first
    order = np.lexsort((rank, -events.dur[tree], events.ts[tree], thread_codes[tree]))
    rows = tree[order]
    parent, depth = _nest(thread_codes[rows], events.ts[rows], events.dur[rows])
    r_kind = kind[rows]
    cs = _contexts(
        parent,
        depth,
        is_py=r_kind <= INSTR,
        is_call=is_call[rows],
        entry=np.where(instr[rows] == callsite.INSTR_VIA, -1, entry[rows]),
        def_entry=None if def_entry is None else def_entry[rows],
        reset_entry=np.array([_CAPTURE_FILE in e for e in entries] + [False], bool),
        stacks=stacks,
    )
    dur_r = events.dur[rows]
    has_parent = parent >= 0
    child_sum = np.bincount(parent[has_parent], weights=dur_r[has_parent], minlength=len(rows))
    self_ns = np.maximum(dur_r - child_sum, 0).astype(np.int64)
    parent_out = parent.copy()
    for _ in range(8):  # children of instrumentation frames hang from the frame's parent
        bad = (parent_out >= 0) & (r_kind[np.clip(parent_out, 0, None)] == INSTR)
        if not bad.any():
            break
        parent_out[bad] = parent[parent_out[bad]]

    # annotations: no parent; a marker's stack goes to every CPU event it contains
    ann = np.flatnonzero(kind == ANNOTATION)
    ann = ann[np.argsort(events.ts[ann], kind="stable")]
    ann_stack = np.zeros(len(ann), np.int64)
    if markers:
        ann_names = events.name.take(pa.array(ann)).to_pylist()
        for k, name in enumerate(ann_names):
            if name.startswith(callsite.MARKER_PREFIX):
                ann_stack[k] = markers.get(int(name[len(callsite.MARKER_PREFIX) :]), 0)
        is_marker = ann_stack > 0
        cs = _inside_markers(
            events.ts[rows],
            events.ts[ann[is_marker]],
            events.dur[ann[is_marker]],
            ann_stack[is_marker],
            cs,
        )

    # GPU side: parent = the runtime call with the same correlation id
    gpu = np.flatnonzero(kind == KERNEL)
    gpu = gpu[np.argsort(events.ts[gpu], kind="stable")]
    g_parent = _launchers(events.corr[rows], r_kind == RUNTIME, events.corr[gpu])
    g_stack = np.where(g_parent >= 0, cs[np.clip(g_parent, 0, None)], 0)

    all_rows = np.concatenate([rows, ann, gpu])
    stack_id = np.concatenate([cs, ann_stack, g_stack])
    parent_all = np.concatenate([parent_out, np.full(len(ann), -1), g_parent])
    self_all = np.concatenate([self_ns, events.dur[ann], events.dur[gpu]])
    kind_all = np.concatenate([r_kind, kind[ann], kind[gpu]])
    return _table(
        events,
        all_rows,
        stack_id,
        parent_all,
        self_all,
        kind_all,
        stacks,
        entries,
        side.project_prefix,
        method,
        keys,
    )


def _take(events: _Events, idx: np.ndarray) -> _Events:
    arr = pa.array(idx)
    return _Events(
        cat=events.cat.take(arr),
        name=events.name.take(arr),
        thread=events.thread.take(arr),
        ts=events.ts[idx],
        dur=events.dur[idx],
        py_id=events.py_id[idx],
        corr=events.corr[idx],
        base_ns=events.base_ns,
    )


def _contexts(
    parent: np.ndarray,
    depth: np.ndarray,
    *,
    is_py: np.ndarray,
    is_call: np.ndarray,
    entry: np.ndarray,
    def_entry: np.ndarray | None,
    reset_entry: np.ndarray,
    stacks: _Stacks,
) -> np.ndarray:
    """Stack id of every tree event, computed one nesting level at a time.

    A Python event pushes its caller entry (file:line:function of the frame that called
    it) unless that frame already has an entry on the stack: a C call and the mode frame
    inside it report the same frame and line. Without call sites (``def_entry``), every
    event pushes its enclosing frame's definition entry instead. ``pf`` tracks the
    innermost Python function frame, ``cf`` the frame the innermost entry belongs to. An
    entry in the capture module (the frame that called the target) empties the stack:
    stacks start at the target.
    """
    n = len(parent)
    cs = np.zeros(n, np.int64)
    cf = np.full(n, -1, np.int64)
    pf = np.full(n, -1, np.int64)
    for d in range(int(depth.max()) + 1 if n else 0):
        lvl = np.flatnonzero(depth == d)
        p = parent[lvl]
        has_p = p >= 0
        pp = np.where(has_p, p, 0)
        pcs = np.where(has_p, cs[pp], 0)
        pcf = np.where(has_p, cf[pp], -1)
        ppf = np.where(has_p, pf[pp], -1)
        if def_entry is not None:  # every event names its enclosing frame's definition
            e = np.where(ppf >= 0, def_entry[np.clip(ppf, 0, None)], -1)
        else:  # a Python event names the line it was called from
            e = np.where(is_py[lvl], entry[lvl], -1)
        e_ok = e >= 0
        reset = e_ok & reset_entry[np.where(e_ok, e, -1)]
        push = e_ok & ~reset & (ppf != pcf)
        new_cs = np.where(reset, 0, pcs)
        if push.any():
            new_cs[push] = stacks.push(pcs[push], e[push])
        cs[lvl] = new_cs
        cf[lvl] = np.where(push, ppf, np.where(reset, -1, pcf))
        pf[lvl] = np.where(is_call[lvl] & is_py[lvl], lvl, ppf)
    return cs


def _inside_markers(
    ts: np.ndarray, m_ts: np.ndarray, m_dur: np.ndarray, m_stack: np.ndarray, cs: np.ndarray
) -> np.ndarray:
    """Give every event that starts inside a (non-nesting) marker that marker's stack."""
    if len(m_ts) == 0:
        return cs
    order = np.argsort(m_ts, kind="stable")
    m_ts, m_end, m_stack = m_ts[order], (m_ts + m_dur)[order], m_stack[order]
    k = np.searchsorted(m_ts, ts, "right") - 1
    kc = np.clip(k, 0, None)
    inside = (k >= 0) & (ts < m_end[kc])
    return np.where(inside, m_stack[kc], cs)


def _launchers(corr: np.ndarray, is_runtime: np.ndarray, k_corr: np.ndarray) -> np.ndarray:
    """Row of the runtime call that launched each kernel (same correlation id), or -1."""
    out = np.full(len(k_corr), -1, np.int64)
    rt = np.flatnonzero(is_runtime & (corr >= 0))
    if len(k_corr) == 0 or len(rt) == 0:
        return out
    rt_corr = corr[rt]
    srt = np.argsort(rt_corr, kind="stable")
    pos = np.searchsorted(rt_corr[srt], k_corr)
    pos_c = np.clip(pos, 0, len(srt) - 1)
    hit = (pos < len(srt)) & (rt_corr[srt][pos_c] == k_corr) & (k_corr >= 0)
    out[hit] = rt[srt[pos_c[hit]]]
    return out


def _table(
    events: _Events,
    all_rows: np.ndarray,
    stack_id: np.ndarray,
    parent_all: np.ndarray,
    self_all: np.ndarray,
    kind_all: np.ndarray,
    stacks: _Stacks,
    entries: list[str],
    prefix: str | None,
    method: str,
    keys: Mapping[str, Any],
) -> pa.Table:
    """Assemble table ``ops`` (stacks materialised once per distinct stack)."""
    stack_lists = stacks.lists(entries)
    project = [next((e for e in s if prefix and e.startswith(prefix)), None) for s in stack_lists]
    sid = pa.array(stack_id)
    idx = pa.array(all_rows)
    names = events.name.take(idx)
    names = pc.if_else(pa.array(kind_all == INSTR), INSTR_NAME, names)
    corr = events.corr[all_rows]
    n = len(all_rows)
    cols: dict[str, pa.Array] = {
        "schema_version": _const(SCHEMA_VERSION, n, pa.int32()),
        "stamp": _const(str(keys["stamp"]), n, pa.string()),
        "cell_id": _const(str(keys["cell_id"]), n, pa.string()),
        "device": _const(keys.get("device"), n, pa.string()),
        "dtype": _const(keys.get("dtype"), n, pa.string()),
        "size": _const(keys.get("size"), n, pa.int64()),
        "event_id": pa.array(np.arange(n, dtype=np.int64)),
        "parent_id": pa.array(parent_all, mask=parent_all < 0),
        "name": names,
        "kind": _decode(kind_all, KINDS),
        "op_device": _decode((kind_all == KERNEL).astype(np.int64), ("cpu", "cuda")),
        "thread": events.thread.take(idx),
        "ts_us": pa.array(events.ts[all_rows] / 1000.0),
        "dur_us": pa.array(events.dur[all_rows] / 1000.0),
        "self_us": pa.array(self_all / 1000.0),
        "stack": pa.array(stack_lists, pa.list_(pa.string())).take(sid),
        "project_frame": pa.array(project, pa.string()).take(sid),
        "correlation_id": pa.array(corr, mask=corr < 0),
        "callsite_method": _const(method, n, pa.string()),
    }
    return pa.Table.from_arrays([cols[f.name] for f in OPS], schema=OPS)


def _decode(codes: np.ndarray, names: tuple[str, ...]) -> pa.Array:
    """Strings from small integer codes."""
    return pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32)), pa.array(list(names))
    ).cast(pa.string())


def _const(value: Any, n: int, typ: pa.DataType) -> pa.Array:
    """A column of ``n`` copies of ``value`` (NULL when None)."""
    if value is None:
        return pa.nulls(n, typ)
    if pa.types.is_string(typ):
        return pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, np.int32)), pa.array([value], typ)
        ).cast(typ)
    return pa.array(np.full(n, value), typ)


def _definition_entries(py_names: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Entries ``file:defline:function`` parsed from Python frame names (no call sites)."""
    strings: dict[str, int] = {}
    def_entry = np.full(len(py_names), -1, np.int64)
    for i, name in enumerate(py_names.tolist()):
        m = _DEF_NAME.match(name)
        if m:
            def_entry[i] = strings.setdefault(f"{m[1]}:{m[2]}:{m[3]}", len(strings))
    return list(strings), def_entry


def _effective_method(side: callsite.Sidecar, match_rate: float) -> str:
    """The call-site method the rows really got."""
    if side.method == callsite.METHOD_EVENT_TREE and match_rate > 0:
        return callsite.METHOD_EVENT_TREE
    if side.method == callsite.METHOD_MARKERS and side.table is not None:
        return callsite.METHOD_MARKERS
    return callsite.METHOD_DEFINITION_LINES


def _marker_stacks(table: pa.Table) -> tuple[list[str], dict[int, int], _Stacks]:
    """Intern every marker's stack; return entries, marker id -> stack id, the stacks."""
    strings: dict[str, int] = {}
    lists = table["stack"].to_pylist()
    for stack in lists:
        for e in stack:
            strings.setdefault(e, len(strings))
    stacks = _Stacks.empty(len(strings) + 1)
    markers = {}
    for marker, stack in zip(table["marker_id"].to_pylist(), lists, strict=True):
        sid = np.zeros(1, np.int64)
        for e in reversed(stack):
            if _CAPTURE_FILE in e:
                continue
            sid = stacks.push(sid, np.array([strings[e]], np.int64))
        markers[int(marker)] = int(sid[0])
    return list(strings), markers, stacks
