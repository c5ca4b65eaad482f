"""Time attribution (Phase B2): table ``ops`` x table ``loops`` -> table ``hot_loops``.

A loop's heat, per profiled cell:

- an event *passes through* a loop when its call stack has a frame in the loop's module and
  function at a line between the loop's first and last line (a comprehension: its own
  ``<listcomp>``-style frame up to Python 3.11). Helpers called from the loop body are
  therefore inside the loop: their operators' stacks pass through the calling line;
- ``cpu_us``: the union of the loop's outermost events on the host plus the Python time
  between them (a gap counts unless an event that does not pass through the loop starts in
  it), less the call-site mode's own overhead (``instr`` rows) inside the loop; taken on
  each thread and summed (a loop whose body runs on two threads at once holds both);
- ``gpu_us``: the kernels launched from the loop (their stack is the launching call's);
- ``inclusive_us = max(cpu_us, gpu_us)`` and ``pct_of_run`` is its share of the cell's
  representative profiled render (its ``farm.run`` window's thread-time,
  :meth:`CellEvents.run_us`: its length times the threads that worked in it, less all
  instrumentation overhead; not of the timed warm renders, which run without the profiler);
- ``op_count``: outermost operators (an ``aten::add`` counts once, not its ``aten::to``);
- ``self_python_us``: ``cpu_us`` not covered by any operator;
- ``est_iterations``: events executed directly in the loop body (not in nested loops) are
  grouped by line and callee; the most common group count is the estimate.

- ``host_fixed_us``: the fixed host cost of each of those calls, measured in the render
  (:mod:`analysis.grains.host_cost`), summed: what a vectorised loop saves for all but
  one iteration.

The events, their render windows and run times are the grains' (:class:`CellEvents`: the
same arrays for every table of a cell); what is the loops' own is the match of the stacks
to the inventory. Each profiled render (``farm.run`` window) is attributed on its own; a
loop's row holds the cell's representative render's values and the median and spread of
its per-render shares (:mod:`analysis.grains.renders`).

Nested loops are inclusive: an outer loop contains its inner loops' time, so shares of
different loops do not add up to 100.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis.grains.events import (
    CPU_OP,
    CPU_TREE,
    INSTR,
    KERNEL,
    CellEvents,
    cells,
    load_cell,
    split_entry,
)
from analysis.grains.host_cost import fixed_costs
from analysis.grains.renders import over_renders, representative_render
from analysis.tables.schema import HOT_LOOPS, SCHEMA_VERSION

COMPREHENSION_FRAMES = frozenset({"<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>"})
INLINED_COMPREHENSIONS = sys.version_info >= (3, 12)
_SEP = "\x1f"


@dataclass(frozen=True)
class LoopSpec:
    """What attribution needs of one inventory row."""

    loop_id: str
    module: str
    line: int
    end_line: int
    kind: str
    function: str

    @property
    def frame_name(self) -> str:
        """The function name a profiler frame shows for the loop's function."""
        return self.function.rsplit(".", 1)[-1]

    def matches(self, line: int, func: str) -> bool:
        """Whether a stack frame (in this loop's module) at ``line`` of ``func`` is in it.

        A comprehension runs in its own ``<listcomp>``-style frame up to Python 3.11: only
        that frame's lines are the loop's, not other calls on the same line. From 3.12 list,
        set and dict comprehensions are inlined into the function (PEP 709) and match it.
        """
        if not self.line <= line <= self.end_line:
            return False
        if func in COMPREHENSION_FRAMES:
            return self.kind == "comprehension"
        if self.kind == "comprehension" and not INLINED_COMPREHENSIONS:
            return False
        return func == self.frame_name


def loop_specs(loops: pa.Table) -> list[LoopSpec]:
    """Inventory rows as :class:`LoopSpec` (one per loop_id)."""
    seen: dict[str, LoopSpec] = {}
    for r in loops.select(
        ["loop_id", "module", "line", "end_line", "kind", "function"]
    ).to_pylist():
        seen.setdefault(r["loop_id"], LoopSpec(**r))
    return list(seen.values())


