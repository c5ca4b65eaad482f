"""Report sections about the evidence: where the time goes, CPU against GPU, parity."""

from __future__ import annotations

import base64
import struct
from collections import defaultdict
from typing import Any

from markupsafe import Markup

from analysis.evidence.report_data import ReportData
from analysis.loops.snippets import Snippet
from analysis.parity.tolerances import GATE_CORR, SUM_RATIO_TOL
from farm.bundle.text_format import num as fixed
from farm.bundle.text_format import significant as num
from farm.html import charts
from farm.html.page import Section, figure, link, para, table, warning
from farm.html.svg import ChartSet

#: A difference image larger than this is linked, not embedded.
EMBED_MAX_BYTES = 1_500_000
#: A small difference image is drawn at least this wide (pixels stay square and sharp).
DIFF_MIN_PX = 320


def _snippet_html(row: dict[str, Any], snip: Snippet | None, is_open: bool) -> Markup:
    where = f"{row.get('module')}:{row.get('line')}"
    if row.get("end_line") and row["end_line"] != row.get("line"):
        where += f"–{row['end_line']}"
    head = Markup("<summary>#{} <code>{}</code></summary>").format(row["rank"], where)
    return Markup("<details{}>{}{}</details>").format(
        Markup(" open") if is_open else "", head, _snippet_body(snip)
    )


def _snippet_body(snip: Snippet | None) -> Markup:
    if snip is None:
        return Markup("")
    if snip.missing:
        return para(f"source not shown: {snip.missing}", "note")
    width = len(str(snip.start + len(snip.lines)))
    text = "\n".join(f"{snip.start + i:>{width}}  {line}" for i, line in enumerate(snip.lines))
    body = Markup("<pre><code>{}</code></pre>").format(text)
    if snip.hidden:
        body += para(f"… {snip.hidden} more line(s)", "note")
    if snip.changed:
        body += warning(
            f"{snip.module} changed after its trace was captured: these lines may not be the "
            "code that ran"
        )
    return body


def ranking_section(data: ReportData, out: ChartSet) -> Section:
    """Every grain's ranking as bars per device and dtype, the source lines beside them."""
    sec = Section("hotspots", "Where the time goes")
    sec.add(
        para(
            "Shares of each cell's representative profiled render, mean over the cells that "
            "passed the parity gate "
            "(other cells are not evidence and are listed below). Rankings at every grain this "
            "bundle has; the source lines of each row are beside its bars.",
            "note",
        )
    )
    tags = {c["cell_id"]: c["tag"] for c in data.cells}
    for ranking in data.rankings:
        sec.body.append(Markup('<h3 id="grain-{}">{}</h3>').format(ranking.grain, ranking.title))
        if ranking.note:
            sec.add(warning(ranking.note))
        if not ranking.rows:
            sec.add(para("No rows: no profiled evidence cell in this bundle.", "note"))
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in ranking.rows:
            groups[(row["device"], row["dtype"])].append(row)
        for n, ((device, dtype), rows) in enumerate(groups.items()):
            chart = charts.ranking(rows, f"{ranking.grain}: {device} {dtype}")
            code = Markup("").join(
                _snippet_html(r, data.snippets.get(_key(r)), n == 0)
                for r in rows
                if r.get("module")
            )
            sec.body.append(
                Markup('<div class="pair"><div>{}</div><div>{}</div></div>').format(
                    figure(out.render(chart), f"{ranking.title}, {device} {dtype}")
                    if chart
                    else "",
                    code,
                )
            )
        if ranking.refused:
            sec.body.append(Markup("<h3>Refused as evidence</h3>"))
            sec.add(
                table(
                    ["cell", "device", "dtype", "size", "why"],
                    [
                        [
                            tags.get(r["cell_id"], r["cell_id"]),
                            r["device"],
                            r["dtype"],
                            r["size"],
                            r["reason"],
                        ]
                        for r in ranking.refused
                    ],
                )
            )
    return sec


def _key(row: dict[str, Any]) -> tuple[str, int, int]:
    return (str(row["module"]), int(row["line"]), int(row.get("end_line") or row["line"]))


