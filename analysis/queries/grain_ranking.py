"""Ranking and CPU-vs-GPU comparison at every grain: documented SQL over the grain views.

``farm rank --by line|function|op`` and ``farm hotspots --by ...`` run these; ``--by loop``
(the default) runs :mod:`analysis.queries.ranking` and :mod:`analysis.queries.hotspots`.
The rules are the loops': only cells whose correlation verdict passed are evidence, the
others are listed with the reason (:func:`refused_sql`); shares are means over evidence
cells of each cell's median share over its profiled renders.

- ``line`` (table ``hot_lines``): exclusive, so ``explained_pct``, the running sum of the
  shares down the ranking, says how much of the run the rows so far account for;
- ``function`` (``hot_functions``): inclusive (callers hold callees): no running sum;
- ``op`` (``hot_ops``): operators, kernels and compiled regions ranked by inclusive time
  (the seed's "top kernels by inclusive time"); ``explained_pct`` runs over their *self*
  shares, which add up.

``unrepresentative`` is true when a cell's median profiled render took over
``$unrepresentative`` (1.5) times its warm median: its shares still count, labelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analysis.grains import UNREPRESENTATIVE_RATIO
from analysis.queries.hotspots import FLAG_SQL, hotspot_params
from analysis.queries.ranking import EVIDENCE_CTES, REFUSED_SQL, Ranking
from analysis.tables.catalog import Catalog, QueryResult


@dataclass(frozen=True)
class Grain:
    """What ranking one grain needs: its table, key, labels and extra aggregates."""

    name: str
    table: str
    key: tuple[str, ...]
    labels: tuple[str, ...]
    extras: tuple[tuple[str, str], ...]  # (aggregate over evidence rows, alias)
    explained: str | None  # the additive share behind explained_pct, or None
    kernel_us: str  # aggregate: mean time per GPU kernel (for the tiny-launch flag)


GRAINS: dict[str, Grain] = {
    "line": Grain(
        "line",
        "hot_lines",
        ("module", "line"),
        ("function",),
        (
            ("avg(cpu_us)", "cpu_us"),
            ("avg(python_us)", "python_us"),
            ("avg(compiled_us)", "compiled_us"),
            ("avg(gpu_pct)", "gpu_pct"),
            ("avg(op_count)", "op_count"),
            ("avg(kernel_count)", "kernels"),
        ),
        "pct",
        "sum(gpu_us) / nullif(sum(kernel_count), 0)",
    ),
    "function": Grain(
        "function",
        "hot_functions",
        ("module", "line"),
        ("function",),
        (
            ("avg(self_pct)", "self_pct"),
            ("avg(inclusive_us)", "inclusive_us"),
            ("avg(calls)", "calls"),
            ("avg(op_count)", "op_count"),
            ("avg(kernel_count)", "kernels"),
        ),
        None,
        "sum(gpu_us) / nullif(sum(kernel_count), 0)",
    ),
    "op": Grain(
        "op",
        "hot_ops",
        ("kind", "name"),
        ("op_device", "call_module", "call_line", "call_function", "nested"),
        (
            ("avg(self_pct)", "self_pct"),
            ("avg(inclusive_us)", "inclusive_us"),
            ("avg(self_us)", "self_us"),
            ("avg(calls)", "calls"),
            ("min(min_call_us)", "min_call_us"),
        ),
        "self_pct",
        "sum(inclusive_us) FILTER (WHERE kind = 'kernel') "
        "/ nullif(sum(calls) FILTER (WHERE kind = 'kernel'), 0)",
    ),
}
BY = ("loop", *GRAINS)


def grain(name: str) -> Grain:
    """The grain called ``name``.

    Raises:
        ValueError: not one of line, function, op.
    """
    if name not in GRAINS:
        raise ValueError(f"unknown grain {name!r} (known: {', '.join(BY)})")
    return GRAINS[name]


def _ctes(g: Grain) -> str:
    return EVIDENCE_CTES.replace("hot_loops", g.table)


def evidence_sql(g: Grain) -> str:
    """Every row of the grain's table in evidence cells of ``$stamp``."""
    return _ctes(g) + "SELECT * FROM evidence"


def latest_sql(g: Grain) -> str:
    """The newest stamp with rows of the grain's table."""
    return f"SELECT max(stamp) AS stamp FROM {g.table}"


