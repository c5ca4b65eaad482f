"""Altair charts to inline SVG: static pictures, no JavaScript, nothing from the network.

vl-convert renders Vega-Lite in-process (an embedded engine, no browser and no network) to
SVG text. Several SVGs inline in one page share one id namespace, so each chart's ids
(``gradient_0``, clip paths) get the chart's own prefix. Non-finite numbers become nulls
(JSON has no NaN).
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

import altair as alt
import vl_convert
from markupsafe import Markup

_ID = re.compile(r'\bid="([^"]+)"')


def records(rows: list[dict[str, Any]]) -> alt.Data:
    """Inline chart data, with NaN and infinities as nulls."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return alt.Data(values=[{k: clean(v) for k, v in r.items()} for r in rows])


def svg(chart: alt.TopLevelMixin, prefix: str, name: str | None = None) -> Markup:
    """The chart as an inline ``<svg>`` element whose ids start with ``prefix``.

    ``name`` (which figure it is) goes into ``data-figure``, for the browser test.

    Raises:
        ValueError: the chart's spec is invalid (Altair's validation) or cannot be rendered.
    """
    spec = chart.to_dict()
    text = vl_convert.vegalite_to_svg(spec)
    ids = set(_ID.findall(text))
    for old in sorted(ids, key=len, reverse=True):
        text = text.replace(f'id="{old}"', f'id="{prefix}-{old}"')
        text = text.replace(f"url(#{old})", f"url(#{prefix}-{old})")
        text = text.replace(f'href="#{old}"', f'href="#{prefix}-{old}"')
    figure = f' data-figure="{name}"' if name else ""
    text = text.replace("<svg ", f'<svg data-chart="{prefix}"{figure} ', 1)
    return Markup(text)


class ChartSet:
    """The charts of one page: each gets the next id (``c1``, ``c2``, ...) and is counted."""

    def __init__(self, prefix: str = "c") -> None:
        self.prefix = prefix
        self.count = 0
        self.seconds = 0.0

    def render(self, chart: alt.TopLevelMixin, name: str | None = None) -> Markup:
        """The chart as inline SVG, numbered on this page (``name``: which figure)."""
        start = time.perf_counter()
        self.count += 1
        out = svg(chart, f"{self.prefix}{self.count}", name)
        self.seconds += time.perf_counter() - start
        return out
