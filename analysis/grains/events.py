"""One profiled cell's events as arrays, its render windows, and what each event is charged to.

Every grain (:mod:`analysis.grains.lines`, :mod:`~analysis.grains.functions`,
:mod:`~analysis.grains.operators`, and the loops of :mod:`analysis.loops.attribution`) reads
the same :class:`CellEvents`:

- **render windows**: each ``farm.run`` annotation is one profiled render (a capture may
  hold several); events belong to a window by start time, on the window's thread or, ending
  inside the window too, on any other (a render may hand work to threads: the capture
  follows them all); kernels by the window of the runtime call that launched them;
- **thread-time**: the threads that *worked* in a window are its own and every other that
  ran an operator or a target-package frame inside it; a window's run time is its length
  times those threads (the render's thread-time: one thread's wall for a single-threaded
  target), less the profiling overhead (the call-site mode's own frames, ``instr``) inside
  it. An exclusive grain's shares of the render therefore add up to at most 100 % however
  many threads worked, and time a worker waited for the others is nobody's;
- **compiled regions**: ``Torch-Compiled Region: i/j`` operators; the outermost region
  around an event is found through its parents, and its *calling line* is the innermost
  target-package frame of the region's stack;
- **the line an event is charged to** (:attr:`CellEvents.line_key`): the calling line of
  its outermost compiled region when it runs inside one (a compiled region is one unit);
  otherwise the innermost target-package frame of its stack. A target-package Python
  frame's own time is split between the lines of its body by :mod:`analysis.grains.lines`.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis.traces.callsite import RUN_MARKER

REGION_PREFIX = "Torch-Compiled Region"
GRAPH_PREFIX = "## Call CompiledFxGraph"
KINDS = ("python", "instr", "cpu_op", "runtime", "annotation", "kernel")
PYTHON, INSTR, CPU_OP, RUNTIME, ANNOTATION, KERNEL = range(len(KINDS))
#: The kinds of the host's event tree (what a render window holds on its thread).
CPU_TREE = (PYTHON, INSTR, CPU_OP, RUNTIME)
_FRAME_NAME = re.compile(r"^(.*)\((\d+)\): (.*)$")
_ADDRESS = r" at 0x[0-9a-fA-F]+"


@dataclass(frozen=True)
class Window:
    """One profiled render: its start and end (us), the thread it ran on, threads that worked."""

    start: float
    end: float
    thread: int
    threads: int = 1


@dataclass
class CellEvents:
    """One cell's rows of table ``ops`` as arrays (row order of the table).

    Attributes:
        n: number of rows.
        kind: kind code per row (index into :data:`KINDS`; -1 unknown).
        name: event name, addresses removed (object array).
        ts, end, dur, self_us: times in microseconds.
        parent: row index of the parent event, -1 for none.
        thread: thread code per row.
        project: innermost target-package frame ``file:line:function`` (object, None).
        first: innermost frame of the stack (object, None).
        frame: for a target-package Python frame, its own ``file:defline:function``.
        region: row of the outermost compiled region around the row, -1 outside.
        line_key: the line a row's own time is charged to (object, None: outside the
            target package).
        windows: the profiled renders, in start order.
        window: window index per row, -1 outside every window.
        prefix: how target-package files start (``nanobrag_torch/``).
        method: the call-site method of the rows.
    """

    n: int
    kind: np.ndarray
    name: np.ndarray
    ts: np.ndarray
    end: np.ndarray
    dur: np.ndarray
    self_us: np.ndarray
    parent: np.ndarray
    thread: np.ndarray
    project: np.ndarray
    first: np.ndarray
    frame: np.ndarray
    region: np.ndarray
    line_key: np.ndarray
    windows: list[Window]
    window: np.ndarray
    prefix: str | None
    method: str | None

    def run_us(self, w: int) -> float:
        """Run time of window ``w``: its thread-time less the profiling overhead inside it."""
        win = self.windows[w]
        instr = float(self.self_us[(self.window == w) & (self.kind == INSTR)].sum())
        return max((win.end - win.start) * win.threads - instr, 0.0)

    def window_s(self, w: int) -> float:
        """Wall length of window ``w`` in seconds (the profiled render's time)."""
        win = self.windows[w]
        return (win.end - win.start) / 1e6

    def median_window_s(self) -> float:
        """The median profiled render's wall time (s): the cell's profile, against its warm runs."""
        return statistics.median(self.window_s(w) for w in range(len(self.windows)))


def _column(table: pa.Table, name: str, fill: object) -> np.ndarray:
    col = table[name] if name in table.column_names else pa.nulls(table.num_rows)
    return col.fill_null(fill).to_numpy(zero_copy_only=False)


def _strings(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, None, object)
    return np.asarray(table[name].to_pylist(), dtype=object)


def guess_prefix(project: np.ndarray) -> str | None:
    """The target package's file prefix from the rows' project frames (first folder)."""
    seen = Counter(str(p).split("/", 1)[0] for p in project[:50_000] if p)
    return f"{seen.most_common(1)[0][0]}/" if seen else None


def load_cell(cell: pa.Table, prefix: str | None = None) -> CellEvents:
    """Arrays, windows and charge lines of one cell's ``ops`` rows.

    Args:
        cell: rows of table ``ops`` of one cell.
        prefix: target-package file prefix (``simulator/``); guessed from the project
            frames when None.
    """
    n = cell.num_rows
    kind_names = _strings(cell, "kind")
    code = {k: i for i, k in enumerate(KINDS)}
    kind = np.array([code.get(k, -1) for k in kind_names], np.int64)
    names = pc.replace_substring_regex(cell["name"].fill_null(""), _ADDRESS, "")
    name = np.asarray(names.to_pylist(), dtype=object)
    ts = _column(cell, "ts_us", 0.0).astype(float)
    dur = np.nan_to_num(_column(cell, "dur_us", 0.0).astype(float))
    self_us = np.nan_to_num(_column(cell, "self_us", 0.0).astype(float))
    parent = parent_rows(
        _column(cell, "event_id", -1).astype(np.int64),
        _column(cell, "parent_id", -1).astype(np.int64),
    )
    thread = (
        pc.dictionary_encode(cell["thread"].fill_null("")).combine_chunks().indices.to_numpy()
        if "thread" in cell.column_names
        else np.zeros(n, np.int64)
    ).astype(np.int64)
    project = _strings(cell, "project_frame")
    first = _first_entries(cell)
    prefix = prefix or guess_prefix(project)
    frame = _own_frames(name, kind, prefix)
    region = outermost_ancestor(parent, (kind == CPU_OP) & _starts(name, REGION_PREFIX))
    line_key = np.where(region >= 0, project[np.clip(region, 0, None)], project)
    methods = _strings(cell, "callsite_method")
    windows = _windows(kind, name, ts, dur, thread)
    events = CellEvents(
        n=n,
        kind=kind,
        name=name,
        ts=ts,
        end=ts + dur,
        dur=dur,
        self_us=self_us,
        parent=parent,
        thread=thread,
        project=project,
        first=first,
        frame=frame,
        region=region,
        line_key=line_key,
        windows=windows,
        window=np.full(n, -1, np.int64),
        prefix=prefix,
        method=next((m for m in methods if m), None),
    )
    events.window = _assign_windows(events)
    events.windows = _worked(events)
    return events


def _first_entries(cell: pa.Table) -> np.ndarray:
    """The innermost frame of every row's stack (None for an empty stack)."""
    out = np.full(cell.num_rows, None, object)
    if "stack" not in cell.column_names or cell.num_rows == 0:
        return out
    head = pc.list_slice(cell["stack"].combine_chunks(), 0, 1)
    rows = pc.list_parent_indices(head).to_numpy(zero_copy_only=False)
    out[rows] = np.asarray(pc.list_flatten(head).to_pylist(), dtype=object)
    return out


def _starts(name: np.ndarray, prefix: str) -> np.ndarray:
    return np.array([str(s).startswith(prefix) for s in name], bool)


def _own_frames(name: np.ndarray, kind: np.ndarray, prefix: str | None) -> np.ndarray:
    """``file:defline:function`` of every target-package Python frame (None elsewhere)."""
    out = np.full(len(name), None, object)
    if not prefix:
        return out
    for i in np.flatnonzero(kind == PYTHON).tolist():
        text = name[i]
        if not text.startswith(prefix):
            continue
        m = _FRAME_NAME.match(text)
        if m:
            out[i] = f"{m[1]}:{m[2]}:{m[3]}"
    return out


def _levels(parent: np.ndarray):
    """Walk up the tree one level at a time: (rows that have an ancestor there, that ancestor)."""
    anc = parent.copy()
    while True:
        alive = anc >= 0
        if not alive.any():
            return
        a = np.clip(anc, 0, None)
        yield alive, a
        anc = np.where(alive, parent[a], -1)


def outermost_ancestor(parent: np.ndarray, is_x: np.ndarray) -> np.ndarray:
    """Row of the outermost ancestor (the row itself included) with ``is_x``, else -1."""
    out = np.where(is_x, np.arange(len(parent)), -1)
    for alive, anc in _levels(parent):
        out = np.where(alive & is_x[anc], anc, out)
    return out


def has_same_ancestor(parent: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Whether a strict ancestor of each row has the same code (codes < 0 never match)."""
    out = np.zeros(len(parent), bool)
    for alive, anc in _levels(parent):
        out |= alive & (code[anc] == code) & (code >= 0)
    return out


def nearest_ancestor(parent: np.ndarray, is_x: np.ndarray) -> np.ndarray:
    """Row of the nearest strict ancestor with ``is_x``, else -1."""
    out = np.full(len(parent), -1, np.int64)
    for alive, anc in _levels(parent):
        out = np.where(alive & (out < 0) & is_x[anc], anc, out)
    return out


def parent_rows(event_id: np.ndarray, parent_id: np.ndarray) -> np.ndarray:
    """Row index of every row's parent (from the ``event_id``/``parent_id`` columns), -1."""
    pos = np.full(max(int(event_id.max(initial=0)) + 1, 1), -1, np.int64)
    pos[event_id[event_id >= 0]] = np.flatnonzero(event_id >= 0)
    ok = (parent_id >= 0) & (parent_id < len(pos))
    parent = np.full(len(parent_id), -1, np.int64)
    parent[ok] = pos[parent_id[ok]]
    return parent


def _windows(
    kind: np.ndarray, name: np.ndarray, ts: np.ndarray, dur: np.ndarray, thread: np.ndarray
) -> list[Window]:
    """Every ``farm.run`` annotation; without one, the busiest thread's whole span."""
    runs = np.flatnonzero((kind == ANNOTATION) & (name == RUN_MARKER))
    if len(runs):
        runs = runs[np.argsort(ts[runs], kind="stable")]
        return [Window(float(ts[k]), float(ts[k] + dur[k]), int(thread[k])) for k in runs]
    cpu = np.isin(kind, CPU_TREE)
    if not cpu.any():
        return []
    busiest = Counter(thread[cpu].tolist()).most_common(1)[0][0]
    on = cpu & (thread == busiest)
    return [Window(float(ts[on].min()), float((ts + dur)[on].max()), int(busiest))]


def _assign_windows(ev: CellEvents) -> np.ndarray:
    """Window index of every row.

    CPU rows go by start time on the window's thread; on another thread they must end in
    the window too (a helper thread's wait for the next render's work is not this one's).
    Kernels go by the window of their launching runtime call, else by their own start.
    """
    out = np.full(ev.n, -1, np.int64)
    cpu = np.isin(ev.kind, CPU_TREE)
    for w, win in enumerate(ev.windows):
        inside = (ev.ts >= win.start) & (ev.ts < win.end)
        out[cpu & inside & ((ev.thread == win.thread) | (ev.end <= win.end))] = w
    kern = np.flatnonzero(ev.kind == KERNEL)
    if len(kern):
        launcher = ev.parent[kern]
        by_launch = np.where(launcher >= 0, out[np.clip(launcher, 0, None)], -1)
        for w, win in enumerate(ev.windows):
            alone = (by_launch < 0) & (ev.ts[kern] >= win.start) & (ev.ts[kern] < win.end)
            by_launch[alone] = w
        out[kern] = by_launch
    return out


def _worked(ev: CellEvents) -> list[Window]:
    """The windows with their count of threads that worked (see the module)."""
    working = (ev.kind == CPU_OP) | (ev.project.astype(bool) & np.isin(ev.kind, CPU_TREE))
    out = []
    for w, win in enumerate(ev.windows):
        threads = set(ev.thread[working & (ev.window == w)].tolist()) | {win.thread}
        out.append(replace(win, threads=len(threads)))
    return out


def cells(ops: pa.Table) -> list[pa.Table]:
    """``ops`` split by ``cell_id`` (first-seen order)."""
    if ops.num_rows == 0:
        return []
    col = ops["cell_id"]
    return [ops.filter(pc.equal(col, cid)) for cid in pc.unique(col).to_pylist()]


def split_entry(entry: str | None) -> tuple[str, int, str] | None:
    """``file:line:function`` as a tuple, or None when it does not parse."""
    if not entry:
        return None
    parts = str(entry).rsplit(":", 2)
    if len(parts) != 3 or not parts[1].lstrip("-").isdigit():
        return None
    return parts[0], int(parts[1]), parts[2]
