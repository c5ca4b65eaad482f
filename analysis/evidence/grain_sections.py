"""The summary.md sections about every grain: top kernels, lines and functions beside loops.

Per profiled evidence cell:

- **Top-5 kernels by inclusive time** (the seed's section): operators, GPU kernels and
  compiled regions from ``hot_ops``, with their self share and the line that called them;
- **Where the time goes**: the top loops, lines and functions side by side, with the
  *explained share* of each view, how much of the run its listed rows account for: the
  union of the listed loops (a nested loop is inside its outer loop), the sum of the
  listed lines (exclusive), the largest listed function (inclusive shares nest), the sum
  of the listed operators' self time. A view that explains little is blind to this
  target (a vectorised, compiled target has almost no loop time);
- **Profiled renders**: how many, their spread, the profile ratio (median profiled render
  over the warm median: the profiler's overhead when neither was disturbed) and a flag
  where it is over :data:`analysis.grains.UNREPRESENTATIVE_RATIO`: the shares still show,
  labelled.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from analysis.evidence.markdown import markdown_table, number
from analysis.grains import SHARE_LABEL, SHARE_OF, UNREPRESENTATIVE_RATIO

TOP = 5
Row = dict[str, Any]


@dataclass
class GrainEvidence:
    """Evidence rows of one bundle, by table (only cells whose verdict passed).

    Attributes:
        loops, lines, functions, ops: rows of ``hot_loops``, ``hot_lines``,
            ``hot_functions``, ``hot_ops``.
        spans: ``loop_id`` -> (module, function, line, end_line) from the inventory.
        cells: ``cell_id`` -> ``{tag, warm_s, profiled_s: [...]}`` from table ``runs``.
    """

    loops: list[Row] = field(default_factory=list)
    lines: list[Row] = field(default_factory=list)
    functions: list[Row] = field(default_factory=list)
    ops: list[Row] = field(default_factory=list)
    spans: dict[str, tuple[str, str, int, int]] = field(default_factory=dict)
    cells: dict[str, Row] = field(default_factory=dict)


def _by_cell(rows: Iterable[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        out[r["cell_id"]].append(r)
    for group in out.values():
        group.sort(key=lambda r: -(r.get("pct_of_run") or 0.0))
    return out


def _order(ev: GrainEvidence) -> list[tuple[str, Row]]:
    """Profiled cells in device, dtype, size order, with one row that names them."""
    seen: dict[str, Row] = {}
    for rows in (ev.lines, ev.ops, ev.functions, ev.loops):
        for r in rows:
            seen.setdefault(r["cell_id"], r)
    return sorted(
        seen.items(), key=lambda kv: (kv[1]["device"], kv[1]["dtype"], kv[1]["size"] or 0)
    )


def _heading(cell_id: str, row: Row, ev: GrainEvidence) -> str:
    tag = ev.cells.get(cell_id, {}).get("tag") or cell_id
    ratio = row.get("profile_ratio")
    label = ""
    if ratio is not None and ratio > UNREPRESENTATIVE_RATIO:
        label = f" — **unrepresentative profile: {ratio:.2f}x the warm median**"
    return f"### {row['device']} {row['dtype']} {row['size']}² (`{tag}`){label}"


def explained_loops(rows: list[Row], spans: dict[str, tuple[str, str, int, int]]) -> float:
    """Share of the render held by the union of ``rows`` (loops nested in a listed one drop)."""
    boxes = [
        spans.get(r["loop_id"]) or (r["module"], r["function"], r["line"], r["line"]) for r in rows
    ]
    total = 0.0
    for r, (module, function, line, end) in zip(rows, boxes, strict=True):
        nested = any(
            o is not r
            and (m, f) == (module, function)
            and a <= line
            and end <= b
            and (a, b) != (line, end)
            for o, (m, f, a, b) in zip(rows, boxes, strict=True)
        )
        if not nested:
            total += r.get("pct_of_run") or 0.0
    return min(total, 100.0)


def explained(ev: GrainEvidence, cell_id: str, top: int = TOP) -> dict[str, float | None]:
    """The explained share of each view's top ``top`` rows in one cell (None: no rows)."""
    loops = _by_cell(ev.loops).get(cell_id, [])[:top]
    lines = _by_cell(ev.lines).get(cell_id, [])
    functions = _by_cell(ev.functions).get(cell_id, [])[:top]
    ops = _by_cell(ev.ops).get(cell_id, [])[:top]
    return {
        "loops": explained_loops(loops, ev.spans) if loops else 0.0,
        "lines": sum(r["pct_of_run"] or 0.0 for r in lines[:top]) if lines else None,
        "all_lines": sum(r["pct_of_run"] or 0.0 for r in lines) if lines else None,
        "functions": max((r["pct_of_run"] or 0.0 for r in functions), default=None),
        "ops_self": sum(r.get("self_pct") or 0.0 for r in ops) if ops else None,
    }


def _pct(r: Row) -> str:
    spread = ""
    lo, hi = r.get("pct_min"), r.get("pct_max")
    if lo is not None and hi is not None and (r.get("renders") or 1) > 1:
        spread = f" ({lo:.1f}–{hi:.1f})"
    return f"{number(r.get('pct_of_run'))}{spread}"


