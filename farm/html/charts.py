"""The bundle report's charts as Altair specs (drawn to SVG by :mod:`farm.html.svg`).

Each function takes plain records from :mod:`analysis.evidence.report_data` and returns a
chart, or None when the bundle has nothing to draw for it (the report then says why).
"""

from __future__ import annotations

import math
from typing import Any

import altair as alt

from analysis.parity.tolerances import GATE_CORR
from analysis.queries.scaling import Fit
from farm.html import axes
from farm.html.svg import records

WIDTH = 520
HEIGHT = 300
ROW_PX = 18
VERDICT_COLOURS = alt.Scale(
    domain=["pass", "fail", "no_reference"], range=["#2a9d4b", "#d62728", "#999999"]
)


def _series_labels(fits: list[Fit]) -> dict[str, str]:
    return {f.series: f"{f.series} (k = {f.k:.2f})" for f in fits}


def scaling(cells: list[dict[str, Any]], fits: list[Fit]) -> alt.LayerChart | None:
    """Warm time against pixels per series, log-log, min-max bars, dashed fitted power laws."""
    labels = _series_labels(fits)
    points = [
        {
            "series": labels.get(c["series"], c["series"]),
            "pixels": c["pixels"],
            "size": c["size"],
            "warm_s": c["warm_s"],
            "lo": c["warm_min_s"],
            "hi": c["warm_max_s"],
        }
        for c in cells
        if c["status"] == "ok" and c.get("warm_s") and c.get("pixels")
    ]
    if not points:
        return None
    lines = []
    for f in fits:
        for size in (f.min_size, f.max_size):
            lines.append(
                {"series": labels[f.series], "pixels": size * size, "fit_s": f.seconds(size * size)}
            )
    x = _pixels([p["pixels"] for p in points])
    times = [v for p in points for v in (p["warm_s"], p["lo"], p["hi"])]
    ys = axes.log_axis(times + [row["fit_s"] for row in lines], axes.seconds)
    y = alt.Y("warm_s:Q").scale(**ys.scale()).axis(**ys.axis())
    y = y.title("warm time per render (median; bar: min to max)")
    colour = (
        alt.Color("series:N")
        .title("series (time ∝ pixels^k)")
        .legend(orient="bottom", labelLimit=400)
    )
    base = alt.Chart(records(points))
    layers = [
        base.mark_rule().encode(x=x, y=alt.Y("lo:Q").scale(**ys.scale()), y2="hi:Q", color=colour),
        base.mark_point(filled=True, size=50).encode(x=x, y=y, color=colour),
    ]
    if lines:
        layers.append(
            alt.Chart(records(lines))
            .mark_line(strokeDash=[5, 3])
            .encode(x=x, y=alt.Y("fit_s:Q").scale(**ys.scale()), color=colour)
        )
    return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT)


def _pixels(pixels: list[int]) -> alt.X:
    """The pixel-count axis of a log-log chart: one tick at each of the grid's sizes."""
    xs = axes.at_values(pixels, axes.squared)
    return alt.X("pixels:Q").scale(**xs.scale()).axis(**xs.axis()).title("image size (pixels)")


#: Each phase's colour and shape, in the marks and in the legend alike.
PHASES = ["cold", "warm", "profiled"]
PHASE_COLOURS = ["#1f77b4", "#2a9d4b", "#ff7f0e"]
PHASE_SHAPES = ["circle", "triangle-up", "square"]


