"""Where the time goes, at every grain a bundle has: loops, and lines, functions and ops.

Loops are ranked by :func:`analysis.queries.ranking.rank` (the same numbers as ``farm
rank``). Every other grain is one :class:`Grain` entry of :data:`GRAINS`: a view and the
SQL expressions that give a row its label, source position and share of the representative
profiled render. A grain whose view is absent (an older bundle, or a schema without it) or
empty is left out. To show a new grain, add one entry.

Only evidence cells count (every correlation row of the cell passes), as in the ranking.
Parameters: ``$stamp``, ``$top`` (rows per device and dtype).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analysis.queries.cells import views
from analysis.queries.ranking import rank
from analysis.tables.catalog import Catalog, CatalogError


@dataclass(frozen=True)
class Grain:
    """One grain of attribution: a view and how to read a ranking from it.

    Attributes:
        name: short name (``lines``), also the HTML anchor.
        view: the catalog view (``hot_lines``).
        title: heading in the report.
        label: SQL expression naming a row (grouped on).
        module: SQL expression of the source file (``NULL`` when there is none).
        line: SQL expression of the first source line.
        end_line: SQL expression of the last source line.
        pct: SQL expression of the row's share of the representative profiled render, in percent.
    """

    name: str
    view: str
    title: str
    label: str
    module: str = "NULL"
    line: str = "NULL"
    end_line: str = "NULL"
    pct: str = "pct_of_run"

    def sql(self) -> str:
        """Top rows per device and dtype by their mean share over evidence cells."""
        return f"""\
WITH verdicts AS (
    SELECT cell_id, bool_and(verdict = 'pass') AS ok
    FROM correlations WHERE stamp = $stamp GROUP BY cell_id
),
evidence AS (
    SELECT g.* FROM {self.view} g JOIN verdicts v USING (cell_id)
    WHERE g.stamp = $stamp AND v.ok
),
per_row AS (
    SELECT device, dtype, {self.label} AS label,
           any_value({self.module}) AS module, any_value({self.line}) AS line,
           any_value({self.end_line}) AS end_line,
           avg({self.pct}) AS pct, max({self.pct}) AS max_pct, count(*) AS cells
    FROM evidence
    GROUP BY device, dtype, label
)
SELECT row_number() OVER (PARTITION BY device, dtype ORDER BY pct DESC, label) AS rank,
       device, dtype, label, module, line, end_line,
       round(pct, 2) AS pct_of_run, round(max_pct, 2) AS max_pct, cells
FROM per_row
QUALIFY rank <= $top
ORDER BY device, dtype, rank
"""


#: Grains other than loops (issue 9's views); each shows when its view exists and has rows.
GRAINS: tuple[Grain, ...] = (
    Grain(
        "lines",
        "hot_lines",
        "Lines (exclusive: shares add up)",
        label="printf('%s:%d %s', module, line, coalesce(function, ''))",
        module="module",
        line="line",
        end_line="line",
    ),
    Grain(
        "functions",
        "hot_functions",
        "Functions (inclusive)",
        label="printf('%s:%d %s', module, line, coalesce(function, ''))",
        module="module",
        line="line",
        end_line="line",
    ),
    Grain(
        "ops",
        "hot_ops",
        "Operators, kernels and compiled regions",
        label="kind || ' ' || name",
        module="call_module",
        line="call_line",
        end_line="call_line",
    ),
)


@dataclass(frozen=True)
class Ranking:
    """One grain's ranking and the cells refused as evidence (loops only).

    Rows carry ``rank, device, dtype, label, module, line, end_line, pct_of_run`` (and more
    for loops); ``note`` says why a grain present in the catalog shows no rows.
    """

    grain: str
    title: str
    rows: list[dict[str, Any]]
    refused: list[dict[str, Any]]
    note: str | None = None


_LOOP_SPANS_SQL = """\
SELECT loop_id, any_value(end_line) AS end_line, any_value(header) AS header
FROM loops GROUP BY loop_id
"""


def loop_ranking(catalog: Catalog, stamp: str, top: int = 10) -> Ranking:
    """The loop ranking of ``farm rank``, each row with a label and its source span."""
    result = rank(catalog, stamp=stamp, top=top)
    spans = {r["loop_id"]: r for r in catalog.query(_LOOP_SPANS_SQL).records()}
    rows = []
    for r in result.ranked.records():
        span = spans.get(r["loop_id"], {})
        r["label"] = f"{r['module']}:{r['line']} {r['function']}"
        r["end_line"] = span.get("end_line") or r["line"]
        r["header"] = span.get("header")
        rows.append(r)
    return Ranking(
        "loops", "Loops (inclusive: nested loops overlap)", rows, result.refused.records()
    )


def rankings(catalog: Catalog, stamp: str, top: int = 10) -> list[Ranking]:
    """Loops, then every grain of :data:`GRAINS` whose view exists and has rows."""
    out = [loop_ranking(catalog, stamp, top)]
    present = views(catalog)
    for grain in GRAINS:
        if grain.view not in present:
            continue
        try:
            rows = catalog.query(grain.sql(), {"stamp": stamp, "top": int(top)}).records()
        except CatalogError as exc:  # a view whose columns differ from what the entry expects
            out.append(Ranking(grain.name, grain.title, [], [], f"not shown: {exc}"))
            continue
        if rows:
            out.append(Ranking(grain.name, grain.title, rows, []))
    return out
