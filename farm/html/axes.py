"""Axis domains, ticks and tick labels of the report's logarithmic axes, chosen here.

Left to itself, Vega labels a log axis with the raw data value when a series has one point
(``8.18204677``, ``16.777216M``) and crowds a narrow domain (``0.00040.0005``). Here each
log axis gets a domain padded around its data (a one-point series too), 2 to 8 ticks at
round values (decades, then 1-2-5, then 1-9 per decade, then a linear step for a narrow
span), and labels with the fewest significant digits that write them exactly, each with its
unit where it has one (``300 µs``, ``2 s``, ``10⁻¹²``, ``4096²``). Vega draws the ticks as
given (``axis.values``) and reads each label from a chain of comparisons (``labelExpr``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: Most ticks on one axis.
MAX_TICKS = 7
#: A log axis spans at least this factor (a single point sits in the middle of it).
MIN_RATIO = 2.5
#: Room left beyond the data on each side, as a share of the data's log span.
PAD = 0.06
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class LogAxis:
    """A log scale's domain, its tick values and their labels."""

    domain: tuple[float, float]
    ticks: tuple[float, ...]
    labels: tuple[str, ...]

    def scale(self, base: float = 10) -> dict[str, Any]:
        """Keyword arguments of ``alt.X(...).scale``."""
        return {"type": "log", "base": base, "domain": list(self.domain), "nice": False}

    def axis(self) -> dict[str, Any]:
        """Keyword arguments of ``alt.X(...).axis``: these ticks, these labels, no others."""
        return {"values": list(self.ticks), "labelExpr": label_expr(self.ticks, self.labels)}


def label_expr(ticks: Sequence[float], labels: Sequence[str]) -> str:
    """A Vega expression giving each tick its label (switching at the geometric midpoints)."""
    expr = json.dumps(labels[-1], ensure_ascii=False)
    for i in range(len(ticks) - 2, -1, -1):
        mid = math.sqrt(ticks[i] * ticks[i + 1])
        expr = f"datum.value < {mid!r} ? {json.dumps(labels[i], ensure_ascii=False)} : {expr}"
    return expr


def log_axis(
    values: Iterable[float | None], label: Callable[[float, int], str] | None = None
) -> LogAxis | None:
    """An axis for the positive finite ``values`` (None when there is none).

    Args:
        values: every value the axis must show (points, bars' ends, reference lines).
        label: one tick's text at a given precision is ``label(value)``; default plain.
    """
    lo, hi = _padded(values)
    if lo is None:
        return None
    ticks = round_ticks(lo, hi)
    return LogAxis((lo, hi), tuple(ticks), tuple(_labels(ticks, label or plain)))


def at_values(
    values: Iterable[float], label: Callable[[float], str], min_ratio: float = MIN_RATIO
) -> LogAxis | None:
    """A log axis with one tick at each distinct value (the grid's sizes), labelled ``label``."""
    ticks = sorted({v for v in values if v and v > 0 and math.isfinite(v)})
    lo, hi = _padded(ticks, min_ratio)
    if lo is None:
        return None
    return LogAxis((lo, hi), tuple(ticks), tuple(label(t) for t in ticks))


def _padded(
    values: Iterable[float | None], min_ratio: float = MIN_RATIO
) -> tuple[float, float] | tuple[None, None]:
    vs = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not vs:
        return None, None
    llo, lhi = math.log10(min(vs)), math.log10(max(vs))
    margin = max((lhi - llo) * PAD, (math.log10(min_ratio) - (lhi - llo)) / 2)
    return 10 ** (llo - margin), 10 ** (lhi + margin)


def round_ticks(lo: float, hi: float, max_ticks: int = MAX_TICKS) -> list[float]:
    """Round tick values inside ``[lo, hi]``: decades; under a decade a linear step first."""
    e0, e1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    decades = list(range(e0, e1 + 1))

    def inside(mults: Sequence[int]) -> list[float]:
        out = [float(f"{m}e{e}") for e in decades for m in mults]
        return [t for t in out if lo <= t <= hi]

    powers = inside([1])
    if len(powers) >= 3:
        step = math.ceil(len(powers) / max_ticks)
        return [t for t in powers if round(math.log10(t)) % step == 0]
    tried = [powers]
    linear = [_linear(lo, hi, n) for n in (5, 4, 3)]
    per_decade = [inside((1, 2, 5)), inside((1, 2, 3, 4, 5, 6, 7, 8, 9))]
    narrow = math.log10(hi / lo) < 1
    for ticks in (linear + per_decade) if narrow else (per_decade + linear):
        if 3 <= len(ticks) <= max_ticks:
            return ticks
        tried.append(ticks)
    return max((t for t in tried if len(t) <= max_ticks), key=len)


def _linear(lo: float, hi: float, target: int) -> list[float]:
    raw = (hi - lo) / target
    base = 10 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= raw)
    first, last = math.ceil(lo / step), math.floor(hi / step)
    return [float(f"{k * step:.12g}") for k in range(first, last + 1)]


def _labels(ticks: Sequence[float], label: Callable[[float, int], str]) -> list[str]:
    """Each tick's label at the fewest significant digits (1 to 6) that write it exactly."""
    return [label(t, _digits(t)) for t in ticks]


def _digits(value: float) -> int:
    for digits in range(1, 7):
        if math.isclose(float(f"{value:.{digits}g}"), value, rel_tol=1e-9):
            return digits
    return 6


def plain(value: float, digits: int = 3) -> str:
    """``value`` rounded to ``digits`` significant digits, without an exponent (``1,500``)."""
    if value == 0:
        return "0"
    decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0)
    return f"{round(value, decimals):,.{decimals}f}"


def seconds(value: float, digits: int = 3) -> str:
    """A time with the unit that keeps it at or above 1: ``300 µs``, ``1.5 ms``, ``8 s``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{plain(value / scale, digits)} {unit}"
    return f"{plain(value / 1e-9, digits)} ns"


def power(value: float, digits: int = 1) -> str:
    """A power of ten as ``10⁻¹²``; another value as ``2×10⁻¹²``."""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10**exponent
    head = "" if abs(mantissa - 1) < 1e-9 else f"{plain(mantissa, digits)}×"
    return f"{head}10{str(exponent).translate(_SUPERSCRIPT)}"


def squared(size: float) -> str:
    """A square image's pixel count by its side: ``4096²``."""
    return f"{round(math.sqrt(size))}²"