def phases(cells: list[dict[str, Any]]) -> alt.LayerChart | None:
    """Cold, warm (median, min-max) and profiled time per cell, log time axis."""
    rows, spread = [], []
    for c in cells:
        for phase, key in zip(PHASES, ("cold_s", "warm_s", "profiled_s"), strict=True):
            if c.get(key):
                rows.append({"cell": c["tag"], "phase": phase, "s": c[key]})
        if c.get("warm_min_s") and c.get("warm_max_s"):
            spread.append({"cell": c["tag"], "lo": c["warm_min_s"], "hi": c["warm_max_s"]})
    if not rows:
        return None
    order = [c["tag"] for c in cells]
    y = alt.Y("cell:N").sort(order).title(None)
    xs = axes.log_axis(
        [r["s"] for r in rows] + [v for r in spread for v in (r["lo"], r["hi"])], axes.seconds
    )
    x = alt.X("s:Q").scale(**xs.scale()).axis(**xs.axis())
    x = x.title("time per render (log scale; warm: median, bar: min to max)")
    phase = alt.Color("phase:N").scale(domain=PHASES, range=PHASE_COLOURS).title("phase")
    shape = alt.Shape("phase:N").scale(domain=PHASES, range=PHASE_SHAPES).title("phase")
    layers = [
        alt.Chart(records(rows))
        .mark_point(filled=True, size=55, opacity=0.9)
        .encode(x=x, y=y, color=phase, shape=shape)
    ]
    if spread:
        layers.insert(
            0,
            alt.Chart(records(spread))
            .mark_rule(color=PHASE_COLOURS[1], strokeWidth=2)
            .encode(x=alt.X("lo:Q").scale(**xs.scale()), x2="hi:Q", y=y),
        )
    return alt.layer(*layers).properties(width=WIDTH, height=ROW_PX * len(order))


#: How each kind of peak memory is drawn: host RSS solid, the device's allocation dashed.
MEMORY_KINDS = ["host RSS", "device"]
MEMORY_DASHES = [[1, 0], [5, 3]]


def memory(cells: list[dict[str, Any]]) -> alt.LayerChart | None:
    """Peak memory (MiB) against pixels per series: host RSS, and allocated on the device."""
    rows = [
        {"series": c["series"], "pixels": c["pixels"], "mib": c[key], "memory": label}
        for c in cells
        for key, label in zip(("mem_peak_mb", "device_mem_peak_mb"), MEMORY_KINDS, strict=True)
        if c.get(key) and c.get("pixels")
    ]
    if not rows:
        return None
    ys = axes.log_axis([r["mib"] for r in rows], axes.plain)
    x = _pixels([r["pixels"] for r in rows])
    y = alt.Y("mib:Q").scale(**ys.scale()).axis(**ys.axis()).title("peak memory (MiB)")
    colour = alt.Color("series:N").legend(orient="bottom", labelLimit=400, symbolType="stroke")
    dash = (
        alt.StrokeDash("memory:N")
        .scale(domain=MEMORY_KINDS, range=MEMORY_DASHES)
        .legend(symbolType="stroke", symbolStrokeWidth=2, symbolSize=300, symbolStrokeColor="#444")
        .title("memory")
    )
    base = alt.Chart(records(rows))
    lines = base.mark_line().encode(x=x, y=y, color=colour, strokeDash=dash, detail="memory:N")
    points = base.mark_point(filled=True, size=30).encode(
        x=x, y=y, color=alt.Color("series:N").legend(None)
    )
    return alt.layer(lines, points).properties(width=WIDTH, height=HEIGHT - 60)


def dtypes(ratios: list[dict[str, Any]]) -> alt.LayerChart | None:
    """float64 over float32 warm time per size (1 = as fast)."""
    if not ratios:
        return None
    xs = axes.at_values([r["size"] for r in ratios], lambda size: f"{size:g}")
    line = (
        alt.Chart(records(ratios))
        .mark_line(point=True)
        .encode(
            x=alt.X("size:Q").scale(**xs.scale()).axis(**xs.axis()).title("size (pixels a side)"),
            y=alt.Y("ratio:Q").title("float64 time / float32 time"),
            color=alt.Color("key:N").title("series").legend(orient="bottom", labelLimit=400),
        )
    )
    one = alt.Chart(records([{"one": 1.0}])).mark_rule(strokeDash=[2, 2]).encode(y="one:Q")
    return alt.layer(one, line).properties(width=WIDTH, height=HEIGHT - 100)


#: 1 - r is drawn on a log axis; an exact match (1 - r = 0) is drawn at this floor.
DISTANCE_FLOOR = 1e-16


