"""Reading a Vega SVG chart back: its axes' tick labels, its legends and its marks' shapes.

Used on the SVG text the report writes (test_report_axes) and on the SVG Chromium shows
(test_report_browser), so both check what a reader sees, not the chart's spec.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

_SVG = "{http://www.w3.org/2000/svg}"
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _tree(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _role(el: ET.Element) -> set[str]:
    return set((el.get("class") or "").split())


def _groups(root: ET.Element, role: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{_SVG}g") if role in _role(g)]


def axis_labels(svg: str) -> list[list[str]]:
    """The tick labels of each axis, in drawing order (axes without labels left out)."""
    out = []
    for axis in _groups(_tree(svg), "role-axis"):
        for group in _groups(axis, "role-axis-label"):
            labels = [(t.text or "") for t in group.iter(f"{_SVG}text")]
            if labels:
                out.append(labels)
    return out


def significant_digits(label: str) -> int:
    """The most significant digits of any number in a label (``8.18204677``: 9)."""
    most = 0
    for number in _NUMBER.findall(label):
        digits = number.replace(",", "").replace(".", "").lstrip("0")
        if "." not in number:
            digits = digits.rstrip("0")
        most = max(most, len(digits))
    return most


def shape_of(d: str) -> str:
    """A symbol path's shape: ``circle`` (arcs), ``triangle`` (3 corners), ``square`` (4)."""
    if "A" in d or "a" in d:
        return "circle"
    corners = len(re.findall(r"[LlHhVv]", d)) + 1
    return {3: "triangle", 4: "square"}.get(corners, f"{corners}-gon")


@dataclass(frozen=True)
class LegendEntry:
    """One entry of a legend: its text, its symbol's fill, stroke, shape and dash."""

    legend: str
    label: str
    fill: str | None
    stroke: str | None
    shape: str
    dash: str | None


def legend_entries(svg: str) -> list[LegendEntry]:
    """Every entry of every legend, with the legend's title."""
    out = []
    for legend in _groups(_tree(svg), "role-legend"):
        titles = [t.text or "" for g in _groups(legend, "role-legend-title") for t in g.iter()]
        title = "".join(t for t in titles if t)
        for entry in _groups(legend, "role-legend-entry"):
            symbols = [
                p for g in _groups(entry, "role-legend-symbol") for p in g.iter(f"{_SVG}path")
            ]
            labels = [t.text or "" for g in _groups(entry, "role-legend-label") for t in g.iter()]
            labels = [t for t in labels if t]
            for path, label in zip(symbols, labels, strict=True):
                out.append(
                    LegendEntry(
                        title,
                        label,
                        path.get("fill"),
                        path.get("stroke"),
                        shape_of(path.get("d") or ""),
                        path.get("stroke-dasharray"),
                    )
                )
    return out


def mark_symbols(svg: str) -> set[tuple[str | None, str]]:
    """(fill, shape) of every point the chart draws (not the legends' symbols)."""
    out = set()
    for group in _groups(_tree(svg), "role-mark"):
        if "mark-symbol" in _role(group):
            for path in group.iter(f"{_SVG}path"):
                out.add((path.get("fill"), shape_of(path.get("d") or "")))
    return out
