"""Read-only DuckDB views over every bundle under a reports root.

One view per table (``runs``, ``correlations``, ``ops``, ``loops``, ``hot_loops``), each
over every ``<root>/**/tables/<table>/part-*.parquet``::

    SELECT * FROM read_parquet([...parts...], union_by_name = true)
    UNION ALL BY NAME SELECT * FROM <empty table with today's schema>

so old bundles (fewer columns) and new ones query together, and a column added later reads
as NULL in older parts. A damaged part costs only itself: it is skipped with a warning that
names it and the statement is answered from the others (a frame check at open; a part
DuckDB cannot decode is found by the error's file name or by bisection,
:mod:`analysis.tables.damaged_parts`). Only one SELECT-like statement runs, on an engine
that can open no other file (:mod:`analysis.tables.read_only`).

Example:
    >>> with Catalog(Path("reports")) as cat:
    ...     result = cat.query("SELECT stamp, count(*) FROM runs GROUP BY stamp")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from analysis.tables.damaged_parts import bisect_damaged, frame_problem, is_read_error, one_line
from analysis.tables.read_only import (
    CatalogError,
    ReadOnlyError,
    check_read_only,
    lock_engine,
    named_identifiers,
    sql_error_line,
)
from analysis.tables.schema import TABLES

VIEWS = tuple(TABLES)
_STAMP = re.compile(r"^\d{8}T\d{6}Z$")
_MAX_RETRIES = 16
_LOCKED = "farm sql opens only the parts under --reports, and files under --read folders"
# what a probe reads: the footers (binding a view reads every part's schema) or every page
_FOOTERS = "DESCRIBE SELECT * FROM read_parquet([{files}], union_by_name = true)"
_PAGES = "SELECT bit_xor(hash(t)) FROM read_parquet([{files}], union_by_name = true) t"

__all__ = [
    "VIEWS",
    "Catalog",
    "CatalogError",
    "QueryResult",
    "ReadOnlyError",
    "check_read_only",
    "find_parts",
    "latest_stamp",
]


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of one query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts."""
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


