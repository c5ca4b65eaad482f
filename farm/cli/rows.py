"""Rows out: a table that fits the terminal, CSV, or JSON (one object per row).

A table's numbers take one format per column (:func:`table_texts`); CSV and JSON keep the
values as they are (a DECIMAL as a float, a date as its ISO text, bytes as hex).
"""

from __future__ import annotations

import csv
import datetime as _dt
import decimal
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import typer

from analysis.plurals import counted
from farm.cli.fit import print_fitted


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time, _dt.timedelta)):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(_plain(value))


#: Most decimals a column of numbers is given (its most precise value decides, to 6 digits).
MAX_DECIMALS = 6


def _column_format(values: Sequence[Any]):
    """One text function for a column: its numbers all with the same decimals.

    The most precise value (to 6 significant digits) sets the decimals of all, so ``95.3``
    beside ``93.02`` reads ``95.30``; a column that needs an exponent has one for all.
    """
    numbers = [float(v) for v in map(_plain, values) if isinstance(v, float)]
    numbers = [v for v in numbers if math.isfinite(v)]
    if not numbers:
        return _text
    shown = [f"{v:.6g}" for v in numbers]
    if any("e" in t for t in shown):
        spec = ".3e"
    else:
        spec = f".{min(max(len(t.partition('.')[2]) for t in shown), MAX_DECIMALS)}f"

    def text(value: Any) -> str:
        number = _plain(value)
        if isinstance(number, float) and math.isfinite(number):
            return format(number, spec)
        return _text(value)

    return text


def table_texts(rows: Sequence[Sequence[Any]]) -> list[list[str]]:
    """The cell texts of a table, one number format per column (see :func:`_column_format`)."""
    formats = [_column_format(column) for column in zip(*rows, strict=True)]
    return [[f(v) for f, v in zip(formats, row, strict=True)] for row in rows]


def print_result(
    columns: list[str],
    rows: list[tuple],
    fmt: str,
    title: str | None = None,
    importance: list[str] | None = None,
    wide: bool = False,
) -> None:
    """Print rows as a table, CSV or JSON (one object per row).

    A table fits the terminal (:mod:`farm.cli.fit`): with ``importance``, the columns that
    fit, most important first; ``wide``: every column at its natural width.
    """
    if fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(columns)
        w.writerows([[_plain(v) for v in r] for r in rows])
    elif fmt == "json":
        data = [{c: _plain(v) for c, v in zip(columns, r, strict=True)} for r in rows]
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        texts = table_texts(rows)
        print_fitted(columns, texts, title=title, importance=importance, wide=wide)
        typer.echo(f"({counted(len(rows), 'row')})")
