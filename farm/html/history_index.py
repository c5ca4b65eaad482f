"""``index.html`` across stamps: per-cell time series and a link to every bundle's report.

One section per campaign/phase folder (``reports/<campaign>/<phase>/<STAMP>/``): the warm
median of every cell against the stamp's time, one chart per series (cells equal in all but
size; one line per size), then every stamp with its counts and a link to its report.

Marks (change points, regressions, ...) come from elsewhere, as :class:`Mark` values (or
plain ``(stamp, cell, kind)`` tuples): a mark on a cell is drawn on that cell's point, a
mark without a cell (``None``) as a vertical rule across that stamp.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import altair as alt
from markupsafe import Markup

from analysis.queries.history import series as series_rows
from analysis.queries.history import stamps as stamp_rows
from analysis.tables.catalog import Catalog
from analysis.tables.parts import write_text_atomic
from farm.html import axes
from farm.html.page import Section, document, figure, link, para, table
from farm.html.svg import ChartSet, records

INDEX_NAME = "index.html"
_STAMP = re.compile(r"^\d{8}T\d{6}Z$")
#: Colours of known mark kinds; other kinds get grey.
MARK_COLOURS = {
    "regression": "#d62728",
    "improvement": "#2a9d4b",
    "change_point": "#9467bd",
    "parity": "#ff7f0e",
}


@dataclass(frozen=True)
class Mark:
    """Something to flag on the series: ``cell`` is a cell tag, or None for the whole stamp."""

    stamp: str
    cell: str | None
    kind: str
    note: str = ""


@dataclass(frozen=True)
class IndexResult:
    """A written index: where, how large, how many charts and stamps, how long it took."""

    path: Path
    bytes: int
    charts: int
    stamps: int
    seconds: float


def as_marks(marks: Iterable[Mark | Sequence[Any]]) -> list[Mark]:
    """Marks from :class:`Mark` values or ``(stamp, cell, kind[, note])`` tuples."""
    return [m if isinstance(m, Mark) else Mark(*m) for m in marks]


def phase_folders(root: Path, campaign: str | None = None, phase: str | None = None) -> list[Path]:
    """``<root>/<campaign>/<phase>`` folders that hold at least one stamp folder."""
    found = []
    for folder in sorted(p for p in Path(root).glob("*/*") if p.is_dir()):
        if campaign is not None and folder.parent.name != campaign:
            continue
        if phase is not None and folder.name != phase:
            continue
        if any(_STAMP.match(s.name) and s.is_dir() for s in folder.iterdir()):
            found.append(folder)
    return found


def index_path(root: Path, campaign: str | None, phase: str | None) -> Path:
    """Where the index goes: the narrowest folder the filters name."""
    root = Path(root)
    if campaign is not None and phase is not None:
        return root / campaign / phase / INDEX_NAME
    if campaign is not None:
        return root / campaign / INDEX_NAME
    return root / INDEX_NAME


def _stamp_axis(times: list[str]) -> alt.X:
    """A UTC time axis with a tick at each stamp, labelled to the minute (not ``:38``)."""
    ticks = [
        datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp() * 1000
        for t in times
    ]
    return (
        alt.X("time:T")
        .scale(type="utc")
        .axis(values=ticks, format="%Y-%m-%d %H:%M", labelAngle=-30, labelOverlap=True)
        .title("stamp (UTC)")
    )


def _series_chart(rows: list[dict[str, Any]], marks: list[Mark], title: str) -> alt.LayerChart:
    points = [r for r in rows if r.get("warm_s")]
    x = _stamp_axis(sorted({r["time"] for r in rows}))
    ys = axes.log_axis(
        [r.get(k) for r in points for k in ("warm_s", "warm_min_s", "warm_max_s")], axes.seconds
    )
    y = alt.Y("warm_s:Q").scale(**ys.scale()).axis(**ys.axis())
    y = y.title("warm time per render (median; bar: min to max)")
    size = alt.Color("size:O").title("size").legend(orient="right")
    base = alt.Chart(records(points))
    layers: list[Any] = [
        base.mark_line(point=True).encode(x=x, y=y, color=size, detail="cell_tag:N"),
        base.mark_rule().encode(
            x=x, y=alt.Y("warm_min_s:Q").scale(**ys.scale()), y2="warm_max_s:Q", color=size
        ),
    ]
    by_key = {(r["stamp"], r["cell_tag"]): r for r in points}
    times = {r["stamp"]: r["time"] for r in rows}
    on_cells, on_stamps = [], []
    for m in marks:
        colour = MARK_COLOURS.get(m.kind, "#777777")
        if m.cell is None and m.stamp in times:
            on_stamps.append({"time": times[m.stamp], "kind": m.kind, "colour": colour})
        elif (m.stamp, m.cell) in by_key:
            r = by_key[(m.stamp, m.cell)]
            on_cells.append(
                {"time": r["time"], "warm_s": r["warm_s"], "kind": m.kind, "colour": colour}
            )
    raw = alt.Color("colour:N").scale(None)  # each mark's own colour: no shared scale
    if on_stamps:
        rules = alt.Chart(records(on_stamps))
        layers.append(rules.mark_rule(strokeDash=[4, 3], strokeWidth=2).encode(x=x, color=raw))
        layers.append(
            rules.mark_text(angle=270, align="right", dx=-4, dy=-6, baseline="bottom").encode(
                x=x, y=alt.value(4), text="kind:N", color=raw
            )
        )
    if on_cells:
        dots = alt.Chart(records(on_cells))
        layers.append(
            dots.mark_point(shape="diamond", size=170, filled=False, strokeWidth=2.5).encode(
                x=x, y=y, color=raw
            )
        )
        layers.append(
            dots.mark_text(align="left", dx=9, fontWeight="bold").encode(
                x=x, y=y, text="kind:N", color=raw
            )
        )
    return alt.layer(*layers, title=title).properties(width=560, height=240)


def _section(folder: Path, root_of_index: Path, marks: list[Mark], out: ChartSet) -> Section:
    campaign, phase = folder.parent.name, folder.name
    sec = Section(f"{campaign}-{phase}", f"{campaign}/{phase}")
    with Catalog(folder) as cat:
        rows = series_rows(cat)
        stamps = stamp_rows(cat)
    known = {s["stamp"] for s in stamps}
    mine = [m for m in marks if m.stamp in known]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["series"] or "all", []).append(r)
    for name, grows in groups.items():
        if any(r.get("warm_s") for r in grows):
            cells = {r["cell_tag"] for r in grows}
            sec.add(
                figure(
                    out.render(
                        _series_chart(
                            grows, [m for m in mine if m.cell is None or m.cell in cells], name
                        )
                    ),
                    f"{name}: warm time of each size at every stamp (bars: min to max).",
                )
            )
    if not mine:
        sec.add(para("No change points or regressions marked for these stamps.", "note"))
    else:
        sec.add(
            table(
                ["stamp", "cell", "mark", "note"],
                [[m.stamp, m.cell or "(whole stamp)", m.kind, m.note] for m in mine],
            )
        )
    sec.add(
        table(
            [
                "stamp",
                "cells",
                "ok",
                "failed",
                "skipped",
                "parity pass",
                "parity fail",
                "commit",
                "report",
            ],
            [_stamp_row(s, folder, root_of_index) for s in stamps],
            numeric={1, 2, 3, 4, 5, 6},
        )
    )
    return sec


def _stamp_row(s: dict[str, Any], folder: Path, root_of_index: Path) -> list[Any]:
    bundle = folder / s["stamp"]
    rel = Path(os.path.relpath(bundle, root_of_index)).as_posix()
    if (bundle / "report.html").exists():
        target = link(f"{rel}/report.html", "report.html")
    elif (bundle / "summary.md").exists():
        target = Markup("{} (no report.html yet: <code>farm report {}</code>)").format(
            link(f"{rel}/summary.md", "summary.md"), s["stamp"]
        )
    else:
        target = Markup("-")
    return [
        s["stamp"],
        s["cells"],
        s["ok"],
        s["failed"],
        s["skipped"],
        s["passed"],
        s["failed_parity"],
        (s.get("git_sha") or "")[:10],
        target,
    ]


def write_history_index(
    root: Path,
    campaign: str | None = None,
    phase: str | None = None,
    marks: Iterable[Mark | Sequence[Any]] = (),
) -> IndexResult:
    """Write the index across stamps (see :func:`index_path` for where).

    Raises:
        FileNotFoundError: no bundle folder matches the filters under ``root``.
    """
    start = time.perf_counter()
    folders = phase_folders(root, campaign, phase)
    if not folders:
        what = "/".join(p for p in (campaign, phase) if p) or "any campaign"
        raise FileNotFoundError(f"no bundles for {what} under {root}")
    path = index_path(root, campaign, phase)
    out = ChartSet()
    all_marks = as_marks(marks)
    sections = [_section(f, path.parent, all_marks, out) for f in folders]
    n_stamps = sum(1 for f in folders for s in f.iterdir() if _STAMP.match(s.name))
    html = document(
        "bragg-farm history"
        + (f": {'/'.join(p for p in (campaign, phase) if p)}" if campaign or phase else ""),
        [f"{n_stamps} stamp(s) under {Path(root)}; each links to its bundle's report."],
        sections,
        {"farm-charts": str(out.count)},
    )
    write_text_atomic(path, html)
    return IndexResult(
        path, len(html.encode("utf-8")), out.count, n_stamps, time.perf_counter() - start
    )
