"""The sections that bundle analysis adds to ``summary.md``: top loops, CPU vs GPU hotspots."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from analysis.evidence.markdown import integer, markdown_table, number, refused_lines
from analysis.grains import SHARE_LABEL, SHARE_OF
from analysis.queries.hotspots import HOT_PCT
from analysis.queries.ranking import Ranking
from analysis.tables.catalog import QueryResult

TOP_SUMMARY = 10


def summary_sections(
    ranking: Ranking,
    hs: QueryResult,
    inventory_lines: list[str],
    methods: set[str],
    notes: list[str],
    n_hot: int,
) -> list[str]:
    """Two Markdown sections: the top loops per device and dtype; CPU vs GPU hotspots.

    Args:
        ranking: The ranking over the bundle's evidence cells.
        hs: The hotspot comparison (:func:`analysis.queries.hotspots.hotspots`).
        inventory_lines: One line per scanned package (how many loops of each kind).
        methods: The call-site methods the traces were read with.
        notes: Problems met on the way, listed at the end.
        n_hot: Rows written to table ``hot_loops``.
    """
    return [_top_loops(ranking, inventory_lines, methods), _hotspots(hs, notes, n_hot)]


def _top_loops(ranking: Ranking, inventory_lines: list[str], methods: set[str]) -> str:
    top = ["## Residual Python loops: top by inclusive time", ""]
    if inventory_lines:
        top.append("Inventory: " + "; ".join(inventory_lines) + ".")
    if methods:
        top.append(f"Call-site method: {', '.join(sorted(methods))}.")
    top.append(f"`{SHARE_LABEL}`: share of {SHARE_OF}, mean over the cells of a device and dtype.")
    top.append("")
    rows = ranking.ranked.records()
    if not rows:
        top.append("No evidence cells with loop data (see below and backlog.md).")
    by_group: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_group[(r["device"], r["dtype"])].append(r)
    for (device, dtype), group in sorted(by_group.items()):
        top.append(f"### {device} {dtype}")
        top.append("")
        top.append(
            markdown_table(
                ["#", "loop", "function", "kind", SHARE_LABEL, "ops", "iterations", "Python %"],
                (
                    [
                        r["rank"],
                        f"`{r['module']}:{r['line']}`",
                        r["function"],
                        r["kind"],
                        number(r["pct_of_run"]),
                        r["op_count"],
                        integer(r["est_iterations"]),
                        number(r["python_pct"]),
                    ]
                    for r in group[:TOP_SUMMARY]
                ),
            )
        )
        top.append("")
    top.extend(refused_lines(ranking.refused))
    return "\n".join(top) + "\n"


def _hotspots(hs: QueryResult, notes: list[str], n_hot: int) -> str:
    cmp = ["## CPU vs GPU hotspots", ""]
    cmp.append(
        f"Share of {SHARE_OF}, mean over the cells of each side (–: side not measured); "
        f"flags at {HOT_PCT:g}%."
    )
    cmp.append("")
    cmp.append(
        markdown_table(
            ["loop", "function", "CPU %", "CPU ops", "GPU %", "GPU ops", "kernels", "flag"],
            (
                [
                    f"`{r['module']}:{r['line']}`",
                    r["function"],
                    number(r["cpu_pct"]),
                    integer(r["cpu_ops"]),
                    number(r["gpu_pct"]),
                    integer(r["gpu_ops"]),
                    integer(r["gpu_kernels"]),
                    r["flag"],
                ]
                for r in hs.records()[:TOP_SUMMARY]
            ),
        )
    )
    cmp.append("")
    cmp.append(f"Files: hot_loops.csv, cpu_vs_gpu.csv, backlog.md ({n_hot} hot_loops rows).")
    if notes:
        cmp.append("")
        cmp.extend(f"- {n}" for n in notes)
    return "\n".join(cmp) + "\n"
