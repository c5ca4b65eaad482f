"""Trace ingestion: a torch.profiler Chrome trace (+ call-site sidecar) into table ``ops``.

One row per trace event that matters: Python frames (``python``), operators (``cpu_op``),
``record_function`` annotations (``annotation``), CUDA runtime calls (``runtime``), GPU
kernels and copies (``kernel``) and the call-site mode's own frames (``instr``, whose
``self_us`` is profiling overhead that attribution subtracts). Every row has its Python
call stack with *call-site* lines, innermost first, as ``file:line:function``.

The steps, each in its own module: read the events (:mod:`analysis.traces.trace_reader`),
match the sidecar's call sites to the Python events (:mod:`analysis.traces.sidecar_match`),
nest the events and give each its stack (:mod:`analysis.traces.event_tree`); this module
classifies the events, runs the steps and assembles the table.

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

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis.tables.schema import OPS, SCHEMA_VERSION
from analysis.traces import callsite
from analysis.traces.event_tree import (
    Stacks,
    crossing,
    inside_markers,
    launchers,
    nest,
    stack_ids,
)
from analysis.traces.sidecar_match import (
    CAPTURE_FILE,
    definition_entries,
    effective_method,
    marker_stacks,
    match_sidecar,
)
from analysis.traces.trace_reader import TraceEvents, read_events

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

# kinds as small integer codes while building; names in the table
PYTHON, INSTR, CPU_OP, RUNTIME, ANNOTATION, KERNEL = range(6)
KINDS = ("python", "instr", "cpu_op", "runtime", "annotation", "kernel")
_CODE = {name: code for code, name in enumerate(KINDS)}


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
    events = read_events(trace_path)
    side = callsite.read_sidecar(trace_path)
    return _build(events, side, keys)


@dataclass
class _CallSites:
    """What the Python events say about call sites, per event row (-1 / 0 elsewhere)."""

    entry: np.ndarray  # int64 entry id of the caller line (event_tree), -1
    is_call: np.ndarray  # bool: a Python function call (not a C call)
    instr: np.ndarray  # int8 callsite.INSTR_*
    entries: list[str]  # entry id -> "file:line:function"
    method: str  # the call-site method the rows got
    def_entry: np.ndarray | None  # definition entry per row (definition_lines only)
    markers: dict[int, int]  # marker id -> stack id (markers only)
    stacks: Stacks


def _kind_codes(cat: pa.Array) -> np.ndarray:
    """Kind code per event from its category (-1: not kept)."""
    enc = pc.dictionary_encode(cat)
    lut = np.array(
        [_CODE.get(KIND_BY_CATEGORY.get(c, ""), -1) for c in enc.dictionary.to_pylist()] + [-1],
        np.int64,
    )
    idx = enc.indices.to_numpy(zero_copy_only=False)
    return lut[np.where(np.isnan(idx.astype(float)), -1, idx).astype(np.int64)]


def _kept_events(events: TraceEvents) -> tuple[TraceEvents, np.ndarray]:
    """The events of a kind the table keeps, and their kind codes."""
    kind = _kind_codes(events.cat)
    keep = kind >= 0
    if not keep.all():
        events = events.take(np.flatnonzero(keep))
        kind = kind[keep]
    # the fast record_function used for markers and the run window reports them as operators
    marked = pc.starts_with(events.name, callsite.MARKER_PREFIX).to_numpy(zero_copy_only=False)
    marked |= pc.equal(events.name, callsite.RUN_MARKER).to_numpy(zero_copy_only=False)
    kind[marked] = ANNOTATION
    return events, kind


def _call_sites(events: TraceEvents, kind: np.ndarray, side: callsite.Sidecar) -> _CallSites:
    """Sidecar callers of the Python events; instrumentation frames marked ``INSTR`` in ``kind``.

    Instrumentation frames are told by the sidecar's flag, or by their name without one.
    """
    py_rows = np.flatnonzero(kind == PYTHON)
    entry_py, call_py, instr_py, entries, match_rate = match_sidecar(side, events, py_rows)
    method = effective_method(side, match_rate)
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
        entries, markers, stacks = marker_stacks(side.table)
    else:
        if method == callsite.METHOD_DEFINITION_LINES and py_names is not None:
            # a Python frame names where it is defined: the best that is left
            entries, def_py = definition_entries(py_names)
            def_entry = np.full(len(kind), -1, np.int64)
            def_entry[py_rows] = def_py
        stacks = Stacks.empty(len(entries) + 1)
    return _CallSites(entry, is_call, instr, entries, method, def_entry, markers, stacks)


def _build(events: TraceEvents, side: callsite.Sidecar, keys: Mapping[str, Any]) -> pa.Table:
    events, kind = _kept_events(events)
    sites = _call_sites(events, kind, side)

    # the CPU tree: Python frames, operators and runtime calls nest properly by time;
    # annotations do not (they open inside an __enter__ call), so they stay out of it, and
    # so do operator-category ranges that turn out to cross their parent (see ``crossing``)
    thread_codes = pc.dictionary_encode(events.thread).indices.to_numpy(zero_copy_only=False)
    for _ in range(8):
        tree = np.flatnonzero(kind <= RUNTIME)
        rank = np.minimum(kind[tree], CPU_OP + 1) - (kind[tree] == INSTR)  # python/instr first
        order = np.lexsort((rank, -events.dur[tree], events.ts[tree], thread_codes[tree]))
        rows = tree[order]
        parent, depth = nest(thread_codes[rows], events.ts[rows], events.dur[rows])
        ranges = crossing(parent, events.ts[rows], events.dur[rows]) & (kind[rows] == CPU_OP)
        if not ranges.any():
            break
        kind[rows[ranges]] = ANNOTATION
    tree_kind = kind[rows]
    tree_stack = stack_ids(
        parent,
        depth,
        is_py=tree_kind <= INSTR,
        is_call=sites.is_call[rows],
        entry=np.where(sites.instr[rows] == callsite.INSTR_VIA, -1, sites.entry[rows]),
        def_entry=None if sites.def_entry is None else sites.def_entry[rows],
        reset_entry=np.array([CAPTURE_FILE in e for e in sites.entries] + [False], bool),
        stacks=sites.stacks,
    )
    tree_dur = events.dur[rows]
    has_parent = parent >= 0
    child_sum = np.bincount(parent[has_parent], weights=tree_dur[has_parent], minlength=len(rows))
    self_ns = np.maximum(tree_dur - child_sum, 0).astype(np.int64)
    parent_out = parent.copy()
    for _ in range(8):  # children of instrumentation frames hang from the frame's parent
        bad = (parent_out >= 0) & (tree_kind[np.clip(parent_out, 0, None)] == INSTR)
        if not bad.any():
            break
        parent_out[bad] = parent[parent_out[bad]]

    # annotations: no parent; a marker's stack goes to every CPU event it contains
    ann = np.flatnonzero(kind == ANNOTATION)
    ann = ann[np.argsort(events.ts[ann], kind="stable")]
    ann_stack = np.zeros(len(ann), np.int64)
    if sites.markers:
        ann_names = events.name.take(pa.array(ann)).to_pylist()
        for k, name in enumerate(ann_names):
            if name.startswith(callsite.MARKER_PREFIX):
                marker_id = int(name[len(callsite.MARKER_PREFIX) :])
                ann_stack[k] = sites.markers.get(marker_id, 0)
        is_marker = ann_stack > 0
        tree_stack = inside_markers(
            events.ts[rows],
            events.ts[ann[is_marker]],
            events.dur[ann[is_marker]],
            ann_stack[is_marker],
            tree_stack,
            thread_codes[rows],
            thread_codes[ann[is_marker]],
        )

    # GPU side: parent = the runtime call with the same correlation id
    gpu = np.flatnonzero(kind == KERNEL)
    gpu = gpu[np.argsort(events.ts[gpu], kind="stable")]
    gpu_parent = launchers(events.corr[rows], tree_kind == RUNTIME, events.corr[gpu])
    gpu_stack = np.where(gpu_parent >= 0, tree_stack[np.clip(gpu_parent, 0, None)], 0)

    return _table(
        events,
        all_rows=np.concatenate([rows, ann, gpu]),
        stack_id=np.concatenate([tree_stack, ann_stack, gpu_stack]),
        parent_all=np.concatenate([parent_out, np.full(len(ann), -1), gpu_parent]),
        self_all=np.concatenate([self_ns, events.dur[ann], events.dur[gpu]]),
        kind_all=np.concatenate([tree_kind, kind[ann], kind[gpu]]),
        sites=sites,
        prefix=side.project_prefix,
        keys=keys,
    )


def _table(
    events: TraceEvents,
    *,
    all_rows: np.ndarray,
    stack_id: np.ndarray,
    parent_all: np.ndarray,
    self_all: np.ndarray,
    kind_all: np.ndarray,
    sites: _CallSites,
    prefix: str | None,
    keys: Mapping[str, Any],
) -> pa.Table:
    """Assemble table ``ops`` (stacks materialised once per distinct stack)."""
    stack_lists = sites.stacks.lists(sites.entries)
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
        "callsite_method": _const(sites.method, n, pa.string()),
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