def attribute(
    ops: pa.Table,
    loops: pa.Table,
    targets: Mapping[str, str] | None = None,
    warm_s: Mapping[str, float] | None = None,
    renders: Mapping[str, int] | None = None,
    events: Mapping[str, CellEvents] | None = None,
) -> pa.Table:
    """Rows of ``hot_loops`` for every cell in ``ops`` and every loop that got time.

    Args:
        ops: Table ``ops`` (one or more cells).
        loops: Table ``loops`` (the inventory of the target packages).
        targets: Target name per cell_id (from table ``runs``), when known.
        warm_s: Warm median (s) per cell_id, for ``profile_ratio``, when known.
        renders: The representative render per cell_id (the grain tables' ``render``, so
            every table of a cell holds the same render); else chosen by the loops' shares.
        events: Each cell's events as the grains loaded them (:func:`load_cells`), so a
            cell is read into arrays once; a cell not in it is loaded here.
    """
    specs = loop_specs(loops)
    rows: list[dict] = []
    if ops.num_rows == 0 or not specs:
        return pa.Table.from_pylist([], schema=HOT_LOOPS)
    for cell in cells(ops):
        cell_id = cell["cell_id"][0].as_py()
        ev = (events or {}).get(str(cell_id)) or load_cell(cell)
        warm = (warm_s or {}).get(cell_id)
        chosen = (renders or {}).get(cell_id)
        target = (targets or {}).get(cell_id)
        rows.extend(_cell_rows(cell, ev, specs, target, warm, chosen))
    return pa.Table.from_pylist(rows, schema=HOT_LOOPS)


def _cell_rows(
    cell: pa.Table,
    ev: CellEvents,
    specs: list[LoopSpec],
    target: str | None,
    warm_s: float | None,
    render: int | None,
) -> list[dict]:
    if not ev.windows:
        return []
    match = _match_stacks(cell, specs)
    if not match.passes.any():
        return []
    got = [_window_metrics(ev, specs, match, w) for w in range(len(ev.windows))]
    runs = [ev.run_us(w) for w in range(len(ev.windows))]
    m = render if render is not None and render < len(runs) else None
    if m is None:
        m = representative_render(got, runs, "inclusive_us")
    keys = {
        "schema_version": SCHEMA_VERSION,
        "stamp": cell["stamp"][0].as_py(),
        "cell_id": cell["cell_id"][0].as_py(),
        "target": target,
        "device": cell["device"][0].as_py(),
        "dtype": cell["dtype"][0].as_py(),
        "size": cell["size"][0].as_py(),
        "callsite_method": cell["callsite_method"][0].as_py(),
        "renders": len(ev.windows),
        "render": m,
        "run_us": runs[m],
        "run_threads": ev.windows[m].threads,
        "profile_ratio": ev.median_window_s() / warm_s if warm_s else None,
    }
    rows = []
    for i, row in sorted(over_renders(got, runs, "inclusive_us", render=m).items()):
        spec = specs[i]
        for name in ("op_count", "kernel_count"):
            row[name] = int(row.get(name) or 0)
        rows.append(
            {
                **keys,
                "loop_id": spec.loop_id,
                "module": spec.module,
                "line": spec.line,
                "function": spec.function,
                "kind": spec.kind,
                **row,
            }
        )
    return rows


@dataclass
class _Match:
    """The cell's distinct stacks, and which loops each passes through."""

    sid: np.ndarray  # stack id per row
    known: np.ndarray  # per stack: it has a frame
    passes: np.ndarray  # [stack, loop] bool
    direct: np.ndarray  # [stack, loop] bool: innermost frame in the loop
    line0: np.ndarray  # innermost line per stack
    func0: np.ndarray  # innermost function per stack


def _match_stacks(cell: pa.Table, specs: list[LoopSpec]) -> _Match:
    """Intern the rows' stacks (``file:line:function`` entries) and match them to the loops."""
    joined = pc.binary_join(cell["stack"].fill_null(pa.scalar([], pa.list_(pa.string()))), _SEP)
    enc = pc.dictionary_encode(joined).combine_chunks()
    stacks = [
        [e for e in map(split_entry, (text or "").split(_SEP)) if e]
        for text in enc.dictionary.to_pylist()
    ]
    by_module: dict[str, list[int]] = defaultdict(list)
    for i, spec in enumerate(specs):
        by_module[spec.module].append(i)
    n_stacks = len(stacks)
    passes = np.zeros((n_stacks, len(specs)), bool)
    direct = np.zeros((n_stacks, len(specs)), bool)
    line0 = np.full(n_stacks, -1, np.int64)
    func0 = np.empty(n_stacks, object)
    for s, entries in enumerate(stacks):
        for k, (file, line, func) in enumerate(entries):
            if k == 0:
                line0[s], func0[s] = line, func
            for i in by_module.get(file, ()):
                if specs[i].matches(line, func):
                    passes[s, i] = True
                    direct[s, i] |= k == 0
    sid = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    known = np.array([bool(s) for s in stacks], bool)
    return _Match(sid, known, passes, direct, line0, func0)


