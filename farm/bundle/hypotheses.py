"""summary.md's "Follow-up hypotheses": what the measurements suggest, each with its figure.

In order: cells that failed the parity gate (their shares are not evidence), cells that
failed or were skipped, cells whose timings look disturbed or cannot be compared yet (one
line per cell: its first anomaly or warning of :mod:`farm.bundle.stability`), then what
the profiles suggest and what they are blind to
(:func:`analysis.evidence.hypotheses.evidence_hypotheses`). Nothing here is free text:
each line is a template filled with the measured value it comes from.
"""

from __future__ import annotations

from typing import Any

from farm.bundle.stability import stability_warnings
from farm.bundle.text_format import num, thresholds_line
from farm.grid import Cell

_INTRO = (
    "What the measurements above suggest, each with the figure it comes from; test one "
    "before acting on it. Hand notes of the Phase B2 reader go to `notes/`.\n"
)


def hypotheses_section(
    cells: list[Cell],
    by_id: dict[str, dict[str, Any]],
    evidence: list[str],
    concurrent: str | None = None,
) -> list[str]:
    """The section's heading and list (``evidence``: the analysis' own hypotheses)."""
    lines = [*_parity(cells, by_id), *_failures(cells, by_id)]
    lines += _timings(cells, by_id, concurrent)
    lines += evidence
    body = "\n".join(f"- {line}" for line in lines) if lines else "None: nothing measured yet."
    return ["## Follow-up hypotheses\n", _INTRO, body + "\n"]


def _parity(cells: list[Cell], by_id: dict[str, dict[str, Any]]) -> list[str]:
    gate = thresholds_line().lstrip("# ").split(";")[0].removeprefix("gate: ")
    out = []
    for cell in cells:
        rec = by_id.get(cell.cell_id) or {}
        verdict = rec.get("verdict")
        if verdict in (None, "pass"):
            continue
        out.append(
            f"`{cell.tag}` failed the parity gate ({gate}): corr "
            f"{num(rec.get('correlation_warm'), 6)}, sum ratio {num(rec.get('sum_ratio'), 6)}, "
            f"verdict {verdict}. The port diverges from the reference there: find where "
            "(correlation.txt, table parity_tiles, parity/<tag>/diff.png) before optimising; "
            "its shares are not evidence until it passes."
        )
    return out


def _failures(cells: list[Cell], by_id: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for cell in cells:
        rec = by_id.get(cell.cell_id) or {}
        if rec.get("status") in ("failed", "skipped"):
            out.append(
                f"`{cell.tag}` {rec['status']}: {rec.get('error') or 'no reason recorded'}; "
                "nothing about its speed is known."
            )
    return out


def _timings(
    cells: list[Cell], by_id: dict[str, dict[str, Any]], concurrent: str | None
) -> list[str]:
    """One line per cell with warnings: its first anomaly, else its first stability warning."""
    out = []
    for cell in cells:
        warnings = stability_warnings(by_id.get(cell.cell_id) or {})
        if not warnings:
            continue
        more = len(warnings) - 1
        rest = f" ({more} more under Stability warnings)" if more else ""
        first = warnings[0]
        if first.startswith("anomaly: "):
            why = " (other sweeps shared this host's cores)" if concurrent else ""
            out.append(
                f"`{cell.tag}`: the machine, not the code, may explain its timings{why}: "
                f"{first.removeprefix('anomaly: ')}{rest}."
            )
        else:
            out.append(f"`{cell.tag}`: its warm timing cannot be compared yet: {first}{rest}.")
    return out
