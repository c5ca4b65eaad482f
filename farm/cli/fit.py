"""Tables that fit the terminal: choose columns by importance, shorten paths, fold the rest.

A command names its columns in order of importance. The table keeps as many of them as
fit the terminal's width (``COLUMNS``, else the terminal, else 100), in their original
order; a common leading folder of a path column is taken out and said once; long cells
fold. ``--wide`` keeps every column at its natural width. What was left out is said in one
line under the table.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

#: Narrowest a kept column may become (cells fold below their natural width).
MIN_COLUMN = 8
#: Width a column is given before it folds, when choosing which columns fit.
COMFORT = 24
#: Columns whose values are file paths (a shared leading folder is factored out).
PATH_COLUMNS = {"module", "file", "path"}
_PADDING = 2  # rich's cell padding (one space each side)


@dataclass(frozen=True)
class Fitted:
    """The columns kept, the rows cut to them, and what the reader is told about the rest."""

    columns: list[str]
    rows: list[list[str]]
    notes: list[str]
    width: int


def terminal_width(default: int = 100) -> int:
    """``COLUMNS`` if set, else the terminal's width, else ``default``."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return shutil.get_terminal_size((default, 24)).columns


def _common_folder(values: Sequence[str]) -> str:
    """The longest ``a/b/`` prefix every value shares (``""`` when none)."""
    parts = [v.split("/")[:-1] for v in values if v]
    if not parts:
        return ""
    prefix = []
    for names in zip(*parts, strict=False):
        if len(set(names)) != 1:
            break
        prefix.append(names[0])
    return "/".join(prefix) + "/" if prefix else ""


def fit(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int,
    importance: Sequence[str] | None = None,
    wide: bool = False,
) -> Fitted:
    """Choose and shorten columns so the table fits ``width`` characters.

    Args:
        columns: the column names, in display order.
        rows: the cell texts.
        width: characters available.
        importance: column names, most important first; others follow in display order.
            None: keep every column (folded to the width).
        wide: keep everything (the width is then the table's natural width).
    """
    cols = list(columns)
    table = [list(r) for r in rows]
    notes: list[str] = []
    for i, name in enumerate(cols):
        if name in PATH_COLUMNS:
            prefix = _common_folder([r[i] for r in table])
            if prefix and not wide:
                table = [[*r[:i], r[i][len(prefix) :], *r[i + 1 :]] for r in table]
                notes.append(f"{name}: paths below {prefix}")
    natural = [max([len(c), *(len(r[i]) for r in table)]) for i, c in enumerate(cols)]
    if wide or importance is None:
        total = sum(natural) + (_PADDING + 1) * len(cols) + 1
        return Fitted(cols, table, notes, max(total, width) if wide else width)
    order = [c for c in (importance or []) if c in cols]
    order += [c for c in cols if c not in order]
    kept: list[str] = []
    used = 0
    for name in order:  # most important first; the first that does not fit takes what is left
        n = natural[cols.index(name)]
        need = max(min(n, COMFORT), len(name)) + _PADDING
        least = max(min(n, MIN_COLUMN), len(name)) + _PADDING
        if used + need <= width or not kept:
            kept.append(name)
            used += need
            continue
        if used + least <= width:
            kept.append(name)
        break
    hidden = [c for c in cols if c not in kept]
    keep = [i for i, c in enumerate(cols) if c in kept]
    if hidden:
        notes.append(
            f"hidden to fit {width} columns: {', '.join(hidden)} (--wide shows every column)"
        )
    return Fitted([cols[i] for i in keep], [[r[i] for i in keep] for r in table], notes, width)


def print_fitted(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    importance: Sequence[str] | None = None,
    wide: bool = False,
    width: int | None = None,
    text=str,
) -> Fitted:
    """Print a fitted table (``text`` turns a value into its cell text); return it."""
    width = width or terminal_width()
    fitted = fit(columns, [[text(v) for v in r] for r in rows], width, importance, wide)
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in fitted.columns:
        table.add_column(name, overflow="fold")
    for row in fitted.rows:
        table.add_row(*row)
    console = Console(width=fitted.width, soft_wrap=False)
    console.print(table)
    for note in fitted.notes:
        console.print(f"({note})", highlight=False, markup=False)
    return fitted
