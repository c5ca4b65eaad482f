"""``farm sql``, ``farm rank``, ``farm hotspots``, ``farm inventory``: parse, query, print.

The work is done by :mod:`analysis.tables.catalog` (views over every bundle),
:mod:`analysis.queries.ranking`, :mod:`analysis.queries.hotspots` and
:mod:`analysis.loops.inventory`. Exit codes: 0 ok, 2 bad input (SQL, path, option).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import typer

from analysis.plurals import counted
from farm.cli.app import app, reports_option
from farm.cli.fit import terminal_width
from farm.cli.rows import print_result

REPORTS_HELP = "Root folder of bundles (every reports/**/tables/*/part-*.parquet)."
#: Columns of each table, most important first: what is kept in a narrow terminal.
RANK_COLUMNS = ["rank", "device", "dtype", "pct_of_run", "module", "line", "function"]
RANK_COLUMNS += ["op_count", "python_pct", "est_iterations", "kernels", "max_pct", "sizes"]
HOTSPOT_COLUMNS = ["module", "line", "cpu_pct", "gpu_pct", "flag", "function", "cpu_ops"]
HOTSPOT_COLUMNS += ["gpu_ops", "gpu_kernels", "us_per_kernel"]
#: The columns a grain's ranking (``--by line|function|op``) keeps first when it must fit.
GRAIN_FIRST = ["rank", "device", "dtype", "pct_of_run", "explained_pct", "module", "line"]
GRAIN_FIRST += ["kind", "name", "function", "pct_min", "pct_max"]
HOTSPOT_FIRST = ["module", "line", "kind", "name", "cpu_pct", "gpu_pct", "flag", "function"]


def _first(columns: list[str], first: list[str]) -> list[str]:
    """``columns`` with those of ``first`` that it has in front (importance order)."""
    return [c for c in first if c in columns] + [c for c in columns if c not in first]


INVENTORY_COLUMNS = ["module", "line", "header", "function", "kind", "end_line", "depth"]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _catalog(reports: Path, stamp: str | None = None, readable: list[Path] | None = None):
    """The catalog over ``reports`` (only the bundles of ``stamp`` when one is given)."""
    from analysis.tables.catalog import Catalog, CatalogError

    if not reports.exists():
        raise _fail(f"--reports {reports}: no such folder")
    if not reports.is_dir():
        raise _fail(f"--reports {reports}: not a folder")
    stamps = None if stamp is None else {stamp}
    try:
        return Catalog(
            reports,
            warn=lambda line: typer.echo(line, err=True),
            stamps=stamps,
            readable=readable or (),
        )
    except CatalogError as exc:
        raise _fail(str(exc)) from None


def _stamp_or_latest(reports: Path, stamp: str | None, table: str = "hot_loops") -> str | None:
    """``stamp``, else the newest stamp folder with parts of ``table`` (read from the paths)."""
    from analysis.tables.catalog import latest_stamp

    if stamp is not None:
        return stamp
    if not reports.is_dir():
        raise _fail(f"--reports {reports}: no such folder")
    return latest_stamp(reports, table)


BY_HELP = "Grain: loop (default) | line (exclusive) | function (inclusive) | op (kernels)."
TITLES = {
    "loop": "Residual Python loops",
    "line": "Hot lines (exclusive: shares add up)",
    "function": "Hot functions (inclusive)",
    "op": "Hot operators, kernels and compiled regions (by inclusive time)",
}


def _grain(by: str) -> Any:
    """The grain spec for ``--by`` (None for loops); exit 2 for an unknown one."""
    from analysis.queries import grain_ranking as grains

    if by == "loop":
        return None
    try:
        return grains.grain(by)
    except ValueError as exc:
        raise _fail(f"--by: {exc}") from None


def _run_pruned(reports: Path, stamp: str | None, query):
    """Run ``query(catalog)`` on the stamp's bundles only; on all of them if that finds none.

    Bundles live in ``<...>/<STAMP>/tables``: reading one stamp's parts is what keeps
    ``farm rank`` fast on a large reports tree. A tree laid out otherwise is read whole.
    """
    from analysis.tables.catalog import CatalogError

    attempts = [stamp, None] if stamp is not None else [None]
    result = None
    for prune in attempts:
        with _catalog(reports, prune) as cat:
            try:
                result = query(cat)
            except CatalogError as exc:
                raise _fail(str(exc)) from None
        if _has_rows(result):
            break
    return result


def _has_rows(result: Any) -> bool:
    from analysis.queries import Ranking

    parts = result if isinstance(result, tuple) else (result,)
    for part in parts:
        rows = part.ranked.rows + part.refused.rows if isinstance(part, Ranking) else part.rows
        if rows:
            return True
    return False


def _format(csv_out: bool, json_out: bool) -> str:
    if csv_out and json_out:
        raise _fail("--csv and --json are exclusive")
    return "csv" if csv_out else "json" if json_out else "table"


@app.command("sql")
def sql(
    query: str | None = typer.Argument(
        None, metavar="SQL", help="One SELECT statement; '-' or none: stdin."
    ),
    reports: Path = reports_option(REPORTS_HELP),
    csv_out: bool = typer.Option(False, "--csv", help="Print CSV."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (a list of objects)."),
    read: list[Path] = typer.Option(
        [],
        "--read",
        metavar="DIR",
        help="Also let the SQL read files under this folder (repeatable).",
    ),
    wide: bool = typer.Option(False, "--wide", help="Every column, at full width."),
) -> None:
    """Run read-only SQL over every bundle's tables.

    Views of what ran: runs, correlations, parity_tiles, ops, loops, cell_stats.

    Views of where the time goes: hot_loops, hot_lines, hot_functions, hot_ops, hot_shares.

    One SELECT (or EXPLAIN of one); the engine opens no file but the bundles' parts and
    those under --read folders.

    Example:
        farm sql "SELECT stamp, device, count(*) FROM hot_loops GROUP BY ALL"

        echo "SELECT * FROM correlations WHERE verdict <> 'pass'" | farm sql --csv
    """
    from analysis.tables.catalog import CatalogError, check_read_only

    fmt = _format(csv_out, json_out)
    for folder in read:
        if not folder.is_dir():
            raise _fail(f"--read {folder}: not a folder")
    text = sys.stdin.read() if query in (None, "-") else query
    try:
        check_read_only(text or "")  # before any part is opened
    except CatalogError as exc:
        raise _fail(str(exc)) from None
    with _catalog(reports, readable=read) as cat:
        try:
            result = cat.query(text or "")
        except CatalogError as exc:
            raise _fail(str(exc)) from None
    print_result(result.columns, result.rows, fmt, importance=result.columns, wide=wide)


@app.command("rank")
def rank(
    stamp: str | None = typer.Argument(
        None, metavar="STAMP", help="Bundle stamp (default: newest with data)."
    ),
    by: str = typer.Option("loop", "--by", metavar="GRAIN", help=BY_HELP),
    device: str | None = typer.Option(
        None, "--device", metavar="DEVICE", help="Only this device (prefix)."
    ),
    dtype: str | None = typer.Option(None, "--dtype", metavar="DTYPE", help="Only this dtype."),
    top: int = typer.Option(10, "--top", min=1, metavar="N", help="Rows per device and dtype."),
    show_sql: bool = typer.Option(False, "--show-sql", help="Print the SQL and exit."),
    reports: Path = reports_option(REPORTS_HELP),
    csv_out: bool = typer.Option(False, "--csv", help="Print CSV."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    wide: bool = typer.Option(False, "--wide", help="Every column, at full width."),
) -> None:
    """Rank where the time goes, per device and dtype: loops, lines, functions or operators.

    Cells whose correlation verdict did not pass are not evidence: they are listed with the
    reason instead (on stderr with --csv/--json). Only the chosen stamp's bundles are read.
    Lines are exclusive (explained_pct: the running sum of the shares); functions and loops
    inclusive; operators by inclusive time (explained_pct over their self time).

    Example:
        farm rank --device cpu --top 5

        farm rank --by line --top 5 --json

        farm rank --by op --show-sql
    """
    from analysis.queries import grain_ranking as grains
    from analysis.queries import ranking

    g = _grain(by)
    if show_sql:
        if g is None:
            params = ranking.rank_params(stamp, device, dtype, top)
            text, refused = ranking.RANK_SQL, ranking.REFUSED_SQL
        else:
            params = grains.rank_params(stamp, device, dtype, top)
            text, refused = grains.rank_sql(g), grains.refused_sql(g)
        typer.echo(_sql_with_params(text, params, g))
        typer.echo("-- cells refused as evidence:")
        typer.echo(_sql_with_params(refused, {"stamp": stamp}, g))
        return
    fmt = _format(csv_out, json_out)
    chosen = _stamp_or_latest(reports, stamp, "hot_loops" if g is None else g.table)

    def query(cat: Any) -> Any:
        if g is None:
            return ranking.rank(cat, stamp=chosen, device=device, dtype=dtype, top=top)
        return grains.rank_grain(cat, by, stamp=chosen, device=device, dtype=dtype, top=top)

    result = _run_pruned(reports, chosen, query)
    if not result.ranked.rows:
        table = "hot_loops" if g is None else g.table
        emptied = _filtered_out(reports, chosen, device, dtype, table, by)
        if emptied or not result.refused.rows:
            raise _fail(emptied or _no_data(reports, stamp, by))
    print_result(
        result.ranked.columns,
        result.ranked.rows,
        fmt,
        title=TITLES[by],
        importance=RANK_COLUMNS if g is None else _first(result.ranked.columns, GRAIN_FIRST),
        wide=wide,
    )
    _print_refused(result.refused, fmt)


def _no_data(reports: Path, stamp: str | None, by: str = "loop") -> str:
    table = "hot_loops" if by == "loop" else _grain(by).table
    if stamp is None:
        return f"no {by} data under {reports} ({table} come from profiled sweeps)"
    return f"no {by} data for stamp {stamp!r} under {reports}"


def _filtered_out(
    reports: Path,
    stamp: str | None,
    device: str | None,
    dtype: str | None,
    table: str = "hot_loops",
    by: str = "loop",
) -> str | None:
    """When the stamp has data but none on ``--device``/``--dtype``: say which filter."""
    if stamp is None or (device is None and dtype is None):
        return None
    with _catalog(reports, stamp) as cat:
        found = cat.query(
            f"SELECT DISTINCT device, dtype FROM {table} WHERE stamp = $stamp ORDER BY ALL",
            {"stamp": stamp},
        ).rows
    matching = [
        (d, t) for d, t in found if (device is None or d.startswith(device)) and dtype in (None, t)
    ]
    if not found or matching:
        return None
    filters = " ".join(
        f"--{name} {value}" for name, value in (("device", device), ("dtype", dtype)) if value
    )
    cells = ", ".join(f"{d} {t}" for d, t in found)
    return f"stamp {stamp} has {by} data, but none for {filters} (it has: {cells})"


def _print_refused(refused: Any, fmt: str) -> None:
    if not refused.rows:
        return
    err = fmt != "table"
    width = terminal_width()
    typer.echo(f"refused as evidence ({counted(len(refused.rows), 'cell')}):", err=err)
    for r in refused.records():
        line = f"{r['cell_id']} {r['device']} {r['dtype']} size {r['size']}: {r['reason']}"
        typer.echo(
            textwrap.fill(line, width, initial_indent="  ", subsequent_indent="    "), err=err
        )


@app.command("hotspots")
def hotspots(
    stamp: str | None = typer.Argument(
        None, metavar="STAMP", help="Bundle stamp (default: newest with data)."
    ),
    by: str = typer.Option("loop", "--by", metavar="GRAIN", help=BY_HELP),
    top: int = typer.Option(20, "--top", min=1, metavar="N", help="Rows."),
    hot: float = typer.Option(
        5.0, "--hot", metavar="PERCENT", help="Share of the profiled render (%) that counts as hot."
    ),
    show_sql: bool = typer.Option(False, "--show-sql", help="Print the SQL and exit."),
    reports: Path = reports_option(REPORTS_HELP),
    csv_out: bool = typer.Option(False, "--csv", help="Print CSV."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    wide: bool = typer.Option(False, "--wide", help="Every column, at full width."),
) -> None:
    """Compare hotspots on CPU and GPU: share per side, with flags (loops, lines, ...).

    Example:
        farm hotspots --top 10

        farm hotspots --by op --hot 2 --csv
    """
    from analysis.queries import grain_ranking as grains
    from analysis.queries import hotspots as hotspot_queries
    from analysis.queries import ranking

    g = _grain(by)
    params = hotspot_queries.hotspot_params(stamp, top, hot)
    if show_sql:
        text = hotspot_queries.HOTSPOTS_SQL if g is None else grains.hotspots_sql(g)
        typer.echo(_sql_with_params(text, params, g))
        return
    fmt = _format(csv_out, json_out)
    params["stamp"] = _stamp_or_latest(reports, stamp, "hot_loops" if g is None else g.table)

    def both(cat: Any) -> tuple[Any, Any]:
        p = dict(params)
        if g is None:
            p["stamp"] = p["stamp"] or ranking.latest(cat)
            found = hotspot_queries.hotspots(cat, **p)
            return found, cat.query(ranking.REFUSED_SQL, {"stamp": p["stamp"]})
        p["stamp"] = p["stamp"] or grains.latest(cat, g)
        found = grains.grain_hotspots(cat, by, **p)
        return found, cat.query(grains.refused_sql(g), {"stamp": p["stamp"]})

    result, refused = _run_pruned(reports, params["stamp"], both)
    if not result.rows and not refused.rows:
        raise _fail(_no_data(reports, stamp, by))
    print_result(
        result.columns,
        result.rows,
        fmt,
        title=f"CPU vs GPU: {TITLES[by].lower()}",
        importance=HOTSPOT_COLUMNS if g is None else _first(result.columns, HOTSPOT_FIRST),
        wide=wide,
    )
    _print_refused(refused, fmt)


@app.command("inventory")
def inventory(
    package: str = typer.Argument(
        "simulator", metavar="PACKAGE", help="Package name or folder (or one .py file)."
    ),
    csv_out: bool = typer.Option(False, "--csv", help="Print CSV."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    wide: bool = typer.Option(False, "--wide", help="Every column, at full width."),
) -> None:
    """List every for/while loop and comprehension of a package (Phase A inventory).

    Example:
        farm inventory simulator

        farm inventory path/to/package --csv
    """
    from analysis.loops import InventoryError, resolve_package, scan_package

    fmt = _format(csv_out, json_out)
    try:
        loops = scan_package(resolve_package(package))
    except InventoryError as exc:
        raise _fail(str(exc)) from None
    columns = ["module", "line", "end_line", "kind", "function", "depth", "header"]
    columns += ["iteration_hint", "loop_id"]
    rows = [tuple(getattr(loop, c) for c in columns) for loop in loops]
    print_result(
        columns, rows, fmt, title=f"Loops in {package}", importance=INVENTORY_COLUMNS, wide=wide
    )


def _sql_with_params(sql_text: str, params: dict[str, Any], grain: Any = None) -> str:
    """The SQL with a comment saying what each ``$name`` parameter is bound to."""
    from analysis.queries import LATEST_SQL
    from analysis.queries.grain_ranking import latest_sql

    lines = [f"-- ${k} = {v!r}" for k, v in params.items()]
    if params.get("stamp", "") is None:
        latest = LATEST_SQL if grain is None else latest_sql(grain)
        lines.append(f"--   (no stamp given: farm binds the newest, {latest})")
    return "\n".join([*lines, sql_text.rstrip()])