def correlation(rows: list[dict[str, Any]]) -> alt.LayerChart | None:
    """Distance from a perfect match (1 - r, log axis) per cell, the gate, the verdicts."""
    data = [
        {
            "cell": r["tag"],
            "distance": max(1.0 - r["corr"], DISTANCE_FLOOR),
            "corr": r["corr"],
            "verdict": r["verdict"],
        }
        for r in rows
        if r.get("corr") is not None and math.isfinite(r["corr"])
    ]
    if not data:
        return None
    gate = 1.0 - GATE_CORR
    xs = axes.log_axis([d["distance"] for d in data] + [gate], axes.power)
    x = (
        alt.X("distance:Q")
        .scale(**xs.scale())
        .axis(**xs.axis())
        .title(
            f"1 − r (log scale; gate: 1 − r ≤ {axes.power(gate)}; "
            f"an exact match is drawn at {axes.power(DISTANCE_FLOOR)})"
        )
    )
    dots = (
        alt.Chart(records(data))
        .mark_point(filled=True, size=70)
        .encode(
            x=x,
            y=alt.Y("cell:N").sort(None).title(None),
            color=alt.Color("verdict:N").scale(VERDICT_COLOURS),
        )
    )
    rule = (
        alt.Chart(records([{"gate": gate}]))
        .mark_rule(color="#d62728", strokeDash=[4, 2])
        .encode(x=alt.X("gate:Q").scale(**xs.scale()))
    )
    return alt.layer(rule, dots).properties(width=WIDTH, height=ROW_PX * len(data))


def tile_maps(
    tiles: dict[str, list[dict[str, Any]]], tags: dict[str, str]
) -> alt.FacetChart | None:
    """One 16x16 heat map of tile correlation per cell (darker red = lower r)."""
    rows = [
        {"cell": tags.get(cid, cid), "row": t["tile_row"], "col": t["tile_col"], "corr": t["corr"]}
        for cid, ts in tiles.items()
        for t in ts
    ]
    if not rows:
        return None
    finite = [r["corr"] for r in rows if r["corr"] is not None and math.isfinite(r["corr"])]
    lo = min([*finite, 0.99]) if finite else 0.99
    chart = (
        alt.Chart(records(rows))
        .mark_rect(stroke="#e6e6e6", strokeWidth=0.5)
        .encode(
            x=alt.X("col:O").axis(None),
            y=alt.Y("row:O").axis(None),
            color=alt.Color("corr:Q")
            .scale(domain=[lo, 1.0], range=["#a50f15", "#ffffff"], interpolate="rgb", clamp=True)
            .title("tile r"),
        )
        .properties(width=128, height=128)
    )
    order = [tags[cid] for cid in tags if cid in tiles] + [c for c in tiles if c not in tags]
    facet = alt.Facet("cell:N").title(None).sort(order)
    return (
        chart.facet(facet=facet, columns=4).configure(aria=False).configure_view(stroke="#bbbbbb")
    )


def ranking(rows: list[dict[str, Any]], title: str) -> alt.Chart | None:
    """Horizontal bars: share of the representative profiled render per row, best first."""
    data = [{"label": f"#{r['rank']} {r['label']}", "pct": r["pct_of_run"]} for r in rows]
    if not data:
        return None
    return (
        alt.Chart(records(data), title=title)
        .mark_bar(color="#4c78a8")
        .encode(
            x=alt.X("pct:Q").title("% of profiled render (mean over cells)"),
            y=alt.Y("label:N").sort(None).title(None).axis(labelLimit=320),
        )
        .properties(width=280, height=ROW_PX * len(data))
    )


def paired(hotspots: list[dict[str, Any]]) -> alt.Chart | None:
    """CPU against GPU share per loop, as paired bars (a side not measured is absent)."""
    data = []
    for r in hotspots:
        label = f"{r['module']}:{r['line']} {r['function']}"
        for side, key in (("CPU", "cpu_pct"), ("GPU", "gpu_pct")):
            if r.get(key) is not None:
                data.append({"loop": label, "side": side, "pct": r[key]})
    if not data:
        return None
    return (
        alt.Chart(records(data))
        .mark_bar()
        .encode(
            x=alt.X("pct:Q").title("% of profiled render"),
            y=alt.Y("loop:N").sort(None).title(None).axis(labelLimit=360),
            yOffset=alt.YOffset("side:N").scale(domain=["CPU", "GPU"]),
            color=alt.Color("side:N").scale(domain=["CPU", "GPU"], range=["#4c78a8", "#f58518"]),
        )
        .properties(width=WIDTH - 160, height=2 * ROW_PX * len({d["loop"] for d in data}))
    )