def _where(module: Any, line: Any, function: Any) -> str:
    if not module:
        return "–"
    return f"`{module}:{line}` {function or ''}".strip()


def kernels_section(ev: GrainEvidence, top: int = TOP) -> str:
    """``## Top-5 kernels by inclusive time``: per cell, from ``hot_ops``."""
    out = [f"## Top-{top} kernels by inclusive time", ""]
    out.append(
        "Operators (`cpu_op`), GPU kernels (`kernel`) and `torch.compile` regions "
        f"(`compiled`, one unit each) by inclusive share of {SHARE_OF} "
        "(min–max over its renders); self: time in the operator itself; "
        "called from: "
        "the line that called a compiled region or spent most time on the operator."
    )
    out.append("")
    by_cell = _by_cell(ev.ops)
    if not by_cell:
        return "\n".join([*out, "No evidence cells with operator data.", ""]) + "\n"
    for cell_id, head in _order(ev):
        rows = by_cell.get(cell_id)
        if not rows:
            continue
        out += [_heading(cell_id, head, ev), ""]
        table = [
            [
                k,
                f"`{r['name']}`",
                r["kind"],
                _pct(r),
                number(r.get("self_pct")),
                r.get("calls"),
                _where(r.get("call_module"), r.get("call_line"), r.get("call_function")),
            ]
            for k, r in enumerate(rows[:top], 1)
        ]
        header = ["#", "kernel", "kind", SHARE_LABEL, "self %", "calls", "called from"]
        out += [markdown_table(header, table), ""]
    return "\n".join(out) + "\n"


def grains_section(ev: GrainEvidence, top: int = TOP) -> str:
    """``## Where the time goes``: loops, lines, functions side by side, explained shares."""
    out = ["## Where the time goes: loops, lines and functions", ""]
    out.append(
        f"Top {top} per view: share of {SHARE_OF} (the one "
        "closest to the per-line medians; min–max over its renders). "
        "Lines are exclusive (a line's own time and the calls it makes outside the "
        "package; a compiled region counts on the line that called it): their shares add "
        "up. Loops and functions are inclusive: they nest. *Explained* is how much of the "
        "run the listed rows account for (loops: their union; lines: their sum; "
        "functions: the largest; operators: their self time)."
    )
    out.append("")
    lines, functions, loops = _by_cell(ev.lines), _by_cell(ev.functions), _by_cell(ev.loops)
    if not (lines or functions or loops):
        return "\n".join([*out, "No evidence cells with profile data.", ""]) + "\n"
    for cell_id, head in _order(ev):
        share = explained(ev, cell_id, top)
        out += [_heading(cell_id, head, ev), ""]
        out.append(
            f"Explained: loops {number(share['loops'])}%, lines {number(share['lines'])}% "
            f"(all lines of the package: {number(share['all_lines'])}%), functions "
            f"{number(share['functions'])}%, operators' self time {number(share['ops_self'])}%."
        )
        out.append("")
        columns = (
            [
                f"{_where(r['module'], r['line'], r['function'])} {_pct(r)}"
                for r in loops.get(cell_id, [])[:top]
            ],
            [
                f"{_where(r['module'], r['line'], r['function'])} {_pct(r)}"
                for r in lines.get(cell_id, [])[:top]
            ],
            [
                f"{_where(r['module'], r['line'], r['function'])} {_pct(r)} ×{r.get('calls') or 0}"
                for r in functions.get(cell_id, [])[:top]
            ],
        )
        n = max(len(c) for c in columns)
        table = [[k + 1, *(c[k] if k < len(c) else "" for c in columns)] for k in range(n)]
        out += [markdown_table(["#", "loop", "line", "function (calls)"], table), ""]
    out.append(profiled_renders(ev))
    return "\n".join(out) + "\n"


def profiled_renders(ev: GrainEvidence) -> str:
    """A table of every profiled cell's renders: spread, profile ratio, and the 1.5x flag."""
    out = ["### Profiled renders", ""]
    out.append(
        "Profile ratio (`profile_ratio`) = median profiled render / warm median: the "
        "profiler's overhead when neither was disturbed (under 1: the timed warm renders "
        f"were). Over {UNREPRESENTATIVE_RATIO:g}x the profiled render is not typical of the "
        "warm runs: its shares are shown, labelled *unrepresentative*."
    )
    out.append("")
    rows = []
    for cell_id, head in _order(ev):
        info = ev.cells.get(cell_id, {})
        prof = sorted(info.get("profiled_s") or [])
        ratio = head.get("profile_ratio")
        flag = "unrepresentative" if ratio is not None and ratio > UNREPRESENTATIVE_RATIO else ""
        rows.append(
            [
                f"`{info.get('tag') or cell_id}`",
                head.get("renders"),
                _seconds(statistics.median(prof)) if prof else "–",
                f"{_seconds(prof[0])}–{_seconds(prof[-1])}" if prof else "–",
                _seconds(info.get("warm_s")),
                "–" if ratio is None else f"{ratio:.2f}x",
                flag,
            ]
        )
    header = ["cell", "renders", "profiled s", "spread s", "warm s", "profile ratio", "flag"]
    return "\n".join([*out, markdown_table(header, rows), ""])


def _seconds(v: Any) -> str:
    return "–" if v is None else f"{float(v):.4g}"
