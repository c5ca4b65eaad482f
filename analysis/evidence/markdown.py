"""Markdown building blocks of the evidence reports (summary.md sections, backlog.md).

:func:`markdown_table` is the one Markdown table writer of the project's reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from analysis.tables.catalog import QueryResult


def markdown_table(headers: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """A GitHub-flavoured Markdown table, its lines joined by newlines (no final newline).

    A cell is ``str(value)``, or empty for None.

    Example:
        >>> print(markdown_table(["a", "b"], [[1, None]]))
        | a | b |
        |---|---|
        | 1 |  |
    """
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        out.append("| " + " | ".join("" if v is None else str(v) for v in row) + " |")
    return "\n".join(out)


def number(v: Any) -> str:
    """Two decimals, or a dash for None."""
    return "–" if v is None else f"{float(v):.2f}"


def integer(v: Any) -> str:
    """An integer, or a dash for None."""
    return "–" if v is None else str(int(v))


def refused_lines(refused: QueryResult) -> list[str]:
    """The cells refused as evidence, as a Markdown list with its heading (none: no lines)."""
    rows = refused.records()
    if not rows:
        return []
    out = [f"**Refused as evidence** ({len(rows)} cell(s); not ranked):", ""]
    for r in rows:
        out.append(f"- `{r['cell_id']}` {r['device']} {r['dtype']} size {r['size']}: {r['reason']}")
    out.append("")
    return out