def rank_sql(g: Grain) -> str:
    """Top rows per device and dtype.

    Parameters as :data:`analysis.queries.ranking.RANK_SQL`, plus ``$unrepresentative``.
    """
    key = ", ".join(g.key)
    labels = "".join(f"any_value({c}) AS {c}, " for c in g.labels)
    extras = "".join(f"{expr} AS {alias}, " for expr, alias in g.extras)
    shown = "".join(f"round({a}, 2) AS {a}, " for _, a in g.extras)
    explained = ""
    if g.explained:
        explained = (
            f"round(sum({g.explained}) OVER (PARTITION BY device, dtype ORDER BY rank), 2)"
            " AS explained_pct, "
        )
    return (
        _ctes(g)
        + f""", per_key AS (
    SELECT device, dtype, {key}, {labels}
           avg(pct_of_run) AS pct, min(pct_min) AS pct_min, max(pct_max) AS pct_max,
           {extras}count(*) AS cells,
           array_to_string(list_sort(list(DISTINCT size)), ',') AS sizes,
           max(renders) AS renders,
           coalesce(bool_or(profile_ratio > $unrepresentative), false) AS unrepresentative
    FROM evidence
    WHERE ($device IS NULL OR device LIKE $device || '%')
      AND ($dtype IS NULL OR dtype = $dtype)
    GROUP BY device, dtype, {key}
),
ranked AS (
    SELECT row_number() OVER (PARTITION BY device, dtype ORDER BY pct DESC, {key}) AS rank, *
    FROM per_key
)
SELECT rank, device, dtype, {key}, {", ".join(g.labels)},
       round(pct, 2) AS pct_of_run, round(pct_min, 2) AS pct_min, round(pct_max, 2) AS pct_max,
       {explained}{shown}cells, sizes, renders, unrepresentative
FROM ranked
WHERE rank <= $top
ORDER BY device, dtype, rank
"""
    )


def refused_sql(g: Grain) -> str:
    """Cells of the grain's table that are not evidence, with the reason."""
    return REFUSED_SQL.replace("hot_loops", g.table)


def hotspots_sql(g: Grain) -> str:
    """The grain's mean share on each side (``cpu`` cells, ``cuda*`` cells), flagged.

    The flags are those of :data:`analysis.queries.hotspots.HOTSPOTS_SQL`.
    """
    key = ", ".join(g.key)
    labels = "".join(f"any_value({c}) AS {c}, " for c in g.labels)
    return (
        _ctes(g)
        + f""", sides AS (
    SELECT bool_or(device NOT LIKE 'cuda%') AS has_cpu, bool_or(device LIKE 'cuda%') AS has_gpu
    FROM evidence
),
per_side AS (
    SELECT {key}, CASE WHEN device LIKE 'cuda%' THEN 'gpu' ELSE 'cpu' END AS side,
           {labels}avg(pct_of_run) AS pct, {g.kernel_us} AS us_per_kernel
    FROM evidence
    GROUP BY {key}, side
),
wide AS (
    SELECT {key}, {labels}
           max(pct) FILTER (WHERE side = 'cpu') AS cpu_pct,
           max(pct) FILTER (WHERE side = 'gpu') AS gpu_pct,
           max(us_per_kernel) FILTER (WHERE side = 'gpu') AS us_per_kernel
    FROM per_side
    GROUP BY {key}
),
filled AS (
    SELECT w.* REPLACE (
               CASE WHEN s.has_cpu THEN coalesce(w.cpu_pct, 0) END AS cpu_pct,
               CASE WHEN s.has_gpu THEN coalesce(w.gpu_pct, 0) END AS gpu_pct)
    FROM wide w, sides s
)
SELECT {key}, {", ".join(g.labels)},
       round(cpu_pct, 2) AS cpu_pct, round(gpu_pct, 2) AS gpu_pct,
       round(us_per_kernel, 2) AS us_per_kernel,
"""
        + FLAG_SQL
        + f"""
FROM filled
ORDER BY greatest(coalesce(cpu_pct, 0), coalesce(gpu_pct, 0)) DESC, {key}
LIMIT $top
"""
    )


def rank_params(
    stamp: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    top: int = 10,
    unrepresentative: float = UNREPRESENTATIVE_RATIO,
) -> dict[str, Any]:
    """Named parameters of :func:`rank_sql`."""
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    return {
        "stamp": stamp,
        "device": device,
        "dtype": dtype,
        "top": int(top),
        "unrepresentative": float(unrepresentative),
    }


def latest(catalog: Catalog, g: Grain) -> str | None:
    """The newest stamp with rows of the grain's table."""
    return catalog.query(latest_sql(g)).rows[0][0]


def rank_grain(catalog: Catalog, by: str, **params: Any) -> Ranking:
    """Run :func:`rank_sql` and :func:`refused_sql` for grain ``by``."""
    g = grain(by)
    p = rank_params(**params)
    if p["stamp"] is None:
        p["stamp"] = latest(catalog, g)
    ranked = catalog.query(rank_sql(g), p)
    return Ranking(ranked, catalog.query(refused_sql(g), {"stamp": p["stamp"]}))


def grain_hotspots(catalog: Catalog, by: str, **params: Any) -> QueryResult:
    """Run :func:`hotspots_sql` for grain ``by`` (parameters as the loops' hotspots)."""
    g = grain(by)
    p = hotspot_params(**params)
    if p["stamp"] is None:
        p["stamp"] = latest(catalog, g)
    return catalog.query(hotspots_sql(g), p)
