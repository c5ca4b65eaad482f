"""Hot lines: the run's time on the innermost line of the target package, exclusive.

Per profiled render, every host event's *own* time (``self_us``; the call-site mode's
overhead excluded) is charged to one line (:attr:`analysis.grains.events.CellEvents.line_key`):

- inside a compiled region: the line that called the region (the region is one unit);
- a target-package Python frame's own time (bytecode between its calls) is split by the
  gaps between its children: the gap before a call goes to that call's line, the time
  after the last call to the last call's line, a frame without calls to its ``def`` line;
- anything else: the innermost target-package frame of its stack (the line that called
  into torch, or into a helper outside the package).

Every microsecond is charged once, so the shares of all lines add up to at most 100 %;
what is left is time outside the target package (the farm's own frames, the profiler).
``gpu_us``: kernels launched from the line; ``compiled_us``: compiled regions it called;
``host_fixed_us``: the fixed host cost of each operator call the line made
(:mod:`analysis.grains.host_cost`), summed: what fusing its operators into one saves for
all but one of them.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from analysis.grains.events import CPU_OP, KERNEL, PYTHON, RUNTIME, CellEvents, split_entry
from analysis.grains.host_cost import fixed_costs

Metrics = dict[str, float]


def line_metrics(ev: CellEvents, w: int) -> dict[str, Metrics]:
    """Per line entry (``file:line:function``): this render's times and counts."""
    out: dict[str, Metrics] = defaultdict(
        lambda: {
            "cpu_us": 0.0,
            "python_us": 0.0,
            "gpu_us": 0.0,
            "compiled_us": 0.0,
            "op_count": 0.0,
            "kernel_count": 0.0,
            "host_fixed_us": 0.0,
        }
    )
    inw = ev.window == w
    host = inw & np.isin(ev.kind, (PYTHON, CPU_OP, RUNTIME))
    has_frame = np.array([f is not None for f in ev.frame], bool)
    own = host & has_frame & (ev.region < 0)
    generic = host & ~own
    for key, us in _sums(ev.line_key[generic], ev.self_us[generic]).items():
        out[key]["cpu_us"] += us
    builtin = np.array([str(s).startswith("<built-in") for s in ev.name], bool)
    py_generic = generic & (ev.kind == PYTHON) & ~builtin
    for key, us in _sums(ev.line_key[py_generic], ev.self_us[py_generic]).items():
        out[key]["python_us"] += us
    for key, us in _split_own_time(ev, np.flatnonzero(own), inw).items():
        out[key]["cpu_us"] += us
        out[key]["python_us"] += us
    parent_kind = np.where(ev.parent >= 0, ev.kind[np.clip(ev.parent, 0, None)], -1)
    top_op = host & (ev.kind == CPU_OP) & (parent_kind != CPU_OP) & (ev.region < 0)
    kern = inw & (ev.kind == KERNEL)
    outer = inw & (ev.region == np.arange(ev.n))
    ones = np.ones(ev.n)
    for mask, values, metric in (
        (top_op, ones, "op_count"),
        (outer, ones, "op_count"),  # a compiled region is one call of the line
        (kern, ev.dur, "gpu_us"),
        (kern, ones, "kernel_count"),
        (outer, ev.dur, "compiled_us"),
    ):
        for key, v in _sums(ev.line_key[mask], values[mask]).items():
            out[key][metric] += v
    fixed = np.zeros(ev.n)
    fixed[top_op] = fixed_costs(ev.name[top_op], ev.dur[top_op])
    for key, v in _sums(ev.line_key[top_op], fixed[top_op]).items():
        out[key]["host_fixed_us"] += v
    return dict(out)


def _sums(keys: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """Sum of ``values`` per key (None keys dropped)."""
    out: dict[str, float] = defaultdict(float)
    for key, value in zip(keys.tolist(), values.tolist(), strict=True):
        if key is not None:
            out[key] += value
    return out


def _split_own_time(ev: CellEvents, frames: np.ndarray, inw: np.ndarray) -> dict[str, float]:
    """A target-package frame's own time, split over the lines of its body (see module)."""
    out: dict[str, float] = defaultdict(float)
    if len(frames) == 0:
        return out
    is_frame = np.zeros(ev.n, bool)
    is_frame[frames] = True
    child = np.flatnonzero(inw & (ev.parent >= 0) & is_frame[np.clip(ev.parent, 0, None)])
    child = child[np.lexsort((ev.ts[child], ev.parent[child]))]
    by_parent: dict[int, list[int]] = defaultdict(list)
    for c, p in zip(child.tolist(), ev.parent[child].tolist(), strict=True):
        by_parent[p].append(c)
    for f in frames.tolist():
        own = float(ev.self_us[f])
        if own <= 0:
            continue
        kids = by_parent.get(f)
        if not kids:
            out[ev.frame[f]] += own
            continue
        starts = np.array([ev.ts[k] for k in kids])
        ends = np.array([ev.end[k] for k in kids])
        gaps = np.empty(len(kids) + 1)
        gaps[0] = starts[0] - ev.ts[f]
        gaps[1:-1] = starts[1:] - ends[:-1]
        gaps[-1] = ev.end[f] - ends[-1]
        gaps = np.clip(gaps, 0.0, None)
        total = gaps.sum()
        gaps = gaps * (own / total) if total > 0 else np.full(len(gaps), own / len(gaps))
        lines = [_call_line(ev, f, k) for k in kids]
        for line, gap in zip([*lines, lines[-1]], gaps.tolist(), strict=True):
            out[line] += gap
    return out


def _call_line(ev: CellEvents, frame: int, child: int) -> str:
    """The line of ``frame``'s function that made the call ``child`` (else its def line)."""
    mine = split_entry(ev.frame[frame])
    theirs = split_entry(ev.first[child])
    if mine and theirs and mine[0] == theirs[0] and mine[2] == theirs[2]:
        return str(ev.first[child])
    return str(ev.frame[frame])
