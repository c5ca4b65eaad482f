"""Matching a trace's Python events to the call sites its sidecar recorded.

The sidecar (:mod:`analysis.traces.callsite`) says where each Python event was called from
(``event_tree``) or which stack each marker stands for (``markers``). This module turns it
into entries (``file:line:function`` strings) and entry ids per event, and says which method
the rows really got; without a usable sidecar, the trace's own frame names give definition
lines (``definition_lines``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis.traces import callsite
from analysis.traces.event_tree import Stacks
from analysis.traces.trace_reader import TraceEvents

_DEF_NAME = re.compile(r"^(.*)\((\d+)\): (.*)$")
#: The capture module as trace frames name it ("analysis/traces/capture.py"): the frame that
#: called the target, where stacks start.
CAPTURE_FILE = "/".join(Path(__file__).with_name("capture.py").parts[-3:])


def match_sidecar(
    side: callsite.Sidecar, events: TraceEvents, py_rows: np.ndarray
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


def effective_method(side: callsite.Sidecar, match_rate: float) -> str:
    """The call-site method the rows really got."""
    if side.method == callsite.METHOD_EVENT_TREE and match_rate > 0:
        return callsite.METHOD_EVENT_TREE
    if side.method == callsite.METHOD_MARKERS and side.table is not None:
        return callsite.METHOD_MARKERS
    return callsite.METHOD_DEFINITION_LINES


def definition_entries(py_names: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Entries ``file:defline:function`` parsed from Python frame names (no call sites)."""
    strings: dict[str, int] = {}
    def_entry = np.full(len(py_names), -1, np.int64)
    for i, name in enumerate(py_names.tolist()):
        m = _DEF_NAME.match(name)
        if m:
            def_entry[i] = strings.setdefault(f"{m[1]}:{m[2]}:{m[3]}", len(strings))
    return list(strings), def_entry


def marker_stacks(table: pa.Table) -> tuple[list[str], dict[int, int], Stacks]:
    """Intern every marker's stack; return entries, marker id -> stack id, the stacks."""
    strings: dict[str, int] = {}
    lists = table["stack"].to_pylist()
    for stack in lists:
        for e in stack:
            strings.setdefault(e, len(strings))
    stacks = Stacks.empty(len(strings) + 1)
    markers = {}
    for marker, stack in zip(table["marker_id"].to_pylist(), lists, strict=True):
        sid = np.zeros(1, np.int64)
        for e in reversed(stack):
            if CAPTURE_FILE in e:
                continue
            sid = stacks.push(sid, np.array([strings[e]], np.int64))
        markers[int(marker)] = int(sid[0])
    return list(strings), markers, stacks
