"""Where the time went, night against night: hot-spot shares that moved.

For one cell, per grain (loop, line, function), from the ``hot_shares`` rows of each night:

* a share that moved by at least ``points`` percentage points (shown);
* an entry in the new top ``top`` that was not in the base's top ``top`` (shown);
* a spot that *became hot*: it entered the top and grew by at least ``points`` and, where
  both nights' profiled render times are known, by at least ``min_delta_s`` seconds of
  time (a regression; 5 points of a 0.3 ms render are 15 µs, which a shared host moves).
  A spot already in the top that moves is shown only: one profiled render's
  shares move by several points between identical nights (measured: 91.5 % -> 97.5 %).

A key missing from a night's rows had less than that night's smallest kept share; it reads 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class HotShift:
    """One hot spot whose share moved, or that entered the top.

    Attributes:
        grain: ``loop`` | ``line`` | ``function``.
        key: the loop id, ``module:line`` or function.
        label: what a reader sees (``module:line`` for a loop).
        base_pct: its share in the base night (0 when not kept there).
        new_pct: its share in the new night.
        delta: ``new_pct - base_pct``, in points.
        entered_top: it is in the new top and was not in the base's.
        grew: it entered the top and grew by at least the points and the time asked for (a
            regression).
    """

    grain: str
    key: str
    label: str
    base_pct: float
    new_pct: float
    delta: float
    entered_top: bool
    grew: bool

    def line(self) -> str:
        """One line for the report."""
        what = f"{self.grain} {self.label}: {self.base_pct:.1f}% -> {self.new_pct:.1f}%"
        what += f" ({self.delta:+.1f} points)"
        return what + (" (new in the top)" if self.entered_top else "")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _by_grain(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Mapping[str, Any]]]:
    out: dict[str, dict[str, Mapping[str, Any]]] = {}
    for r in rows:
        out.setdefault(str(r["grain"]), {})[str(r["key"])] = r
    return out


def hot_shifts(
    base: Iterable[Mapping[str, Any]],
    new: Iterable[Mapping[str, Any]],
    *,
    points: float = 5.0,
    top: int = 5,
    render_s: tuple[float | None, float | None] = (None, None),
    min_delta_s: float = 0.0,
) -> list[HotShift]:
    """Shifts between two nights' hot spots of one cell (see the module docstring).

    Args:
        base: the base night's ``hot_shares`` rows of the cell.
        new: the new night's rows of the cell.
        points: the move that matters, in percentage points.
        top: the size of the top compared for new entries.
        render_s: the base and new nights' profiled render seconds (None: unknown).
        min_delta_s: the least growth of a spot's time, in seconds, for a regression (used
            when both render times are known).
    """
    b, n = _by_grain(base), _by_grain(new)
    out = []
    for grain in sorted(set(b) | set(n)):
        bg, ng = b.get(grain, {}), n.get(grain, {})
        if not bg or not ng:
            continue  # a grain measured on one night only says nothing about a move
        base_top = {k for k, r in bg.items() if int(r["rank"]) <= top}
        for key in sorted(set(bg) | set(ng)):
            bp = float(bg[key]["pct"]) if key in bg else 0.0
            np_ = float(ng[key]["pct"]) if key in ng else 0.0
            entered = key in ng and int(ng[key]["rank"]) <= top and key not in base_top
            delta = np_ - bp
            if abs(delta) >= points or entered:
                grew = entered and delta >= points and _grew_by(bp, np_, render_s, min_delta_s)
                label = str((ng.get(key) or bg.get(key) or {}).get("label") or key)
                out.append(HotShift(grain, key, label, bp, np_, delta, entered, grew))
    return sorted(out, key=lambda s: (-abs(s.delta), s.grain, s.key))


def _grew_by(
    base_pct: float,
    new_pct: float,
    render_s: tuple[float | None, float | None],
    min_delta_s: float,
) -> bool:
    """Did the spot's time (its share of that night's profiled render) grow by the floor?"""
    base_s, new_s = render_s
    if not min_delta_s or not base_s or not new_s:
        return True
    return new_pct / 100 * float(new_s) - base_pct / 100 * float(base_s) >= min_delta_s
