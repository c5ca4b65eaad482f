"""Hot operators, kernels and compiled regions, per profiled render.

Three kinds of row, each keyed by kind and name:

- ``cpu_op``: a torch operator (``aten::mul``): ``inclusive_us`` sums the calls not nested
  in a call of the same operator, ``self_us`` their own time (what torch.profiler's
  ``key_averages()`` calls CPU total and CPU self time: the seed's "autograd kernels");
- ``kernel``: a GPU kernel or copy: its time on the device (inclusive = self);
- ``compiled``: a ``torch.compile`` region as one unit, named after the function it
  compiled (``compiled _physics (pkg/mod.py:34)``); ``self_us`` is the region's time
  outside its generated graphs (guards, graph breaks, Python between graphs); ``nested``
  marks a region that runs inside another (a graph break resumed under the first).

Every row names its *call line*: for a compiled region, the target-package line that
called it; for an operator or kernel, the line that spent most of its time on it.
``min_call_us`` is the operator's fastest call in the render: an estimate of its fixed
host cost (a call that did almost no work), used by the backlog's gain estimates.
The CompiledFxGraph markers inside regions are the regions' content and get no row.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from analysis.grains.events import (
    CPU_OP,
    GRAPH_PREFIX,
    KERNEL,
    PYTHON,
    REGION_PREFIX,
    CellEvents,
    has_same_ancestor,
    nearest_ancestor,
)
from analysis.plurals import counted

Metrics = dict[str, float]
_FRAME_NAME = re.compile(r"^(.*)\((\d+)\): (.*)$")


def op_metrics(ev: CellEvents, w: int) -> tuple[dict[tuple[str, str], Metrics], dict]:
    """Per (kind, name): this render's times and counts; and per key its description.

    Returns:
        ``(metrics, meta)``: metrics hold ``inclusive_us, self_us, calls, min_call_us``;
        meta holds ``op_device, call_line, nested, detail`` (strings and flags).
    """
    inw = ev.window == w
    names = ev.name
    is_op = inw & (ev.kind == CPU_OP)
    is_region = (ev.kind == CPU_OP) & np.array(
        [str(s).startswith(REGION_PREFIX) for s in names], bool
    )
    is_graph = (ev.kind == CPU_OP) & np.array(
        [str(s).startswith(GRAPH_PREFIX) for s in names], bool
    )
    metrics: dict[tuple[str, str], Metrics] = {}
    meta: dict[tuple[str, str], dict] = {}

    plain = np.flatnonzero(is_op & ~is_region & ~is_graph)
    _add_named(ev, plain, "cpu_op", "cpu", metrics, meta, inclusive_of=_outer_same_name(ev, plain))
    kern = np.flatnonzero(inw & (ev.kind == KERNEL))
    _add_named(ev, kern, "kernel", "cuda", metrics, meta, inclusive_of=np.ones(len(kern), bool))
    _add_regions(ev, np.flatnonzero(inw & is_region), is_region, is_graph, metrics, meta)
    return metrics, meta


def _outer_same_name(ev: CellEvents, rows: np.ndarray) -> np.ndarray:
    """Which of ``rows`` have no ancestor operator of the same name."""
    if len(rows) == 0:
        return np.zeros(0, bool)
    codes: dict[str, int] = {}
    code = np.full(ev.n, -1, np.int64)
    code[rows] = [codes.setdefault(str(s), len(codes)) for s in ev.name[rows].tolist()]
    return ~has_same_ancestor(ev.parent, code)[rows]


def _add_named(
    ev: CellEvents,
    rows: np.ndarray,
    kind: str,
    device: str,
    metrics: dict,
    meta: dict,
    *,
    inclusive_of: np.ndarray,
) -> None:
    """Operators or kernels grouped by name."""
    by_line: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r, outer in zip(rows.tolist(), inclusive_of.tolist(), strict=True):
        key = (kind, str(ev.name[r]))
        m = metrics.get(key)
        if m is None:
            m = metrics[key] = {
                "inclusive_us": 0.0,
                "self_us": 0.0,
                "calls": 0.0,
                "min_call_us": float("inf"),
            }
        dur = float(ev.dur[r])
        m["calls"] += 1
        m["self_us"] += dur if kind == "kernel" else float(ev.self_us[r])
        if outer:
            m["inclusive_us"] += dur
            line = ev.line_key[r]
            if line is not None:
                by_line[key][line] += dur
        m["min_call_us"] = min(m["min_call_us"], dur)
    for key in {(kind, str(ev.name[r])) for r in rows.tolist()}:
        lines = by_line.get(key) or {}
        best = max(lines.items(), key=lambda kv: (kv[1], kv[0]))[0] if lines else None
        meta[key] = {"op_device": device, "call_line": best, "nested": False, "detail": None}


def _add_regions(
    ev: CellEvents,
    rows: np.ndarray,
    is_region: np.ndarray,
    is_graph: np.ndarray,
    metrics: dict,
    meta: dict,
) -> None:
    """Compiled regions as units, named after the function each compiled."""
    if len(rows) == 0:
        return
    owner = nearest_ancestor(ev.parent, is_region)
    inner = np.zeros(ev.n)  # time of graphs and nested regions directly inside a region
    content = np.flatnonzero((is_graph | is_region) & (owner >= 0))
    np.add.at(inner, owner[content], ev.dur[content])
    graphs = np.zeros(ev.n)
    g = np.flatnonzero(is_graph & (owner >= 0))
    np.add.at(graphs, owner[g], 1.0)
    compiled = _compiled_functions(ev, rows)
    for r in rows.tolist():
        key = ("compiled", compiled.get(r) or str(ev.name[r]))
        m = metrics.setdefault(
            key, {"inclusive_us": 0.0, "self_us": 0.0, "calls": 0.0, "min_call_us": float("inf")}
        )
        dur = float(ev.dur[r])
        nested = bool(owner[r] >= 0)
        m["calls"] += 1
        m["inclusive_us"] += dur
        m["self_us"] += max(dur - inner[r], 0.0)
        m["min_call_us"] = min(m["min_call_us"], dur)
        info = meta.setdefault(
            key, {"op_device": "cpu", "call_line": ev.project[r], "nested": nested, "ids": set()}
        )
        info["ids"].add(str(ev.name[r])[len(REGION_PREFIX) :].strip(": "))
        info["graphs"] = info.get("graphs", 0.0) + graphs[r]
    for key, info in meta.items():
        if key[0] == "compiled" and "ids" in info:
            ids = ", ".join(sorted(info.pop("ids")))
            n_graphs = int(info.pop("graphs", 0))
            info["detail"] = f"Torch-Compiled Region {ids}; {counted(n_graphs, 'graph call')}"


def _compiled_functions(ev: CellEvents, regions: np.ndarray) -> dict[int, str]:
    """``compiled <function> (<file>:<defline>)`` per region: its first Python frame."""
    wanted = set(regions.tolist())
    first: dict[int, int] = {}
    rows = np.flatnonzero((ev.kind == PYTHON) & np.isin(ev.parent, regions))
    for r in rows[np.argsort(ev.ts[rows], kind="stable")].tolist():
        p = int(ev.parent[r])
        if p in wanted and p not in first:
            name = str(ev.name[r])
            if not name.startswith("<"):  # a frame, not a C function
                first[p] = r
    out = {}
    for region, r in first.items():
        m = _FRAME_NAME.match(str(ev.name[r]))
        out[region] = f"compiled {m[3]} ({m[1]}:{m[2]})" if m else f"compiled {ev.name[r]}"
    return out
