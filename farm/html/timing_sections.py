"""Report sections about speed and memory: scaling, float32 vs float64, phases, memory."""

from __future__ import annotations

from markupsafe import Markup

from analysis.evidence.report_data import ReportData
from farm.bundle.text_format import num as fixed
from farm.bundle.text_format import significant as num
from farm.html import axes, charts
from farm.html.page import Section, figure, para, table
from farm.html.svg import ChartSet


def scaling_section(data: ReportData, out: ChartSet) -> Section:
    """Time against size per series, the fitted exponents, the GPU crossover, the dtypes."""
    sec = Section("scaling", "Time against size")
    chart = charts.scaling(data.cells, data.fits)
    if chart is None:
        return sec.add("No cell finished with a warm time: nothing to plot.")
    sec.add(
        figure(
            out.render(chart, "scaling"),
            "Warm time (median of the timed renders; bars: min to max) against pixels, both "
            "axes logarithmic. Dashed: the power law time = c · pixels^k fitted by least "
            "squares on the logarithms. k ≈ 1: time grows with the pixel count; k well below "
            "1: fixed costs (set-up, dispatch, launches) still dominate at these sizes.",
        )
    )
    if data.fits:
        sec.add(
            table(
                ["series", "k", "r²", "sizes fitted", "range"],
                [
                    [f.series, f"{f.k:.3f}", num(f.r2, 3), f.sizes, f"{f.min_size}²–{f.max_size}²"]
                    for f in data.fits
                ],
                numeric={1, 2, 3},
            )
        )
        if any(f.sizes == 2 for f in data.fits):
            sec.add(
                para(
                    "A fit through 2 sizes passes through both points (r² = 1 says nothing).",
                    "note",
                )
            )
    else:
        sec.add(para("No series has two sizes or more: no exponent can be fitted.", "note"))
    sec.body.append(Markup("<h3>GPU against CPU</h3>"))
    if data.crossovers:
        for c in data.crossovers:
            sec.add(f"{c.key}: {c.text}.")
    else:
        sec.add(
            para("No series ran on both CPU and GPU in this bundle: no crossover to show.", "note")
        )
    sec.body.append(Markup("<h3>float32 against float64</h3>"))
    dchart = charts.dtypes(data.dtype_ratios)
    if dchart is None:
        sec.add(para("No series ran in both float32 and float64: no comparison.", "note"))
        return sec
    sec.add(
        figure(
            out.render(dchart, "dtypes"),
            "float64 warm time over float32 warm time at each size (above 1: float64 slower).",
        ),
        table(
            ["series", "size", "float32", "float64", "float64 / float32"],
            [
                [
                    r["key"],
                    r["size"],
                    _time(r["float32_s"]),
                    _time(r["float64_s"]),
                    f"{r['ratio']:.2f}",
                ]
                for r in data.dtype_ratios
            ],
            numeric={1, 2, 3, 4},
        ),
    )
    return sec


def phases_section(data: ReportData, out: ChartSet) -> Section:
    """Cold, warm and profiled time per cell, with the spread of the warm runs."""
    sec = Section("phases", "Cold, warm, profiled")
    chart = charts.phases(data.cells)
    if chart is not None:
        sec.add(
            figure(
                out.render(chart, "phases"),
                "Cold = construction + first render; warm = median of the timed renders (bar: "
                "min to max); profiled = the render under torch.profiler.",
            )
        )
    rows = []
    for c in data.cells:
        if c["status"] == "skipped":
            continue
        spread = "-"
        if c.get("warm_n"):
            sd = c.get("warm_sd_s")
            rel = f", sd {100 * sd / c['warm_s']:.0f}%" if sd and c.get("warm_s") else ""
            spread = f"{_time(c['warm_min_s'])} – {_time(c['warm_max_s'])} (n={c['warm_n']}{rel})"
        ratio = ""
        if c.get("profiled_s") and c.get("warm_s"):
            ratio = f" (×{c['profiled_s'] / c['warm_s']:.2f})"
        rows.append(
            [
                c["tag"],
                _status(c["status"]),
                f"{_time(c.get('cold_s'))} "
                f"({_time(c.get('cold_setup_s'))} + {_time(c.get('cold_sim_s'))})",
                _time(c.get("warm_s")),
                spread,
                _time(c.get("profiled_s")) + ratio,
            ]
        )
    sec.add(
        table(
            [
                "cell",
                "status",
                "cold (setup + sim)",
                "warm (median)",
                "warm min – max",
                "profiled (× warm)",
            ],
            rows,
            numeric={3},
        )
    )
    skipped = sum(1 for c in data.cells if c["status"] == "skipped")
    if skipped:
        sec.add(para(f"{skipped} skipped cell(s) are not shown: see Failures and skips.", "note"))
    return sec


def memory_section(data: ReportData, out: ChartSet) -> Section:
    """Peak memory against size."""
    sec = Section("memory", "Peak memory")
    chart = charts.memory(data.cells)
    if chart is None:
        return sec.add("No cell recorded its memory.")
    sec.add(
        figure(
            out.render(chart, "memory"),
            "Peak memory over the cell's phases (MiB; logarithmic axes). Solid: resident set "
            "size of the actor process (host RSS; it includes the interpreter and torch), on "
            "every device. Dashed: the most torch allocated on the GPU (CUDA cells).",
        ),
        table(
            ["cell", "host cold MiB", "host warm MiB", "host peak MiB", "device peak MiB"],
            [
                [
                    c["tag"],
                    fixed(c.get("mem_cold_mb"), 1),
                    fixed(c.get("mem_warm_mb"), 1),
                    fixed(c.get("mem_peak_mb"), 1),
                    fixed(c.get("device_mem_peak_mb"), 1),
                ]
                for c in data.cells
                if c.get("mem_peak_mb")
            ],
            numeric={1, 2, 3, 4},
        ),
    )
    return sec


def _time(seconds: float | None) -> str:
    """A time with its unit, 4 significant digits (``313.2 µs``, ``8.182 s``); ``-`` if unknown."""
    return "-" if seconds is None else axes.seconds(seconds, 4)


def _status(status: str) -> Markup:
    cls = "pass" if status == "ok" else "fail" if status == "failed" else "note"
    return Markup('<span class="{}">{}</span>').format(cls, status)
