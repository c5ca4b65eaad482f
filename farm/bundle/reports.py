"""The bundle's report files: benchmark_results.json, correlation.txt, the analysis, summary.md.

Everything here is rebuilt from what is on disk (cell records and table parts), so a resumed
or interrupted bundle gets reports that describe exactly the cells it holds. The analysis step
(:func:`analysis.evidence.analyse_bundle`) runs here too; when it fails, summary.md says
so instead of staying silent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis.evidence import BundleAnalysis, analyse
from analysis.nights.summarise import summarise_bundle
from analysis.tables.parts import write_json_atomic, write_text_atomic
from farm.bundle.folder import Bundle
from farm.bundle.summary import RunFacts, summary_markdown
from farm.bundle.text_format import num, thresholds_line
from farm.bundle.torch_env import COMMAND as TORCH_ENV_ARGV
from farm.error_text import one_line_error
from farm.grid import Cell, Grid


def write_reports(
    bundle: Bundle,
    grid: Grid,
    cells: list[Cell],
    *,
    packages: dict[str, Path],
    stopped: str | None = None,
    wall_s: float | None = None,
    ray_start_s: float | None = None,
    ray_how: str | None = None,
    tests: dict[str, Any] | None = None,
    references: list[dict[str, Any]] | None = None,
    resume: str | None = None,
    concurrent: str | None = None,
    torch_env_pending: bool = False,
) -> dict[str, int]:
    """Write benchmark_results.json (also in profile/), correlation.txt, analysis, summary.md.

    ``stopped`` says why the run ended early (Ctrl-C, SIGTERM, a write error), if it did;
    ``resume`` is the exact command that completes the bundle; ``concurrent`` the warning
    about other sweeps on this host; ``torch_env_pending`` whether torch_env.txt is still being
    collected (summary.md lists it, and its command, as coming after it).

    Returns:
        Cells by status: ``ok``, ``failed``, ``skipped``, ``pending``.

    Raises:
        WriteError: a file could not be written (the disk is full); the bundle stays
            resumable.
    """
    by_id = finished_records(bundle, cells)
    counts = _counts(cells, by_id)
    results = [by_id[c.cell_id] for c in cells if c.cell_id in by_id]
    for path in ("benchmark_results.json", "profile/benchmark_results.json"):
        write_json_atomic(bundle.file(path), results)  # the seed task keeps one in profile/
    write_text_atomic(bundle.file("correlation.txt"), correlation_text(grid, cells, by_id))
    analysis = run_analysis(bundle, packages)
    summarise_night(bundle)
    run = RunFacts(
        stopped=stopped,
        wall_s=wall_s,
        ray_start_s=ray_start_s,
        ray_how=ray_how,
        tests=tests,
        references=references or [],
        resume=resume,
        concurrent=concurrent,
        later_files=["report.html", *(["torch_env.txt"] if torch_env_pending else [])],
        later_commands=[" ".join(TORCH_ENV_ARGV)] if torch_env_pending else [],
    )
    summary = summary_markdown(
        bundle,
        grid,
        cells,
        by_id,
        counts,
        run=run,
        analysis=analysis.sections,
        hypotheses=analysis.hypotheses,
    )
    write_text_atomic(bundle.file("summary.md"), summary)
    return counts


def finished_records(bundle: Bundle, cells: list[Cell]) -> dict[str, dict[str, Any]]:
    """The records of the cells that have rows, by cell id."""
    done = bundle.done_cells()
    return {r["cell_id"]: r for r in bundle.cell_records(cells) if r.get("cell_id") in done}


def _counts(cells: list[Cell], by_id: dict[str, dict[str, Any]]) -> dict[str, int]:
    counts = {"ok": 0, "failed": 0, "skipped": 0, "pending": 0}
    for cell in cells:
        status = by_id.get(cell.cell_id, {}).get("status", "pending")
        counts[status if status in counts else "failed"] += 1
    return counts


def count_cells(bundle: Bundle, cells: list[Cell]) -> dict[str, int]:
    """Cells by status, read from disk (what :func:`write_reports` returns)."""
    return _counts(cells, finished_records(bundle, cells))


def run_analysis(bundle: Bundle, packages: dict[str, Path]) -> BundleAnalysis:
    """Run :func:`analyse`; return its sections, or one that says why they are missing."""
    missing = (
        "loops and hot_loops tables, hot_loops.csv, backlog.md and the CPU-vs-GPU table "
        "are not in this bundle"
    )
    try:
        result = analyse(bundle.path, packages)
    except KeyboardInterrupt:
        bundle.log("# analysis interrupted by Ctrl-C")
        return BundleAnalysis([f"## Analysis\n\n**Interrupted** (Ctrl-C); {missing}.\n"])
    except Exception as exc:
        bundle.log(f"# analysis failed: {one_line_error(exc)}")
        return BundleAnalysis([f"## Analysis\n\n**Failed**: `{one_line_error(exc)}`; {missing}.\n"])
    scanned = ", ".join(f"{name} ({path})" for name, path in packages.items()) or "none"
    bundle.log(f"# analysis ok: loops of {scanned} inventoried, attributed and ranked")
    return result


def summarise_night(bundle: Bundle) -> None:
    """Write the bundle's ``cell_stats`` and ``hot_shares`` (what farm compare/history read).

    A failure is logged: those commands summarise the bundle themselves when they need it.
    """
    try:
        counts = summarise_bundle(bundle.path)
    except Exception as exc:
        bundle.log(f"# night summary not written: {one_line_error(exc)}")
        return
    bundle.log(f"# night summary: {counts['cell_stats']} cells, {counts['hot_shares']} hot spots")


def correlation_text(grid: Grid, cells: list[Cell], by_id: dict[str, dict[str, Any]]) -> str:
    """correlation.txt: one line per cell: corr, sum ratio and verdict, or why there is none."""
    lines = [f"# reference: {grid.reference}", thresholds_line()]
    for cell in cells:
        rec = by_id.get(cell.cell_id)
        if rec is None:
            text = "pending (no rows yet)"
        elif rec.get("status") in ("failed", "skipped") and rec.get("correlation_warm") is None:
            text = f"{rec['status']}: {rec.get('error')}"
        elif rec.get("correlation_line"):
            text = rec["correlation_line"]
        elif rec.get("correlation_warm") is not None:
            text = (
                f"corr={rec['correlation_warm']:.6f} sum_ratio={num(rec.get('sum_ratio'), 6)} "
                f"verdict={rec.get('verdict')}"
            )
        else:
            text = (
                f"{rec.get('correlation_status') or 'no_reference'}: {rec.get('correlation_error')}"
            )
        lines.append(f"{cell.tag}\t{text}")
    return "\n".join(lines) + "\n"