def _window_metrics(
    ev: CellEvents, specs: list[LoopSpec], match: _Match, w: int
) -> dict[int, dict]:
    """Per loop (index into ``specs``): its times and counts in profiled render ``w``."""
    win = ev.windows[w]
    sid = match.sid
    is_cpu = np.isin(ev.kind, CPU_TREE)
    in_run = is_cpu & (ev.window == w)
    is_instr = ev.kind == INSTR
    has_parent = ev.parent >= 0
    pp = np.where(has_parent, ev.parent, 0)
    parent_kind = np.where(has_parent, ev.kind[pp], -1)
    same_stack_as_parent = has_parent & (sid[pp] == sid)
    known_stack = match.known[sid]
    is_kernel = (ev.kind == KERNEL) & (ev.ts >= win.start) & (ev.ts < win.end)
    is_op = ev.kind == CPU_OP
    outer_run = is_op & in_run & (parent_kind != CPU_OP)
    threads = [ev.thread == t for t in np.unique(ev.thread[in_run]).tolist()]
    fixed = np.zeros(ev.n)
    fixed[outer_run] = fixed_costs(ev.name[outer_run], ev.dur[outer_run])
    out: dict[int, dict] = {}
    for i in np.flatnonzero(match.passes.any(axis=0)).tolist():
        spec = specs[i]
        m = match.passes[sid, i]
        cpu_ev = in_run & m
        if not cpu_ev.any() and not (is_kernel & m).any():
            continue
        top = cpu_ev & ~(has_parent & m[pp])
        breaking = in_run & ~m & known_stack
        busy = gaps = 0.0
        for on in threads if top.any() else ():  # the gaps of one thread's own events
            b, g = _busy_and_gaps(ev.ts[top & on], ev.end[top & on], np.sort(ev.ts[breaking & on]))
            busy, gaps = busy + b, gaps + g
        instr_in = float(ev.self_us[is_instr & cpu_ev].sum())
        cpu_us = max(busy + gaps - instr_in, 0.0)
        outer_ops = is_op & cpu_ev & (parent_kind != CPU_OP)
        op_us = float(ev.dur[outer_ops].sum())
        kern = is_kernel & m
        gpu_us = float(ev.dur[kern].sum())
        direct = match.direct[sid, i] & in_run & ~is_instr & ~same_stack_as_parent
        out[i] = {
            "inclusive_us": max(cpu_us, gpu_us),
            "cpu_us": cpu_us,
            "gpu_us": gpu_us,
            "op_count": float(outer_ops.sum()),
            "kernel_count": float(kern.sum()),
            "est_iterations": _iterations(ev, match, spec, specs, direct),
            "self_python_us": max(cpu_us - op_us, 0.0),
            "instr_us": instr_in,
            "host_fixed_us": float(fixed[outer_ops].sum()),
        }
    return out


def _busy_and_gaps(
    start: np.ndarray, end: np.ndarray, breaking_ts: np.ndarray
) -> tuple[float, float]:
    """Union length of intervals, and the total of the gaps between them with no break."""
    if len(start) == 0:
        return 0.0, 0.0
    order = np.argsort(start, kind="stable")
    s, e = start[order], end[order]
    reach = np.maximum.accumulate(e)
    new = np.ones(len(s), bool)
    new[1:] = s[1:] > reach[:-1]
    first = np.flatnonzero(new)
    run_start = s[first]
    run_end = np.maximum.reduceat(e, first)
    busy = float((run_end - run_start).sum())
    if len(first) < 2:
        return busy, 0.0
    g0, g1 = run_end[:-1], run_start[1:]
    n_break = np.searchsorted(breaking_ts, g1, "left") - np.searchsorted(breaking_ts, g0, "right")
    return busy, float((g1 - g0)[n_break <= 0].sum())


def _iterations(
    ev: CellEvents, match: _Match, spec: LoopSpec, specs: list[LoopSpec], frame_level: np.ndarray
) -> int | None:
    """Most common count of (line, callee) among events run directly in the loop body."""
    lines = _direct_lines(spec, specs)
    rows = np.flatnonzero(frame_level)
    if len(rows) == 0:
        return None
    counts: Counter[tuple[int, str]] = Counter()
    for r in rows.tolist():
        s = match.sid[r]
        line = int(match.line0[s])
        if line not in lines:
            continue
        if spec.kind == "comprehension" and match.func0[s] not in COMPREHENSION_FRAMES:
            continue
        counts[(line, ev.name[r])] += 1
    if not counts:
        return None
    freq = Counter(counts.values())
    best = max(freq.items(), key=lambda kv: (kv[1], kv[0]))
    return int(best[0])


def _direct_lines(spec: LoopSpec, specs: list[LoopSpec]) -> set[int]:
    """Lines of the loop body outside nested loops' bodies (their headers stay)."""
    first = spec.line + 1 if spec.kind == "for" else spec.line
    lines = set(range(first, spec.end_line + 1))
    if spec.kind == "for" and spec.line == spec.end_line:
        lines.add(spec.line)  # a one-line loop
    for other in specs:
        if other is spec or other.module != spec.module or other.function != spec.function:
            continue
        if spec.line <= other.line and other.end_line <= spec.end_line and other.line > spec.line:
            lines -= set(range(other.line + 1, other.end_line + 1))
    return lines
