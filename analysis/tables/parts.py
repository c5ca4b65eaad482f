"""Crash-safe storage of a bundle's tables: one Parquet part per cell and table.

A part is ``<bundle>/tables/<table>/part-<cell_id>.parquet``. It is written under a temporary
name in the same folder, flushed to disk and renamed, so a reader (or a ``--resume``) sees a
whole part or none. Rows are cast to the table's schema in :mod:`analysis.tables.schema`, and
every row gets ``schema_version``, ``stamp`` and ``cell_id``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute  # casts need it: pay its import before the first cell
import pyarrow.parquet as pq

from analysis.tables.schema import SCHEMA_VERSION, TABLES

PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"


def part_path(bundle: Path, table: str, cell_id: str) -> Path:
    """Where the part of ``table`` for ``cell_id`` lives."""
    return Path(bundle) / "tables" / table / f"{PART_PREFIX}{cell_id}{PART_SUFFIX}"


def to_table(
    table: str, rows: Iterable[Mapping[str, Any]] | pa.Table, *, stamp: str, cell_id: str
) -> pa.Table:
    """Cast rows (dicts or an Arrow table) to ``table``'s schema, filling the key columns.

    Columns the schema lacks are dropped; columns the rows lack are NULL.

    Raises:
        KeyError: for an unknown table name.
        pyarrow.ArrowInvalid: when a value cannot be cast to its column's type.
    """
    schema = TABLES[table]
    if isinstance(rows, pa.Table):
        n = rows.num_rows
        columns = {name: rows.column(name) for name in rows.column_names}
    else:
        rows = list(rows)
        n = len(rows)
        columns = {f.name: [r.get(f.name) for r in rows] for f in schema}
    arrays = []
    for f in schema:
        if f.name == "schema_version":
            arrays.append(pa.array([SCHEMA_VERSION] * n, f.type))
        elif f.name == "stamp":
            arrays.append(pa.array([stamp] * n, f.type))
        elif f.name == "cell_id":
            arrays.append(pa.array([cell_id] * n, f.type))
        elif f.name in columns:
            col = columns[f.name]
            arrays.append(col.cast(f.type) if not isinstance(col, list) else pa.array(col, f.type))
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


class WriteError(OSError):
    """A file could not be written: ``filename`` says which, ``strerror`` why (one line)."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


def as_write_error(exc: OSError, path: Path | str) -> WriteError:
    """``exc`` (full disk, read-only folder, no permission) as a :class:`WriteError` on ``path``."""
    if isinstance(exc, WriteError):
        return exc
    why = exc.strerror or (os.strerror(exc.errno) if exc.errno else " ".join(str(exc).split()))
    return WriteError(exc.errno, why, str(path))


def _atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Write through ``write`` under a temporary name, then rename it into place.

    The rename makes the file appear whole or not at all, whatever stops the sweep (a crash,
    Ctrl-C, a killed driver). Files are not fsynced: on this VM an fsync of a trace costs
    ~20 ms, a quarter of a small cell, to survive a power cut the farm does not need to.
    A failed write leaves no temporary file behind and raises :class:`WriteError`.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise as_write_error(exc, path) from exc
        raise
    return path


def write_part(bundle: Path, table: str, cell_id: str, data: pa.Table) -> Path:
    """Write one part atomically (temporary name, rename) and return its path."""
    return _atomic_write(part_path(bundle, table, cell_id), lambda fh: pq.write_table(data, fh))


def write_rows(
    bundle: Path,
    table: str,
    cell_id: str,
    rows: Iterable[Mapping[str, Any]] | pa.Table,
    *,
    stamp: str,
) -> Path:
    """Cast ``rows`` with :func:`to_table` and write them as the cell's part."""
    return write_part(bundle, table, cell_id, to_table(table, rows, stamp=stamp, cell_id=cell_id))


def cells_with_part(bundle: Path, table: str = "runs") -> set[str]:
    """Cell ids that already have a part of ``table`` (what ``--resume`` skips)."""
    folder = Path(bundle) / "tables" / table
    if not folder.is_dir():
        return set()
    return {
        p.name[len(PART_PREFIX) : -len(PART_SUFFIX)]
        for p in folder.glob(f"{PART_PREFIX}*{PART_SUFFIX}")
    }


def read_table(bundle: Path, table: str) -> pa.Table:
    """Every part of ``table`` concatenated (by column name); empty with the schema if none."""
    folder = Path(bundle) / "tables" / table
    parts = sorted(folder.glob(f"{PART_PREFIX}*{PART_SUFFIX}")) if folder.is_dir() else []
    if not parts:
        return TABLES[table].empty_table() if table in TABLES else pa.table({})
    tables = [pq.read_table(p) for p in parts]
    return pa.concat_tables(tables, promote_options="default")


def remove_stale_temporaries(bundle: Path) -> int:
    """Delete temporary files a crash left below ``tables/``; return how many."""
    count = 0
    for tmp in (Path(bundle) / "tables").glob("*/.*.tmp"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a text file under a temporary name and rename it into place."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write bytes under a temporary name and rename them into place."""
    return _atomic_write(path, lambda fh: fh.write(data))


def write_json_atomic(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (NaN/inf as null) atomically."""
    return write_text_atomic(path, json.dumps(_json_safe(obj), indent=2, sort_keys=False) + "\n")


def _json_safe(obj: Any) -> Any:
    """Replace non-finite floats with None so the JSON is standard."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj
