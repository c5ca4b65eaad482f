"""Damaged Parquet parts: a cheap frame check at open, bisection when DuckDB cannot read.

Most of DuckDB's read errors name the file ("Failed to read file ...", "Could not read
enough bytes from ..."). Its Thrift decoder's do not ("Variable-length int over 10 bytes",
"don't know what type", "TProtocolException: Invalid data"): they come from a damaged footer
(when a view is bound) or a damaged page header (when a query reads the pages), and without
a name one bad file would fail every query on its table. For those the culprits are found
by halving the parts a probe fails on (:func:`bisect_damaged`): a probe that reads what the
failing statement read (the footers, or every page) over half the parts, then over the
half that fails, down to single files. A clean tree pays nothing for this; a damaged one
pays about two probes per level, log2(parts) levels, per bad file.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb

MAGIC = b"PAR1"
# DuckDB raises these for files it cannot decode; parser, binder, catalog, conversion and
# permission errors are the statement's own fault and start no search
_READ_ERRORS = (duckdb.IOException, duckdb.InvalidInputException, duckdb.InternalException)


def frame_problem(part: Path) -> str | None:
    """Why ``part`` is not a Parquet file by its frame (magic bytes, footer length), or None.

    Reads 12 bytes; damage inside the footer or the pages is not seen here.
    """
    try:
        size = part.stat().st_size
        with open(part, "rb") as fh:
            head = fh.read(4)
            fh.seek(max(size - 8, 0))
            tail = fh.read(8)
    except OSError as exc:
        return one_line(exc)
    if size < 12 or head != MAGIC or tail[4:] != MAGIC:
        return "not a Parquet file (bad magic bytes or truncated)"
    (footer,) = struct.unpack("<I", tail[:4])
    if footer == 0 or footer > size - 12:
        return f"footer length {footer} does not fit in a file of {size} bytes"
    return None


def is_read_error(exc: BaseException) -> bool:
    """Whether ``exc`` can come from a file DuckDB could not decode (a search is worth it)."""
    return type(exc) is duckdb.Error or isinstance(exc, _READ_ERRORS)


def bisect_damaged(
    parts: Sequence[Path], probe: Callable[[Sequence[Path]], str | None]
) -> dict[Path, str]:
    """The parts ``probe`` fails on, each with the probe's error, found by halving.

    Args:
        parts: The candidates.
        probe: Reads a group of parts; returns the read error (one line) or None when the
            group reads. It raises for anything that is not a read error.

    Returns:
        ``{part: error}``; empty when the whole group reads (or only fails together).
    """
    found: dict[Path, str] = {}

    def walk(group: Sequence[Path], error: str) -> None:
        if len(group) == 1:
            found[group[0]] = error
            return
        middle = len(group) // 2
        for half in (group[:middle], group[middle:]):
            half_error = probe(half)
            if half_error is not None:
                walk(half, half_error)

    if parts:
        error = probe(parts)
        if error is not None:
            walk(parts, error)
    return found


def one_line(exc: BaseException | str) -> str:
    """A DuckDB error as one printable line, without its ``LINE 1: ...`` context."""
    text = str(exc).split("\nLINE ", 1)[0]
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    for prefix in ("Invalid Input Error: ", "IO Error: ", "Permission Error: ", "INTERNAL Error: "):
        text = text.removeprefix(prefix)
    return text or (type(exc).__name__ if isinstance(exc, BaseException) else "unreadable")
