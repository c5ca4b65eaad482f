"""Hot functions: inclusive time of every target-package function, per profiled render.

A function is its profiler frames (``file(defline): name``, a frame of the target package),
inside compiled regions too. Per render:

- ``cpu_us``: the time of its outermost frames (a recursive call is not counted twice),
  less the call-site mode's overhead inside them;
- ``gpu_us``: kernels launched from inside its frames; ``inclusive_us`` the larger of the two;
- ``self_us``: its frames' own time (bytecode of its body, not its calls);
- ``calls``: its frames (every call, nested ones included); ``op_count``: outermost
  operators called inside it; ``kernel_count``: kernels launched inside it;
- ``caller``: the target-package function its outermost frames ran in most of their
  time (``module:defline``; None when it was called from outside the package).

Inclusive shares nest (a caller holds its callees), so they do not add up to 100 %.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from analysis.grains.events import (
    CPU_OP,
    INSTR,
    KERNEL,
    CellEvents,
    has_same_ancestor,
    nearest_ancestor,
    split_entry,
)

Metrics = dict[str, float]


def function_metrics(ev: CellEvents, w: int) -> tuple[dict[str, Metrics], dict[str, str]]:
    """Per function frame entry (``file:defline:name``): this render's times and counts.

    Returns:
        ``(metrics, callers)``: the metrics, and each function's caller (see the module).
    """
    inw = ev.window == w
    frames = np.flatnonzero(inw & np.array([f is not None for f in ev.frame], bool))
    if len(frames) == 0:
        return {}, {}
    keys = ev.frame[frames]
    codes_of: dict[str, int] = {}
    code = np.full(ev.n, -1, np.int64)
    code[frames] = [codes_of.setdefault(k, len(codes_of)) for k in keys.tolist()]
    outermost = frames[~has_same_ancestor(ev.parent, code)[frames]]

    clock = _Clock(ev)  # a frame holds what ran inside it on its own thread
    instr = _Points(clock.at(inw & (ev.kind == INSTR)), ev.self_us[inw & (ev.kind == INSTR)])
    parent_kind = np.where(ev.parent >= 0, ev.kind[np.clip(ev.parent, 0, None)], -1)
    top_op = inw & (ev.kind == CPU_OP) & (parent_kind != CPU_OP)
    ops = _Points(clock.at(top_op), np.ones(int(top_op.sum())))
    kern = inw & (ev.kind == KERNEL)
    launcher = ev.parent[kern]
    thread = np.where(launcher >= 0, ev.thread[np.clip(launcher, 0, None)], ev.windows[w].thread)
    at = np.where(launcher >= 0, ev.ts[np.clip(launcher, 0, None)], ev.ts[kern])
    kernels = _Points(clock.on(thread, at), ev.dur[kern])
    kernel_n = _Points(clock.on(thread, at), np.ones(len(at)))

    out: dict[str, Metrics] = defaultdict(
        lambda: dict.fromkeys(
            ("cpu_us", "gpu_us", "inclusive_us", "self_us", "calls", "op_count", "kernel_count"),
            0.0,
        )
    )
    for f, key in zip(frames.tolist(), keys.tolist(), strict=True):
        m = out[key]
        m["calls"] += 1
        m["self_us"] += float(ev.self_us[f])
    starts, ends = clock.at(outermost), clock.at(outermost) + ev.dur[outermost]
    cpu = ev.dur[outermost] - instr.within(starts, ends)
    gpu = kernels.within(starts, ends)
    n_ops = ops.within(starts, ends)
    n_kern = kernel_n.within(starts, ends)
    for i, f in enumerate(outermost.tolist()):
        m = out[ev.frame[f]]
        m["cpu_us"] += max(float(cpu[i]), 0.0)
        m["gpu_us"] += float(gpu[i])
        m["op_count"] += float(n_ops[i])
        m["kernel_count"] += float(n_kern[i])
    for m in out.values():
        m["inclusive_us"] = max(m["cpu_us"], m["gpu_us"])
    return dict(out), _callers(ev, outermost, code >= 0)


def _callers(ev: CellEvents, outermost: np.ndarray, is_frame: np.ndarray) -> dict[str, str]:
    """Each function's caller: the enclosing target-package function with most of its time."""
    enclosing = nearest_ancestor(ev.parent, is_frame)[outermost]
    time: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for f, e in zip(outermost.tolist(), enclosing.tolist(), strict=True):
        if e >= 0:
            time[ev.frame[f]][ev.frame[e]] += float(ev.dur[f])
    out = {}
    for key, by_caller in time.items():
        caller = split_entry(max(by_caller.items(), key=lambda kv: (kv[1], kv[0]))[0])
        if caller is not None:
            out[key] = f"{caller[0]}:{caller[1]}"
    return out


class _Clock:
    """Times on one axis per thread: thread ``k``'s events after every earlier thread's."""

    def __init__(self, ev: CellEvents) -> None:
        self.ev = ev
        self.t0 = float(ev.ts.min(initial=0.0))
        self.span = float(ev.end.max(initial=0.0)) - self.t0 + 1.0

    def on(self, thread: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Times ``ts`` (us) of events on ``thread``, on the one axis."""
        return thread * self.span + (ts - self.t0)

    def at(self, rows: np.ndarray) -> np.ndarray:
        """Start times of ``rows`` (indices or a mask), on the one axis."""
        return self.on(self.ev.thread[rows], self.ev.ts[rows])


class _Points:
    """Weighted points on the time axis; :meth:`within` sums them over intervals."""

    def __init__(self, at: np.ndarray, weight: np.ndarray) -> None:
        order = np.argsort(at, kind="stable")
        self.at = np.asarray(at, float)[order]
        self.cum = np.concatenate([[0.0], np.cumsum(np.asarray(weight, float)[order])])

    def within(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Sum of the weights of points with ``start <= at < end``, per interval."""
        lo = np.searchsorted(self.at, start, "left")
        hi = np.searchsorted(self.at, end, "left")
        return self.cum[hi] - self.cum[lo]
