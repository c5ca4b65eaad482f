"""``backlog.md`` (Phase B3): the top loop candidates, each with a first estimate of the gain."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from analysis.evidence.markdown import integer, markdown_table, number, refused_lines
from analysis.queries.ranking import Ranking

TOP_BACKLOG = 10
#: Which render the percentages are of (the warm renders are timed apart, unprofiled).
RENDER_NOTE = (
    "Percentages (`% of run`) are shares of each cell's profiled render: the render run "
    "under torch.profiler after the cold run, the untimed warm-up(s) and the timed warm "
    "renders (its wall time is `profiled s` in summary.md's Timings). They are not shares "
    "of the cold run or of the timed warm renders, which run without the profiler."
)
#: Host cost of one operator call that vectorising removes (first-estimate constants).
DISPATCH_US = {"cpu": 5.0, "cuda": 10.0}
_COLUMNS = [
    "device",
    "dtype",
    "size",
    "% of run",
    "ops",
    "kernels",
    "iterations",
    "Python %",
    "est. gain",
    "run speed-up",
]


def estimate_gain(row: dict[str, Any]) -> tuple[float, float]:
    """First estimate of the time a vectorised loop saves in one cell: (us, share of run).

    Vectorising removes the loop's Python time and the host cost of all but one iteration's
    operator calls (``DISPATCH_US`` per call: CPU dispatch, CUDA launch); on CUDA, host time
    above the kernels' own time goes too (when kernels were recorded). The compute stays.
    """
    side = "cuda" if str(row.get("device") or "").startswith("cuda") else "cpu"
    ops = float(row.get("op_count") or 0)
    iters = max(float(row.get("est_iterations") or 1), 1.0)
    inclusive = float(row.get("inclusive_us") or 0)
    saved = float(row.get("self_python_us") or 0) + DISPATCH_US[side] * ops * (1 - 1 / iters)
    if side == "cuda" and row.get("kernel_count"):
        saved = max(saved, float(row.get("cpu_us") or 0) - float(row.get("gpu_us") or 0))
    saved = min(saved, inclusive)
    pct = float(row.get("pct_of_run") or 0)
    run_us = inclusive * 100 / pct if pct > 0 else 0.0
    return saved, (saved / run_us if run_us > 0 else 0.0)


def backlog_markdown(
    stamp: str,
    ranking: Ranking,
    evidence: list[dict[str, Any]],
    headers: dict[str, dict[str, Any]],
    notes: list[str],
    methods: set[str],
) -> str:
    """The text of ``backlog.md``.

    Args:
        stamp: The bundle's stamp.
        ranking: The ranking (its refused cells are listed first).
        evidence: Every ``hot_loops`` row of an evidence cell.
        headers: ``loops`` rows by loop id (the loop's header line and what it iterates).
        notes: Problems met on the way, listed at the end.
        methods: The call-site methods the traces were read with.
    """
    out = [f"# Vectorisation backlog ({stamp})", "", RENDER_NOTE, ""]
    out.append(
        "Candidates ranked by their largest mean share of the profiled render on any device and "
        "dtype, over cells whose correlation verdict passed. *Gain if vectorised* is a first "
        "estimate: the loop's Python time plus the host cost of all but one iteration's "
        f"operator calls ({DISPATCH_US['cpu']:g} us per call on CPU, "
        f"{DISPATCH_US['cuda']:g} us per launch on CUDA; on CUDA at least the host time above "
        "the kernels' time); the compute stays. Shares of nested loops overlap."
    )
    out.append("")
    out.extend(refused_lines(ranking.refused))
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in evidence:
        groups[row["loop_id"]].append(row)
    if not groups:
        out.append("No evidence cells with loop data: nothing to rank.")
        return "\n".join(out) + "\n"

    def best(rows: list[dict[str, Any]]) -> float:
        return max(float(r.get("pct_of_run") or 0) for r in rows)

    ordered = sorted(groups.items(), key=lambda kv: -best(kv[1]))[:TOP_BACKLOG]
    for n, (loop_id, rows) in enumerate(ordered, 1):
        head = headers.get(loop_id, {})
        first = rows[0]
        out.append(
            f"## {n}. `{first['module']}:{first['line']}` in `{first['function']}` "
            f"({first['kind']})"
        )
        if head.get("header"):
            out.append(f"`{head['header']}`; iterates: {head.get('iteration_hint')}")
        out.append("")
        ordered_rows = sorted(rows, key=lambda r: (r["device"], r["dtype"], r["size"] or 0))
        out.append(markdown_table(_COLUMNS, [_backlog_row(r) for r in ordered_rows]))
        out.append("")
    if methods - {"event_tree"}:
        out.append(f"Call-site method(s) used: {', '.join(sorted(methods))} (see README).")
    out.extend(f"- {n}" for n in notes)
    return "\n".join(out) + "\n"


def _backlog_row(r: dict[str, Any]) -> list[str]:
    """One device/dtype/size of a candidate: its share, counts and the estimated gain."""
    saved, share = estimate_gain(r)
    py = 100 * (r["self_python_us"] or 0) / r["inclusive_us"] if r["inclusive_us"] else 0
    speed = 1 / (1 - share) if share < 1 else float("inf")
    return [
        f"{r['device']}",
        f"{r['dtype']}",
        f"{r['size']}",
        number(r["pct_of_run"]),
        f"{r['op_count']}",
        f"{r['kernel_count']}",
        integer(r["est_iterations"]),
        f"{py:.1f}",
        f"{saved / 1000:.2f} ms ({100 * share:.1f}% of run)",
        f"{speed:.2f}x",
    ]
