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
from farm.html.svg import records

WIDTH = 520
HEIGHT = 300
ROW_PX = 18
#: Logarithmic axes fitted to the data (not rounded out to whole decades).
LOG: dict[str, Any] = {"type": "log", "nice": False, "padding": 10}
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
    x = alt.X("pixels:Q").scale(**LOG).axis(format="~s", labelOverlap=True).title("pixels (size²)")
    y = alt.Y("warm_s:Q").scale(**LOG).title("warm time, median (s)")
    colour = (
        alt.Color("series:N")
        .title("series (time ∝ pixels^k)")
        .legend(orient="bottom", labelLimit=400)
    )
    base = alt.Chart(records(points))
    layers = [
        base.mark_rule().encode(x=x, y=alt.Y("lo:Q").scale(**LOG), y2="hi:Q", color=colour),
        base.mark_point(filled=True, size=50).encode(x=x, y=y, color=colour),
    ]
    lines = []
    for f in fits:
        for size in (f.min_size, f.max_size):
            lines.append(
                {"series": labels[f.series], "pixels": size * size, "fit_s": f.seconds(size * size)}
            )
    if lines:
        layers.append(
            alt.Chart(records(lines))
            .mark_line(strokeDash=[5, 3])
            .encode(x=x, y=alt.Y("fit_s:Q").scale(**LOG), color=colour)
        )
    return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT)


def phases(cells: list[dict[str, Any]]) -> alt.LayerChart | None:
    """Cold, warm (median, min-max) and profiled time per cell, log time axis."""
    rows, spread = [], []
    for c in cells:
        for phase, key in (("cold", "cold_s"), ("warm", "warm_s"), ("profiled", "profiled_s")):
            if c.get(key):
                rows.append({"cell": c["tag"], "phase": phase, "s": c[key]})
        if c.get("warm_min_s") and c.get("warm_max_s"):
            spread.append({"cell": c["tag"], "lo": c["warm_min_s"], "hi": c["warm_max_s"]})
    if not rows:
        return None
    order = [c["tag"] for c in cells]
    y = alt.Y("cell:N").sort(order).title(None)
    x = alt.X("s:Q").scale(**LOG).title("seconds (warm: median, bar: min-max)")
    phase = alt.Color("phase:N").scale(
        domain=["cold", "warm", "profiled"], range=["#1f77b4", "#2a9d4b", "#ff7f0e"]
    )
    layers = [
        alt.Chart(records(rows))
        .mark_point(filled=True, size=55)
        .encode(x=x, y=y, color=phase, shape=alt.Shape("phase:N").legend(None))
    ]
    if spread:
        layers.insert(
            0,
            alt.Chart(records(spread))
            .mark_rule(color="#2a9d4b", strokeWidth=2)
            .encode(x=alt.X("lo:Q").scale(**LOG), x2="hi:Q", y=y),
        )
    return alt.layer(*layers).properties(width=WIDTH, height=ROW_PX * len(order))


def memory(cells: list[dict[str, Any]]) -> alt.Chart | None:
    """Peak memory (MiB) against pixels per series: host RSS, and allocated on the device."""
    rows = [
        {"series": c["series"], "pixels": c["pixels"], "mib": c[key], "memory": label}
        for c in cells
        for key, label in (("mem_peak_mb", "host RSS"), ("device_mem_peak_mb", "device"))
        if c.get(key) and c.get("pixels")
    ]
    if not rows:
        return None
    return (
        alt.Chart(records(rows))
        .mark_line(point=True)
        .encode(
            x=alt.X("pixels:Q")
            .scale(**LOG)
            .axis(format="~s", labelOverlap=True)
            .title("pixels (size²)"),
            y=alt.Y("mib:Q").scale(**LOG).title("peak memory (MiB)"),
            color=alt.Color("series:N").legend(orient="bottom", labelLimit=400),
            strokeDash=alt.StrokeDash("memory:N")
            .scale(domain=["host RSS", "device"], range=[[1, 0], [5, 3]])
            .title("memory"),
            detail="memory:N",
        )
        .properties(width=WIDTH, height=HEIGHT - 60)
    )


def dtypes(ratios: list[dict[str, Any]]) -> alt.LayerChart | None:
    """float64 over float32 warm time per size (1 = as fast)."""
    if not ratios:
        return None
    line = (
        alt.Chart(records(ratios))
        .mark_line(point=True)
        .encode(
            x=alt.X("size:Q")
            .scale(type="log", base=2, nice=False, padding=10)
            .title("size (pixels a side)"),
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
    x = (
        alt.X("distance:Q")
        .scale(type="log", nice=False, padding=12)
        .title(f"1 − r (log; gate: 1 − r ≤ {1 - GATE_CORR:.0e}; exact match drawn at 1e-16)")
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
    gate = (
        alt.Chart(records([{"gate": 1.0 - GATE_CORR}]))
        .mark_rule(color="#d62728", strokeDash=[4, 2])
        .encode(x="gate:Q")
    )
    return alt.layer(gate, dots).properties(width=WIDTH, height=ROW_PX * len(data))


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
        .mark_rect()
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
    """Horizontal bars: share of the warm run per row, best first."""
    data = [{"label": f"#{r['rank']} {r['label']}", "pct": r["pct_of_run"]} for r in rows]
    if not data:
        return None
    return (
        alt.Chart(records(data), title=title)
        .mark_bar(color="#4c78a8")
        .encode(
            x=alt.X("pct:Q").title("% of the warm run (mean over cells)"),
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
            x=alt.X("pct:Q").title("% of the warm run"),
            y=alt.Y("loop:N").sort(None).title(None).axis(labelLimit=360),
            yOffset=alt.YOffset("side:N").scale(domain=["CPU", "GPU"]),
            color=alt.Color("side:N").scale(domain=["CPU", "GPU"], range=["#4c78a8", "#f58518"]),
        )
        .properties(width=WIDTH - 160, height=2 * ROW_PX * len({d["loop"] for d in data}))
    )