@dataclass
class Catalog:
    """DuckDB views over the bundles below ``root`` (in-memory connection, locked read-only).

    Args:
        root: The reports root (``reports/``); a missing root gives empty views.
        warn: Called with one line per skipped part (default: collected in ``warnings``).
        tables: Arrow tables to serve instead of files (bundle analysis, tests).
        stamps: Only the bundles in folders with these stamps (a query about one stamp
            need not open every part under the root); None: all.
        readable: Folders whose files statements may read besides the parts (``--read``).
        views: Only these tables get parts (the others are empty views): a query over the
            per-bundle summaries of a year of nights opens 365 parts, not 15,000; None: all.
        bundles: Only the parts of these bundle folders (``<bundle>/tables/<table>/``), found
            without walking the rest of the root; None: every bundle below ``root``.
    """

    root: Path | None
    warn: Callable[[str], None] | None = None
    tables: Mapping[str, pa.Table] | None = None
    stamps: Collection[str] | None = None
    readable: Sequence[Path] = ()
    views: Collection[str] | None = None
    bundles: Collection[Path] | None = None
    warnings: list[str] = field(default_factory=list)
    parts: dict[str, list[Path]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._con = duckdb.connect(":memory:")
        # keep Parquet footers between queries (the views re-read them otherwise)
        self._con.execute("SET parquet_metadata_cache = true")
        self._skipped: set[Path] = set()
        self._verified: set[Path] = set()  # parts whose every page a probe has read
        for name, schema in TABLES.items():
            self._con.register(f"_empty_{name}", schema.empty_table())
        if self.tables is None:
            self._discover()
        else:
            for name, table in self.tables.items():
                self._con.register(f"_arrow_{name}", table)
        self._define_views()
        every = [p for parts in self.parts.values() for p in parts]
        lock_engine(self._con, every, self.readable)

    # context manager -----------------------------------------------------------------------
    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    # views ---------------------------------------------------------------------------------
    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        if self.warn is not None:
            self.warn(text)

    def _discover(self) -> None:
        if self.bundles is not None:
            found = bundle_parts(self.bundles, self.views)
        else:
            found = find_parts(self.root, self.stamps, self.views)
        for name in VIEWS:
            self.parts[name] = []
            for part in found.get(name, []):
                problem = frame_problem(part)
                if problem is None:
                    self.parts[name].append(part)
                else:
                    self._skip(part, problem)

    def _live(self, name: str) -> list[Path]:
        return [p for p in self.parts.get(name, []) if p not in self._skipped]

    def _skip(self, part: Path, exc: BaseException | str) -> None:
        if part in self._skipped:
            return
        self._skipped.add(part)
        detail = one_line(exc).replace(f' file "{part}"', " the file").rstrip(": ")
        self._warn(f"warning: skipping corrupt Parquet part {part}: {detail}")

    def _define_views(self) -> None:
        """Create the views; a part DuckDB cannot read while binding is skipped, then retry."""
        for name in VIEWS:
            for _ in range(_MAX_RETRIES):
                try:
                    self._con.execute(f"CREATE OR REPLACE VIEW {name} AS {self._body(name)}")
                    break
                except duckdb.Error as exc:
                    if not self._skip_culprits(exc, [name], _FOOTERS):
                        raise CatalogError(sql_error_line(exc)) from None
            else:
                raise CatalogError("too many corrupt Parquet parts; giving up")

    def _body(self, name: str) -> str:
        empty = f"SELECT * FROM _empty_{name}"
        if self.tables is not None:
            if name not in self.tables:
                return empty
            return f"SELECT * FROM _arrow_{name} UNION ALL BY NAME {empty}"
        parts = self._live(name)
        if not parts:
            return empty
        return f"{_read_parquet(parts)} UNION ALL BY NAME {empty}"

    def _skip_culprits(self, exc: duckdb.Error, views: Sequence[str], probe_sql: str) -> bool:
        """Skip the part(s) behind a read error; False when none can be found.

        The part the message names, else (for a decoding error) the parts of ``views``
        that ``probe_sql`` fails on, found by bisection.
        """
        named = self._part_in_error(str(exc))
        if named is not None:
            self._skip(named, exc)
            return True
        if self.tables is not None or not is_read_error(exc):
            return False
        pages = probe_sql == _PAGES
        found = False
        for name in views:
            candidates = [p for p in self._live(name) if not (pages and p in self._verified)]
            damaged = bisect_damaged(candidates, lambda group: self._probe(probe_sql, group))
            if pages:
                self._verified.update(p for p in candidates if p not in damaged)
            what = "its pages" if pages else "its footer"
            for part, error in damaged.items():
                self._skip(part, f"DuckDB cannot decode {what} ({error.rstrip(': ')})")
                found = True
        return found

    def _probe(self, probe_sql: str, group: Sequence[Path]) -> str | None:
        files = ", ".join(_quote(str(p)) for p in group)
        try:
            self._con.execute(probe_sql.format(files=files)).fetchall()
        except duckdb.Error as exc:
            if is_read_error(exc):
                return one_line(exc)
            raise CatalogError(sql_error_line(exc)) from None
        return None

    # queries -------------------------------------------------------------------------------
    def query(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None
    ) -> QueryResult:
        """Run one read-only statement over the views.

        A part that turns out damaged while the statement reads it is skipped (with a
        warning naming it) and the statement is run again without it.

        Raises:
            ReadOnlyError: The statement would write.
            CatalogError: Empty input, several statements, or SQL DuckDB rejects.
        """
        check_read_only(sql)
        for _ in range(_MAX_RETRIES):
            try:
                cur = self._con.execute(sql, params) if params else self._con.execute(sql)
                columns = [d[0] for d in cur.description or []]
                return QueryResult(columns, cur.fetchall())
            except duckdb.PermissionException as exc:
                raise CatalogError(f"{one_line(exc)} ({_LOCKED})") from None
            except duckdb.Error as exc:
                if not self._skip_culprits(exc, self._views_in(sql), _PAGES):
                    raise CatalogError(sql_error_line(exc)) from None
                self._define_views()
        raise CatalogError("too many corrupt Parquet parts; giving up")

    def _views_in(self, sql: str) -> list[str]:
        """The views ``sql`` names (every view when the tokenizer finds none)."""
        words = named_identifiers(sql)
        return [v for v in VIEWS if v in words] or list(VIEWS)

    def _part_in_error(self, message: str) -> Path | None:
        """The part a DuckDB read error names, if it is one of ours not skipped yet."""
        for parts in self.parts.values():
            for part in parts:
                if part not in self._skipped and str(part) in message:
                    return part
        return None


def find_parts(
    root: Path | None,
    stamps: Collection[str] | None = None,
    views: Collection[str] | None = None,
) -> dict[str, list[Path]]:
    """Parts per table under ``root`` (``**/<stamp>/tables/<table>/part-*.parquet``).

    ``stamps`` keeps the bundles of those stamp folders, ``views`` those tables only.
    """
    out: dict[str, list[Path]] = {name: [] for name in VIEWS}
    if root is None or not root.is_dir():
        return out
    wanted = None if stamps is None else set(stamps)
    patterns = ["*"] if views is None else [v for v in views if v in out]
    for pattern in patterns:
        for part in sorted(root.glob(f"**/tables/{pattern}/part-*.parquet")):
            table = part.parent.name
            if table in out and (wanted is None or part.parent.parent.parent.name in wanted):
                out[table].append(part)
    return out


def bundle_parts(
    bundles: Collection[Path], views: Collection[str] | None = None
) -> dict[str, list[Path]]:
    """Parts per table of the given bundle folders only (``views``: those tables only)."""
    out: dict[str, list[Path]] = {name: [] for name in VIEWS}
    wanted = [v for v in (views if views is not None else VIEWS) if v in out]
    for bundle in bundles:
        for table in wanted:
            out[table] += sorted((Path(bundle) / "tables" / table).glob("part-*.parquet"))
    return out


def latest_stamp(root: Path | None, table: str = "hot_loops") -> str | None:
    """The newest stamp folder (``YYYYMMDDTHHMMSSZ``) under ``root`` with parts of ``table``."""
    stamps = {p.parent.parent.parent.name for p in find_parts(root).get(table, [])}
    stamps = {s for s in stamps if _STAMP.match(s)}
    return max(stamps) if stamps else None


def _read_parquet(parts: Sequence[Path]) -> str:
    files = ", ".join(_quote(str(p)) for p in parts)
    return f"SELECT * FROM read_parquet([{files}], union_by_name = true)"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
