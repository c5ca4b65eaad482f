"""Marks for the history index from ``farm history``'s change points.

For each campaign/phase folder, :func:`analysis.nights.history.history` finds the change
points of every cell's warm time and of its correlation. A warm-time step up is a
``regression``, a step down an ``improvement``; a drop of the correlation is ``parity``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from analysis.nights.bundles import NightsError
from analysis.nights.history import history
from farm.html.history_index import Mark

#: metric -> (kind of a step up, kind of a step down); None: not marked.
KINDS: dict[str, tuple[str | None, str | None]] = {
    "warm_s": ("regression", "improvement"),
    "corr": (None, "parity"),
}


def change_point_marks(
    root: Path, folders: list[Path], warn: Callable[[str], None] | None = None
) -> list[Mark]:
    """Marks of every change point of warm time and correlation, per folder.

    A folder whose history cannot be read (too few nights, unreadable summaries) is told to
    ``warn`` and gets no marks; the index is written anyway.
    """
    marks: list[Mark] = []
    for folder in folders:
        campaign, phase = folder.parent.name, folder.name
        for metric, (up, down) in KINDS.items():
            try:
                found = history(root, campaign=campaign, phase=phase, metric=metric, warn=warn)
            except NightsError as exc:
                if warn is not None:
                    warn(f"{campaign}/{phase} {metric}: no change points ({exc})")
                continue
            for series in found.series:
                for cp in series.change_points:
                    kind = up if cp.step > 0 else down
                    if kind is None:
                        continue
                    rel = f"{cp.rel_step:+.0%}" if cp.rel_step is not None else f"{cp.step:+.3g}"
                    note = f"{metric} {rel} (p = {cp.p_value:.2g}; commit {cp.commit or '?'})"
                    marks.append(Mark(cp.stamp, series.tag, kind, note))
    return marks
