"""``backlog.md`` (Phase B3): candidates of every kind, each with its measured gain.

The candidates and their gain estimates are :mod:`analysis.evidence.candidates`' (loops to
vectorise, set-up recomputed per render, eager lines to fuse, compiled regions' overhead),
each estimated from the trace's own measured host times.
"""

from __future__ import annotations

from typing import Any

from analysis.evidence.candidates import DISPATCH_US, SETUP_EXPONENT, Candidate, candidates
from analysis.evidence.grain_sections import GrainEvidence
from analysis.evidence.markdown import markdown_table, number, refused_lines
from analysis.grains import SHARE_LABEL, SHARE_NOTE
from analysis.queries.ranking import Ranking

TOP_BACKLOG = 10
#: Which render the percentages are of (the warm renders are timed apart, unprofiled).
RENDER_NOTE = SHARE_NOTE
_COLUMNS = ["device", "dtype", "size", SHARE_LABEL, "counts", "est. gain", "render speed-up"]


def backlog_markdown(
    stamp: str,
    ranking: Ranking,
    evidence: GrainEvidence,
    headers: dict[str, dict[str, Any]],
    notes: list[str],
    methods: set[str],
) -> str:
    """The text of ``backlog.md``.

    Args:
        stamp: The bundle's stamp.
        ranking: The loop ranking (its refused cells are listed first).
        evidence: Every grain's rows of the evidence cells.
        headers: ``loops`` rows by loop id (the loop's header line and what it iterates).
        notes: Problems met on the way, listed at the end.
        methods: The call-site methods the traces were read with.
    """
    out = [f"# Backlog ({stamp}): where to take time out of the render", "", RENDER_NOTE, ""]
    out.append(
        "Candidates of every kind, ranked by their largest estimated gain in any cell, over "
        "cells whose correlation verdict passed (the best candidate of each kind is listed "
        "even when it ranks lower). Gains come from the trace's own host times: a loop "
        "saves its Python time and, for all but one iteration, the fixed host cost of its "
        "operator calls (each operator's fastest call in the same render; "
        f"{DISPATCH_US['cpu']:g}/{DISPATCH_US['cuda']:g} us per CPU/CUDA call where a bundle "
        "has no measured times); set-up recomputed every render (its time grows slower than "
        f"pixels^{SETUP_EXPONENT:g} over the sizes) saves all of it; an eager line saves "
        "the fixed cost of all but one of its operators when fused; a compiled region its "
        "time outside its generated graphs. Estimates of different kinds overlap (a line "
        "inside a loop): do not add them up."
    )
    out.append("")
    out.extend(refused_lines(ranking.refused))
    chosen = candidates(evidence, TOP_BACKLOG)
    if not chosen:
        out.append("No evidence cells with profile data: nothing to rank.")
        return "\n".join(out) + "\n"
    loop_ids = {f"{r['module']}:{r['line']}": r["loop_id"] for r in evidence.loops}
    for n, c in enumerate(chosen, 1):
        out.append(f"## {n}. `{c.where}` {c.kind}: {c.what}")
        head = headers.get(loop_ids.get(c.where, ""), {}) if c.kind == "loop" else {}
        if head.get("header"):
            out.append(f"`{head['header']}`; iterates: {head.get('iteration_hint')}")
        out.append(f"What to do: {c.action}.")
        out.append("")
        out.append(markdown_table(_COLUMNS, _rows(c)))
        out.append("")
    if methods - {"event_tree"}:
        out.append(f"Call-site method(s) used: {', '.join(sorted(methods))} (see README).")
    out.extend(f"- {n}" for n in notes)
    return "\n".join(out) + "\n"


def _rows(c: Candidate) -> list[list[str]]:
    """One line per cell of a candidate: its share, counts and estimated gain."""
    rows = []
    for x in sorted(c.cells, key=lambda x: (x["device"], x["dtype"], x["size"] or 0)):
        share = x["gain_pct"] / 100
        speed = 1 / (1 - share) if share < 1 else float("inf")
        label = " (unrepresentative profile)" if x["unrepresentative"] else ""
        rows.append(
            [
                str(x["device"]),
                str(x["dtype"]),
                str(x["size"]),
                number(x["pct"]) + label,
                x["counts"],
                f"{x['gain_us'] / 1000:.2f} ms ({x['gain_pct']:.1f}% of the render)",
                f"{speed:.2f}x",
            ]
        )
    return rows
