"""Read-only DuckDB views over every bundle under a reports root.

One view per table (``runs``, ``correlations``, ``ops``, ``loops``, ``hot_loops``), each
over every ``<root>/**/tables/<table>/part-*.parquet``::

    SELECT * FROM read_parquet([...parts...], union_by_name = true)
    UNION ALL BY NAME SELECT * FROM <empty table with today's schema>

so old bundles (fewer columns) and new ones query together, and a column added later reads
as NULL in older parts. A corrupt part is skipped with a warning that names it. Statements
that would write (INSERT, CREATE, COPY, ATTACH, SET, ...) are refused.

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

from analysis.tables.schema import TABLES

VIEWS = tuple(TABLES)
_MAGIC = b"PAR1"
_STAMP = re.compile(r"^\d{8}T\d{6}Z$")
_READ_TYPES = {"SELECT", "EXPLAIN"}
_MAX_RETRIES = 16


class CatalogError(ValueError):
    """Bad input to the catalog (SQL, path); the message is one line for the user."""


class ReadOnlyError(CatalogError):
    """A statement that would write."""


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
    """DuckDB views over the bundles below ``root`` (in-memory connection, read-only use).

    Args:
        root: The reports root (``reports/``); a missing root gives empty views.
        warn: Called with one line per skipped part (default: collected in ``warnings``).
        tables: Arrow tables to serve instead of files (bundle analysis, tests).
        stamps: Only the bundles in folders with these stamps (a query about one stamp
            need not open every part under the root); None: all.
        views: Only these tables get parts (the others are empty views): a query over the
            per-bundle summaries of a year of nights opens 365 parts, not 15,000; None: all.
        bundles: Only the parts of these bundle folders (``<bundle>/tables/<table>/``), found
            without walking the rest of the root; None: every bundle below ``root``.
    """

    root: Path | None
    warn: Callable[[str], None] | None = None
    tables: Mapping[str, pa.Table] | None = None
    stamps: Collection[str] | None = None
    views: Collection[str] | None = None
    bundles: Collection[Path] | None = None
    warnings: list[str] = field(default_factory=list)
    parts: dict[str, list[Path]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._con = duckdb.connect(":memory:")
        for setting in ("parquet_metadata_cache", "enable_object_cache"):
            try:  # keep Parquet footers between queries (the views re-read them otherwise)
                self._con.execute(f"SET {setting} = true")
                break
            except duckdb.Error:
                continue
        self._skipped: set[Path] = set()
        for name, schema in TABLES.items():
            self._con.register(f"_empty_{name}", schema.empty_table())
        if self.tables is None:
            self._discover()
        self._define_views()

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
            self.parts[name] = [p for p in found.get(name, []) if self._readable(p)]

    def _readable(self, part: Path) -> bool:
        """Cheap check of a part's frame (deeper damage is caught when a query reads it)."""
        try:
            size = part.stat().st_size
            with open(part, "rb") as fh:
                head = fh.read(4)
                fh.seek(max(size - 4, 0))
                tail = fh.read(4)
        except OSError as exc:
            self._skip(part, exc)
            return False
        if size < 12 or head != _MAGIC or tail != _MAGIC:
            self._skip(part, "not a Parquet file (bad magic bytes or truncated)")
            return False
        return True

    def _skip(self, part: Path, exc: BaseException | str) -> None:
        if part in self._skipped:
            return
        self._skipped.add(part)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        self._warn(f"warning: skipping corrupt Parquet part {part}: {detail}")

    def _define_views(self) -> None:
        """Create the views; a part DuckDB cannot read while binding is skipped, then retry."""
        for _ in range(_MAX_RETRIES):
            try:
                self._create_views()
                return
            except duckdb.Error as exc:
                bad = self._part_in_error(str(exc))
                if bad is None:
                    raise CatalogError(_one_line(exc)) from None
                self._skip(bad, exc)
        raise CatalogError("too many corrupt Parquet parts; giving up")

    def _create_views(self) -> None:
        for name in VIEWS:
            empty = f"SELECT * FROM _empty_{name}"
            if self.tables is not None:
                if name in self.tables:
                    self._con.register(f"_arrow_{name}", self.tables[name])
                    body = f"SELECT * FROM _arrow_{name} UNION ALL BY NAME {empty}"
                else:
                    body = empty
            else:
                parts = [p for p in self.parts.get(name, []) if p not in self._skipped]
                if parts:
                    files = ", ".join(_quote(str(p)) for p in parts)
                    body = (
                        f"SELECT * FROM read_parquet([{files}], union_by_name = true) "
                        f"UNION ALL BY NAME {empty}"
                    )
                else:
                    body = empty
            self._con.execute(f"CREATE OR REPLACE VIEW {name} AS {body}")

    # queries -------------------------------------------------------------------------------
    def query(
        self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None
    ) -> QueryResult:
        """Run one read-only statement over the views.

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
            except duckdb.Error as exc:
                bad = self._part_in_error(str(exc))
                if bad is None:
                    raise CatalogError(_one_line(exc)) from None
                self._skip(bad, exc)
                self._define_views()
        raise CatalogError("too many corrupt Parquet parts; giving up")

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


def check_read_only(sql: str) -> None:
    """Refuse anything but one SELECT-like statement.

    Raises:
        ReadOnlyError: A statement that would write (named by its type).
        CatalogError: No statement, several statements, or SQL that does not parse.
    """
    if not sql or not sql.strip():
        raise CatalogError("no SQL given (pass it as an argument or on stdin)")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise CatalogError(_one_line(exc)) from None
    if not statements:
        raise CatalogError("no SQL statement found")
    if len(statements) > 1:
        raise CatalogError(f"one statement at a time, got {len(statements)}")
    kind = statements[0].type.name
    if kind not in _READ_TYPES:
        raise ReadOnlyError(
            f"farm sql is read-only: {kind} statements are refused "
            "(the views over the bundles cannot be changed; use SELECT)"
        )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return re.sub(r"^(\w+ )?Error: ", "", text) or type(exc).__name__
