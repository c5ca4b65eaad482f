"""Backlog candidates of every kind, each with a gain estimated from the trace's own times.

Four kinds, from the grain tables of the evidence cells:

- ``loop`` (``hot_loops``): vectorise it. Saves the loop's Python time and, for all but
  one iteration's operator calls, their fixed host cost: ``host_fixed_us``, the sum over
  the loop's calls of each operator's fastest call in the same render (measured); a
  bundle without it falls back to :data:`DISPATCH_US` per call. On CUDA at least the host
  time above the kernels' time goes.
- ``setup`` (``hot_functions``): a function whose time does not grow with the image, while
  the run's does (over two or more sizes of one device and dtype, time ~ pixels^k with k
  below :data:`SETUP_EXPONENT` and at least that much below the run's own k), recomputed
  on every render: compute it once, at construction. Saves its whole inclusive time. Only
  the outermost such function is listed (one whose caller is set-up too is inside it).
- ``eager line`` (``hot_lines``): a line outside compiled code that calls several
  operators: fuse them (``torch.compile`` the line's function, or one in-place kernel).
  Saves the fixed host cost of all but one of its operators (``host_fixed_us``).
- ``compiled region`` (``hot_ops``): a ``torch.compile`` region's time outside its
  generated graphs (guards, wrappers, Python between graphs after graph breaks): its
  ``self_us``, what removing graph breaks and guard work can save.

A gain is a share of the cell's representative profiled render (the render its rows come
from, :mod:`analysis.grains.renders`); candidates are ranked by their best share over
cells. Estimates of different kinds can overlap (a loop inside a set-up function, a line
inside a loop): they are not to be added up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from analysis.evidence.grain_sections import GrainEvidence

#: Fallback host cost of one operator call (us) for bundles without measured host times.
DISPATCH_US = {"cpu": 5.0, "cuda": 10.0}
#: A function whose time grows slower than pixels^SETUP_EXPONENT is set-up, not per-pixel.
SETUP_EXPONENT = 0.3
#: Candidates below this share of the profiled render (%) in every cell are not listed.
MIN_PCT = 0.5
KINDS = ("loop", "setup", "eager line", "compiled region")
Row = dict[str, Any]


@dataclass
class Candidate:
    """One thing to change, with its measured share and estimated gain in each cell.

    Attributes:
        kind: one of :data:`KINDS`.
        where: ``module:line`` (a compiled region: the line that calls it).
        what: the loop header, function, line's function or region name.
        action: what to do.
        cells: per cell: device, dtype, size, pct, counts (text), gain_us, gain_pct.
    """

    kind: str
    where: str
    what: str
    action: str
    cells: list[Row] = field(default_factory=list)

    @property
    def best(self) -> float:
        """The largest estimated gain over the cells, as a share of the profiled render (%)."""
        return max((c["gain_pct"] for c in self.cells), default=0.0)


def _side(row: Row) -> str:
    return "cuda" if str(row.get("device") or "").startswith("cuda") else "cpu"


def _run_us(row: Row) -> float:
    """The profiled run of the row's cell (us): its own column, else from share and time."""
    if row.get("run_us"):
        return float(row["run_us"])
    pct = float(row.get("pct_of_run") or 0)
    inclusive = float(row.get("inclusive_us") or 0)
    return inclusive * 100 / pct if pct > 0 else 0.0


def estimate_gain(row: Row) -> tuple[float, float]:
    """Time a vectorised loop saves in one cell (us), and that as a share of the render (0-1).

    ``row`` is a ``hot_loops`` row; see the module docstring for the estimate.
    """
    ops = float(row.get("op_count") or 0)
    iters = max(float(row.get("est_iterations") or 1), 1.0)
    fixed = row.get("host_fixed_us")
    if fixed is None:
        fixed = DISPATCH_US[_side(row)] * ops
    saved = float(row.get("self_python_us") or 0) + float(fixed) * (1 - 1 / iters)
    if _side(row) == "cuda" and row.get("kernel_count"):
        saved = max(saved, float(row.get("cpu_us") or 0) - float(row.get("gpu_us") or 0))
    saved = min(saved, float(row.get("inclusive_us") or 0))
    run = _run_us(row)
    return saved, (saved / run if run > 0 else 0.0)


def _cell(row: Row, counts: str, gain_us: float) -> Row:
    run = _run_us(row)
    return {
        "cell_id": row["cell_id"],
        "device": row["device"],
        "dtype": row["dtype"],
        "size": row["size"],
        "pct": row.get("pct_of_run"),
        "counts": counts,
        "gain_us": gain_us,
        "gain_pct": 100.0 * gain_us / run if run > 0 else 0.0,
        "unrepresentative": (row.get("profile_ratio") or 0) > 1.5,
    }


