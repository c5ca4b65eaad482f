"""The report's axes, legends and marks as drawn (vl-convert's SVG, read back as text).

The cases are the ones a review found in Chromium: a one-cell bundle (b1: 4096², one warm
run of 8.18204677 s, 746.5078125 MiB) labelled its log axes with the raw values; the phases
legend showed three circles for a circle, a triangle and a square; the memory legend showed
two black dots for a solid and a dashed line.
"""

from __future__ import annotations

import math

import pytest
from svg_reading import axis_labels, legend_entries, mark_symbols, significant_digits

from farm.html import axes, charts
from farm.html.svg import svg

B1 = {
    "tag": "device=cpu,dtype=float32,size=4096",
    "series": "device=cpu,dtype=float32",
    "status": "ok",
    "size": 4096,
    "pixels": 4096**2,
    "cold_s": 10.59,
    "warm_s": 8.18204677,
    "warm_min_s": 8.18204677,
    "warm_max_s": 8.18204677,
    "profiled_s": 3.647,
    "mem_peak_mb": 746.5078125,
}


def _smoke() -> list[dict]:
    cells = []
    for dtype, times in (("float32", (3.1e-4, 4.3e-4)), ("float64", (3.0e-4, 6.2e-4))):
        for size, warm in zip((64, 128), times, strict=True):
            cells.append(
                {
                    **B1,
                    "tag": f"device=cpu,dtype={dtype},size={size}",
                    "series": f"device=cpu,dtype={dtype}",
                    "size": size,
                    "pixels": size * size,
                    "cold_s": 3e-3 * (1 + size / 128),
                    "warm_s": warm,
                    "warm_min_s": 0.9 * warm,
                    "warm_max_s": 1.4 * warm,
                    "profiled_s": 2.2 * warm,
                    "mem_peak_mb": 414.1 + size / 30,
                }
            )
    return cells


def _drawn(chart) -> str:
    return str(svg(chart, "t"))


def _readable(labels: list[str]) -> None:
    assert len(labels) >= 1 and len(set(labels)) == len(labels), labels
    for label in labels:
        assert significant_digits(label) <= 4, labels


@pytest.mark.parametrize("cells", [[B1], _smoke()], ids=["one cell", "smoke"])
def test_log_axes_have_round_ticks_even_for_one_point(cells):
    drawn = {
        "scaling": _drawn(charts.scaling(cells, [])),
        "phases": _drawn(charts.phases(cells)),
        "memory": _drawn(charts.memory(cells)),
    }
    for name, text in drawn.items():
        labelled = axis_labels(text)
        assert labelled, name
        for labels in labelled:
            _readable(labels)
        joined = " ".join(" ".join(a) for a in labelled)
        for raw in ("8.182", "746.5", "16.777216M", "16,777,216"):
            assert raw not in joined, (name, joined)
    # the time axes carry their unit in each label and have 3 ticks or more
    [_, time_ticks] = axis_labels(drawn["scaling"])  # x (sizes), then y (time)
    assert len(time_ticks) >= 3 and all(t.endswith((" s", " ms", " µs")) for t in time_ticks)
    # the pixel axis has one tick per size, as the grid names them
    sizes = sorted({c["size"] for c in cells})
    assert axis_labels(drawn["scaling"])[0] == [f"{s}²" for s in sizes]
    [_, mib_ticks] = axis_labels(drawn["memory"])
    assert len(mib_ticks) >= 3


def test_the_correlation_axis_is_in_powers_of_ten():
    rows = [
        {"tag": "a", "corr": 1.0 - 1.8e-13, "verdict": "pass"},
        {"tag": "b", "corr": 1.0 + 2.2e-16, "verdict": "pass"},
        {"tag": "c", "corr": 0.9, "verdict": "fail"},
    ]
    [labels] = [a for a in axis_labels(_drawn(charts.correlation(rows))) if a != ["a", "b", "c"]]
    assert 3 <= len(labels) <= axes.MAX_TICKS and all(t.startswith("10") for t in labels)
    _readable(labels)


def test_the_phases_legend_shows_the_marks_shapes_and_colours():
    text = _drawn(charts.phases(_smoke()))
    entries = {e.label: (e.fill, e.shape) for e in legend_entries(text)}
    assert entries == {
        "cold": ("#1f77b4", "circle"),
        "warm": ("#2a9d4b", "triangle"),
        "profiled": ("#ff7f0e", "square"),
    }
    assert mark_symbols(text) == set(entries.values())


def test_the_memory_legend_shows_solid_and_dashed_lines():
    cells = [
        {**c, "device_mem_peak_mb": c["pixels"] * 4e-6}
        for c in _smoke()
        if c["series"].endswith("float32")
    ]
    entries = [e for e in legend_entries(_drawn(charts.memory(cells))) if e.legend == "memory"]
    assert [e.label for e in entries] == ["host RSS", "device"]
    # strokes, not dots; the one dashed, the other not
    assert all(e.fill in (None, "transparent", "none") and e.stroke for e in entries), entries
    solid, dashed = entries
    assert solid.dash in (None, "1,0") and dashed.dash == "5,3"


def test_tick_rules():
    assert axes.round_ticks(1e-16, 1e-3) == [1e-16, 1e-14, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4]
    assert axes.log_axis([0.97, 1.44]).labels == ("0.75", "1", "1.25", "1.5", "1.75")
    one = axes.log_axis([8.18204677], axes.seconds)
    assert one.domain[0] < 8.18204677 < one.domain[1]
    assert math.isclose(one.domain[1] / one.domain[0], axes.MIN_RATIO)
    assert one.labels == ("6 s", "8 s", "10 s", "12 s")
    assert [axes.seconds(v, 2) for v in (3e-4, 0.0015, 2.0, 4e-8)] == [
        "300 µs",
        "1.5 ms",
        "2.0 s",
        "40 ns",
    ]
    assert axes.power(1e-3) == "10⁻³" and axes.power(2e-12) == "2×10⁻¹²"
    assert axes.plain(1500) == "1,500" and axes.squared(4096**2) == "4096²"
    assert axes.log_axis([None, float("nan"), 0.0, -1.0]) is None
