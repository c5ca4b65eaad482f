"""The event tree of a trace: nesting by time, interned call stacks, kernel launchers.

All of it is computed with numpy over whole columns, one nesting level at a time at most,
never with a Python loop per event:

- :func:`nest`: each event's parent (innermost enclosing event of its thread) and depth;
- :func:`crossing`: events that end after their parent (ranges that never nested);
- :class:`Stacks`: call stacks interned as (parent stack id, entry id), one id per distinct
  stack, materialised once per distinct stack;
- :func:`stack_ids`: the stack id of every event of the CPU tree;
- :func:`inside_markers`: a marker's stack for every event that starts inside it;
- :func:`launchers`: the runtime call that launched each GPU kernel (same correlation id).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def nest(thread: np.ndarray, ts: np.ndarray, dur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def crossing(parent: np.ndarray, ts: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """Events that end after their parent ends: they were never nested in it.

    A ``record_function`` range that opens inside one Python call and closes inside a later
    one (torch's ``RecordFunctionFast`` entered from an ``__enter__`` method, as AOTAutograd
    does around every compiled graph) is such an event. Left in the tree it shifts the
    depth of every later event of its thread, and with it their parents and self times.
    """
    end = ts + dur
    has = parent >= 0
    out = np.zeros(len(ts), bool)
    out[has] = end[has] > end[parent[has]]
    return out


@dataclass
class Stacks:
    """Interned call stacks: stack id -> (parent stack id, entry id); id 0 is empty."""

    parent: list[int]
    entry: list[int]
    index: dict[int, int]
    n_entries: int

    @classmethod
    def empty(cls, n_entries: int) -> Stacks:
        """No stack but the empty one (id 0), for entry ids below ``n_entries``."""
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


def stack_ids(
    parent: np.ndarray,
    depth: np.ndarray,
    *,
    is_py: np.ndarray,
    is_call: np.ndarray,
    entry: np.ndarray,
    def_entry: np.ndarray | None,
    reset_entry: np.ndarray,
    stacks: Stacks,
) -> np.ndarray:
    """Stack id of every tree event, computed one nesting level at a time.

    A Python event pushes its caller entry (file:line:function of the frame that called
    it) unless that frame already has an entry on the stack: a C call and the mode frame
    inside it report the same frame and line. Without call sites (``def_entry``), every
    event pushes its enclosing frame's definition entry instead. ``py_frame`` tracks the
    innermost Python function frame (a row), ``entry_frame`` the frame the innermost entry
    belongs to. An entry in the capture module (the frame that called the target) empties
    the stack: stacks start at the target.
    """
    n = len(parent)
    stack = np.zeros(n, np.int64)
    entry_frame = np.full(n, -1, np.int64)
    py_frame = np.full(n, -1, np.int64)
    for level in range(int(depth.max()) + 1 if n else 0):
        rows = np.flatnonzero(depth == level)
        has_parent = parent[rows] >= 0
        parent_row = np.where(has_parent, parent[rows], 0)  # 0 where there is none
        parent_stack = np.where(has_parent, stack[parent_row], 0)
        parent_entry_frame = np.where(has_parent, entry_frame[parent_row], -1)
        parent_py_frame = np.where(has_parent, py_frame[parent_row], -1)
        if def_entry is not None:  # every event names its enclosing frame's definition
            level_entry = np.where(
                parent_py_frame >= 0, def_entry[np.clip(parent_py_frame, 0, None)], -1
            )
        else:  # a Python event names the line it was called from
            level_entry = np.where(is_py[rows], entry[rows], -1)
        has_entry = level_entry >= 0
        reset = has_entry & reset_entry[np.where(has_entry, level_entry, -1)]
        push = has_entry & ~reset & (parent_py_frame != parent_entry_frame)
        level_stack = np.where(reset, 0, parent_stack)
        if push.any():
            level_stack[push] = stacks.push(parent_stack[push], level_entry[push])
        stack[rows] = level_stack
        entry_frame[rows] = np.where(push, parent_py_frame, np.where(reset, -1, parent_entry_frame))
        py_frame[rows] = np.where(is_call[rows] & is_py[rows], rows, parent_py_frame)
    return stack


def inside_markers(
    ts: np.ndarray,
    marker_ts: np.ndarray,
    marker_dur: np.ndarray,
    marker_stack: np.ndarray,
    stack: np.ndarray,
    thread: np.ndarray | None = None,
    marker_thread: np.ndarray | None = None,
) -> np.ndarray:
    """Give every event that starts inside a (non-nesting) marker that marker's stack.

    With ``thread`` and ``marker_thread`` (thread codes), a marker holds only the events of
    its own thread (threads run side by side).
    """
    if len(marker_ts) == 0:
        return stack
    if thread is not None and marker_thread is not None and len(ts):
        t0 = min(int(ts.min()), int(marker_ts.min()))
        span = max(int(ts.max()), int((marker_ts + marker_dur).max())) - t0 + 1
        ts = thread.astype(np.int64) * span + (ts - t0)
        marker_ts = marker_thread.astype(np.int64) * span + (marker_ts - t0)
    order = np.argsort(marker_ts, kind="stable")
    start, end = marker_ts[order], (marker_ts + marker_dur)[order]
    marker_stack = marker_stack[order]
    k = np.searchsorted(start, ts, "right") - 1
    kc = np.clip(k, 0, None)
    inside = (k >= 0) & (ts < end[kc])
    return np.where(inside, marker_stack[kc], stack)


def launchers(corr: np.ndarray, is_runtime: np.ndarray, kernel_corr: np.ndarray) -> np.ndarray:
    """Row of the runtime call that launched each kernel (same correlation id), or -1."""
    out = np.full(len(kernel_corr), -1, np.int64)
    rt = np.flatnonzero(is_runtime & (corr >= 0))
    if len(kernel_corr) == 0 or len(rt) == 0:
        return out
    rt_corr = corr[rt]
    srt = np.argsort(rt_corr, kind="stable")
    pos = np.searchsorted(rt_corr[srt], kernel_corr)
    pos_c = np.clip(pos, 0, len(srt) - 1)
    hit = (pos < len(srt)) & (rt_corr[srt][pos_c] == kernel_corr) & (kernel_corr >= 0)
    out[hit] = rt[srt[pos_c[hit]]]
    return out
