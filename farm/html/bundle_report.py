"""``report.html`` of one bundle: every chart and table in one self-contained file.

Data: :func:`analysis.evidence.report_data.gather` (the bundle's Parquet tables through
DuckDB, its env.json, grid.toml and commands.txt). Charts: Altair specs drawn to static SVG
by vl-convert (:mod:`farm.html.svg`), so the page has no script and loads nothing: it
works from ``file://`` with no network. The number of charts is in
``<meta name="farm-charts">`` for the browser test.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from analysis.evidence.report_data import ReportData, gather
from analysis.tables.parts import write_text_atomic
from farm.error_text import short_error
from farm.html.evidence_sections import cpu_gpu_section, parity_section, ranking_section
from farm.html.page import Section, document, para, warning
from farm.html.provenance_sections import (
    REPORT_NAME,
    environment_section,
    failures_section,
    stability_section,
    traces_section,
)
from farm.html.svg import ChartSet
from farm.html.timing_sections import memory_section, phases_section, scaling_section


@dataclass(frozen=True)
class ReportResult:
    """A written report: where, how large, how many charts, how long it took."""

    path: Path
    bytes: int
    charts: int
    seconds: float
    render_seconds: float


def _grid_facts(data: ReportData) -> dict[str, str]:
    try:
        grid = tomllib.loads(data.grid_text) if data.grid_text else {}
    except tomllib.TOMLDecodeError:
        grid = {}
    path = data.bundle_dir
    return {
        "campaign": str(grid.get("campaign") or path.parent.parent.name),
        "phase": str(grid.get("phase") or path.parent.name),
        "description": " ".join(str(grid.get("description") or "").split()),
    }


def _summary(data: ReportData, state: str | None) -> Section:
    counts: dict[str, int] = {}
    for c in data.cells:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    verdicts: dict[str, int] = {}
    for r in data.correlations:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    sec = Section("summary", "Summary")
    if state:
        sec.add(warning(state) if "PARTIAL" in state else para(f"State: {state}"))
    sec.add(
        "Cells: "
        + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none")
        + "; parity: "
        + (", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())) or "no correlation rows")
        + "."
    )
    for w in data.warnings:
        sec.add(warning(w))
    sec.add(
        para(
            "Every figure here is read from this bundle's Parquet tables (tables/) with "
            "DuckDB; farm sql runs the same queries over every bundle.",
            "note",
        )
    )
    return sec


def render_report(data: ReportData, state: str | None = None) -> tuple[str, ChartSet]:
    """The page as text, and the charts it drew."""
    charts = ChartSet()
    facts = _grid_facts(data)
    sections = [
        _summary(data, state),
        scaling_section(data, charts),
        phases_section(data, charts),
        memory_section(data, charts),
        ranking_section(data, charts),
        cpu_gpu_section(data, charts),
        parity_section(data, charts),
        stability_section(data),
        failures_section(data),
        traces_section(data),
        environment_section(data),
    ]
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    subtitle = [
        s for s in (facts["description"], f"Bundle {data.bundle_dir}; report written {made}.") if s
    ]
    html = document(
        f"{facts['campaign']}/{facts['phase']} {data.stamp}",
        subtitle,
        sections,
        {"farm-charts": str(charts.count), "farm-stamp": data.stamp},
    )
    return html, charts


def write_bundle_report(
    bundle_dir: Path, packages: dict[str, Path] | None = None, state: str | None = None
) -> ReportResult:
    """Write ``<bundle>/report.html``.

    Args:
        bundle_dir: the bundle folder.
        packages: target name -> package folder, for the source lines of ranked rows.
        state: one line on the bundle's state (complete, or PARTIAL and how to resume).
    """
    start = time.perf_counter()
    data = gather(Path(bundle_dir), packages)
    html, charts = render_report(data, state)
    path = write_text_atomic(Path(bundle_dir) / REPORT_NAME, html)
    return ReportResult(
        path, len(html.encode("utf-8")), charts.count, time.perf_counter() - start, charts.seconds
    )


def sweep_state(counts: dict[str, int], stopped: str | None, resume: str) -> str:
    """``complete``, or ``PARTIAL: ...`` with the command that completes the bundle."""
    pending = counts.get("pending", 0)
    if not pending and stopped is None:
        return "complete"
    why = f" ({stopped})" if stopped else ""
    return (
        f"PARTIAL: {pending} of {sum(counts.values())} cells have no rows yet{why}; complete "
        f"it with {resume}"
    )


def write_sweep_report(
    bundle_dir: Path,
    packages: dict[str, Path],
    counts: dict[str, int],
    stopped: str | None,
    resume: str,
    log: Callable[[str], None],
) -> ReportResult | None:
    """:func:`write_bundle_report` at the end of a sweep, never failing the sweep.

    What it wrote, or why it could not, goes to ``log`` (commands.txt): a report that cannot
    be written costs the report only.
    """
    try:
        result = write_bundle_report(
            bundle_dir, packages, state=sweep_state(counts, stopped, resume)
        )
    except KeyboardInterrupt:
        log("# report.html: interrupted (farm report <STAMP> writes it)")
        return None
    except Exception as exc:
        log(f"# report.html failed: {short_error(exc)} (farm report <STAMP> retries)")
        return None
    log(
        f"# report.html: {result.bytes / 1e6:.2f} MB, {result.charts} charts, "
        f"{result.seconds:.1f} s"
    )
    return result