def cpu_gpu_section(data: ReportData, out: ChartSet) -> Section:
    """The same loop's share on CPU and on GPU, as paired bars, with the flags."""
    sec = Section("cpu-gpu", "CPU against GPU per loop")
    chart = charts.paired(data.hotspots)
    if chart is None:
        return sec.add("No loop has evidence on either side.")
    if all(r.get("gpu_pct") is None for r in data.hotspots):
        sec.add(warning("No GPU cell is evidence in this bundle: only the CPU side is drawn."))
    if all(r.get("cpu_pct") is None for r in data.hotspots):
        sec.add(warning("No CPU cell is evidence in this bundle: only the GPU side is drawn."))
    sec.add(
        figure(out.render(chart), "Mean share of the profiled render per loop on each side."),
        table(
            ["loop", "CPU %", "CPU ops", "GPU %", "GPU ops", "kernels", "flag"],
            [
                [
                    f"{r['module']}:{r['line']} {r['function']}",
                    num(r["cpu_pct"]),
                    num(r["cpu_ops"]),
                    num(r["gpu_pct"]),
                    num(r["gpu_ops"]),
                    num(r["gpu_kernels"]),
                    r["flag"],
                ]
                for r in data.hotspots
            ],
            numeric={1, 2, 3, 4, 5},
        ),
    )
    return sec


def parity_section(data: ReportData, out: ChartSet) -> Section:
    """Correlation per cell, the tile maps, the difference image of each failing cell."""
    sec = Section("parity", "Parity with the reference")
    sec.add(
        para(
            f"Gate: Pearson r ≥ {GATE_CORR} and |sum ratio − 1| ≤ {SUM_RATIO_TOL}. A cell "
            "without a reference image has no verdict (never a made-up 1.0).",
            "note",
        )
    )
    chart = charts.correlation(data.correlations)
    if chart is not None:
        sec.add(figure(out.render(chart, "correlation"), "Correlation per cell; dashed: the gate."))
    sec.add(
        table(
            [
                "cell",
                "reference",
                "r",
                "1 − r",
                "sum ratio",
                "max |err|",
                "tile min r",
                "worst tile",
                "verdict",
                "note",
            ],
            [
                [
                    r["tag"],
                    r["reference"],
                    fixed(r["corr"], 7),
                    _distance(r["corr"]),
                    fixed(r["sum_ratio"], 7),
                    num(r["max_abs_err"]),
                    fixed(r["tile_min_corr"], 6),
                    r["worst_tile"] or "",
                    Markup('<span class="{}">{}</span>').format(r["verdict"], r["verdict"]),
                    r["error"] or "",
                ]
                for r in data.correlations
            ],
            numeric={2, 3, 4, 5, 6},
        )
    )
    tags = {c["cell_id"]: c["tag"] for c in data.cells}
    tmap = charts.tile_maps(data.tiles, tags)
    sec.body.append(Markup("<h3>Tile maps</h3>"))
    if tmap is None:
        sec.add(
            para("No tile maps in this bundle (table parity_tiles is empty or absent).", "note")
        )
    else:
        sec.add(
            figure(
                out.render(tmap, "tiles"),
                "Each cell's image cut into 16 × 16 tiles; colour: the correlation of each tile "
                "with the same tile of the reference (white = 1, darker red = lower).",
            )
        )
    sec.add(_diff_images(data))
    return sec


#: Below this, 1 - r is float64 rounding (r can even come out a hair above 1).
DISTANCE_RESOLUTION = 1e-15


def _distance(corr: float | None) -> str:
    """``1 - r`` in scientific notation (where a rounded r would read 1); rounding as such."""
    if corr is None or corr != corr:
        return "-"
    if abs(1.0 - corr) < DISTANCE_RESOLUTION:
        return f"< {DISTANCE_RESOLUTION:.0e}"
    return f"{1.0 - corr:.2e}"


def _diff_images(data: ReportData) -> Markup:
    failing = [r for r in data.correlations if r["verdict"] == "fail"]
    if not failing:
        return Markup("")
    by_tag = {f.tag: f for f in data.diff_images}
    parts = [Markup("<h3>Difference images of failing cells</h3>")]
    for r in failing:
        f = by_tag.get(r["tag"])
        if f is None:
            parts.append(para(f"{r['tag']}: no difference image in this bundle.", "note"))
            continue
        if f.bytes > EMBED_MAX_BYTES:
            parts.append(para(f"{r['tag']}: ") + link(f.relpath, f.relpath))
            continue
        png = (data.bundle_dir / f.relpath).read_bytes()
        b64 = base64.b64encode(png).decode("ascii")
        width = min(max(struct.unpack(">I", png[16:20])[0], DIFF_MIN_PX), 512)
        img = Markup(
            '<img class="diff" width="{}" alt="difference image of {}" '
            'src="data:image/png;base64,{}">'
        ).format(width, r["tag"], b64)
        parts.append(
            figure(
                img,
                f"{r['tag']}: image − reference (blue < 0, white 0, red > 0, black: not finite; "
                f"each pixel is the largest difference of its block). File: {f.relpath}.",
            )
        )
    return Markup("").join(parts)