def loop_candidates(ev: GrainEvidence) -> list[Candidate]:
    """Loops to vectorise (``hot_loops`` evidence rows)."""
    out: dict[str, Candidate] = {}
    for r in ev.loops:
        c = out.get(r["loop_id"])
        if c is None:
            c = out[r["loop_id"]] = Candidate(
                "loop",
                f"{r['module']}:{r['line']}",
                f"{r.get('kind')} in {r.get('function')}",
                "vectorise the loop (make its iterations a tensor dimension)",
            )
        saved, _ = estimate_gain(r)
        iters = r.get("est_iterations")
        c.cells.append(
            _cell(r, f"{r.get('op_count')} ops, ~{iters if iters else '?'} iterations", saved)
        )
    return list(out.values())


def size_exponent(rows: list[Row]) -> float | None:
    """Least-squares k in time ~ pixels^k over rows of different sizes (None: one size)."""
    points = [
        (math.log(r["size"] ** 2), math.log(r["inclusive_us"]))
        for r in rows
        if r.get("size") and (r.get("inclusive_us") or 0) > 0
    ]
    xs = {x for x, _ in points}
    if len(xs) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def setup_candidates(ev: GrainEvidence) -> list[Candidate]:
    """Functions whose time does not grow with the image, recomputed every render."""
    groups: dict[tuple, list[Row]] = defaultdict(list)
    runs: dict[tuple, list[Row]] = defaultdict(list)
    for r in ev.functions:
        groups[(r["device"], r["dtype"], r["module"], r["line"])].append(r)
    for r in {r["cell_id"]: r for r in ev.functions}.values():
        runs[(r["device"], r["dtype"])].append({**r, "inclusive_us": r.get("run_us")})
    flat: dict[tuple, tuple[float, list[Row]]] = {}
    for (device, dtype, module, line), rows in groups.items():
        if str(rows[0]["function"]).startswith("torch_dynamo_resume"):
            continue  # Dynamo's continuation of a compiled function after a graph break
        k, k_run = size_exponent(rows), size_exponent(runs[(device, dtype)])
        if k is None or k_run is None:
            continue
        if k < SETUP_EXPONENT and k < k_run - SETUP_EXPONENT:
            flat[(device, dtype, f"{module}:{line}")] = (k, rows)
    out: dict[str, Candidate] = {}
    for (device, dtype, where), (k, rows) in sorted(flat.items()):
        callers = {r.get("caller") for r in rows}
        if any((device, dtype, c) in flat for c in callers if c):
            continue  # its caller is set-up too: it is part of that candidate
        c = out.get(where)
        if c is None:
            c = out[where] = Candidate(
                "setup",
                where,
                str(rows[0]["function"]),
                "set-up recomputed on every render: compute it once, at construction",
            )
        for r in rows:
            counts = f"{r.get('calls')} call(s)/render, time ~ pixels^{k:.2f}"
            c.cells.append(_cell(r, counts, float(r.get("inclusive_us") or 0)))
    return list(out.values())


def line_candidates(ev: GrainEvidence) -> list[Candidate]:
    """Eager lines that call several operators: fuse them."""
    out: dict[tuple, Candidate] = {}
    for r in ev.lines:
        ops = r.get("op_count") or 0
        if (r.get("compiled_us") or 0) > 0 or ops < 2 or r.get("host_fixed_us") is None:
            continue
        c = out.get((r["module"], r["line"]))
        if c is None:
            c = out[(r["module"], r["line"])] = Candidate(
                "eager line",
                f"{r['module']}:{r['line']}",
                str(r.get("function")),
                "fuse the line's operators (torch.compile its function, or one kernel)",
            )
        saved = float(r["host_fixed_us"]) * (1 - 1 / ops)
        c.cells.append(_cell(r, f"{ops} ops", min(saved, float(r.get("cpu_us") or 0))))
    return list(out.values())


def region_candidates(ev: GrainEvidence) -> list[Candidate]:
    """Compiled regions' time outside their generated graphs."""
    out: dict[str, Candidate] = {}
    for r in ev.ops:
        if r.get("kind") != "compiled" or r.get("nested"):
            continue
        c = out.get(r["name"])
        if c is None:
            c = out[r["name"]] = Candidate(
                "compiled region",
                f"{r.get('call_module')}:{r.get('call_line')}",
                str(r["name"]),
                "remove graph breaks and guard work around the compiled graphs",
            )
        counts = f"{r.get('calls')} call(s); {r.get('detail') or ''}".strip("; ")
        c.cells.append(_cell(r, counts, float(r.get("self_us") or 0)))
    return list(out.values())


def candidates(ev: GrainEvidence, top: int = 10) -> list[Candidate]:
    """The top candidates by best gain, and the best of every kind that is not among them."""
    everything = [
        c
        for c in (
            *loop_candidates(ev),
            *setup_candidates(ev),
            *line_candidates(ev),
            *region_candidates(ev),
        )
        if max((x["pct"] or 0.0 for x in c.cells), default=0.0) >= MIN_PCT
    ]
    everything.sort(key=lambda c: (-c.best, c.kind, c.where))
    chosen = everything[:top]
    for kind in KINDS:
        if not any(c.kind == kind for c in chosen):
            chosen.extend([c for c in everything if c.kind == kind][:1])
    return chosen
