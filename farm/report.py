"""The bundle's derived reports: benchmark_results.json, correlation.txt, summary.md.

Everything here is rebuilt from what is on disk (cell records and table parts), so a resumed
or interrupted bundle gets reports that describe exactly the cells it holds. The analysis step
(:func:`analysis.evidence.analyse.analyse_bundle`) runs here too; when it fails, summary.md says
so instead of staying silent.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from analysis.evidence import analyse_bundle
from analysis.parity.tolerances import GATE_CORR, STRICT_CORR, SUM_RATIO_TOL
from analysis.tables.parts import read_table, write_json_atomic, write_text_atomic
from farm.bundle import Bundle
from farm.grid import Cell, Grid
from farm.results import one_line_error

#: pyperf's rules for an unstable benchmark.
STDEV_WARN = 0.10  # stdev >= 10 % of the mean
OUTLIER_WARN = 0.50  # min or max 50 % off the median
SHORT_SAMPLE_S = 1e-3  # a sample under 1 ms


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
) -> dict[str, int]:
    """Write benchmark_results.json, correlation.txt, the analysis and summary.md.

    ``stopped`` says why the run ended early (Ctrl-C, Ray unreachable), if it did.

    Returns:
        Cells by status: ``ok``, ``failed``, ``skipped``, ``pending``.
    """
    records = bundle.cell_records(cells)
    done = bundle.done_cells()
    by_id = {r["cell_id"]: r for r in records if r.get("cell_id") in done}
    counts = {"ok": 0, "failed": 0, "skipped": 0, "pending": 0}
    for cell in cells:
        status = by_id.get(cell.cell_id, {}).get("status", "pending")
        counts[status if status in counts else "failed"] += 1

    write_json_atomic(
        bundle.file("benchmark_results.json"),
        [by_id[c.cell_id] for c in cells if c.cell_id in by_id],
    )
    write_text_atomic(bundle.file("correlation.txt"), correlation_text(grid, cells, by_id))
    analysis = run_analysis(bundle, packages)
    summary = summary_markdown(
        bundle,
        grid,
        cells,
        by_id,
        counts,
        stopped=stopped,
        wall_s=wall_s,
        ray_start_s=ray_start_s,
        ray_how=ray_how,
        tests=tests,
        references=references or [],
        analysis=analysis,
    )
    write_text_atomic(bundle.file("summary.md"), summary)
    return counts


def run_analysis(bundle: Bundle, packages: dict[str, Path]) -> list[str]:
    """Run :func:`analyse_bundle`; return its sections, or one that says why they are missing."""
    missing = (
        "loops and hot_loops tables, hot_loops.csv, backlog.md and the CPU-vs-GPU table "
        "are not in this bundle"
    )
    try:
        sections = list(analyse_bundle(bundle.path, packages))
    except KeyboardInterrupt:
        bundle.log("# analysis interrupted by Ctrl-C")
        return [f"## Analysis\n\n**Interrupted** (Ctrl-C); {missing}.\n"]
    except Exception as exc:
        bundle.log(f"# analysis failed: {one_line_error(exc)}")
        return [f"## Analysis\n\n**Failed**: `{one_line_error(exc)}`; {missing}.\n"]
    bundle.log(
        f"# analysis: analyse_bundle(packages={ {k: str(v) for k, v in packages.items()} }) ok"
    )
    return sections


# correlation.txt ------------------------------------------------------------------------------


def _thresholds_line() -> str:
    return (
        f"# gate: corr >= {GATE_CORR} and |sum_ratio - 1| <= {SUM_RATIO_TOL}; "
        f"strict: corr >= {STRICT_CORR}"
    )


def correlation_text(grid: Grid, cells: list[Cell], by_id: dict[str, dict[str, Any]]) -> str:
    """One line per cell: corr, sum ratio and verdict, or why there is none."""
    lines = [f"# reference: {grid.reference}", _thresholds_line()]
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
                f"corr={rec['correlation_warm']:.6f} sum_ratio={_f(rec.get('sum_ratio'), 6)} "
                f"verdict={rec.get('verdict')}"
            )
        else:
            text = (
                f"{rec.get('correlation_status') or 'no_reference'}: {rec.get('correlation_error')}"
            )
        lines.append(f"{cell.tag}\t{text}")
    return "\n".join(lines) + "\n"


# summary.md -----------------------------------------------------------------------------------


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _t(seconds: Any) -> str:
    """A time in seconds with 4 significant digits (``-`` when unknown)."""
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return "-"
    return f"{seconds:.4g}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def stability_warnings(rec: dict[str, Any]) -> list[str]:
    """pyperf-style warnings for a cell's warm samples, each saying what to do."""
    samples = [s for s in rec.get("py_time_warm_samples") or [] if s is not None]
    if not samples:
        return []
    out = []
    if len(samples) == 1:
        out.append(
            "only 1 warm run: no spread is known; set `iterations` to 3 or more for medians "
            "that can be compared"
        )
        if samples[0] < SHORT_SAMPLE_S:
            out.append(f"the warm run took {samples[0] * 1e3:.3f} ms (< 1 ms): use a larger size")
        return out
    mean = statistics.fmean(samples)
    median = statistics.median(samples)
    stdev = statistics.stdev(samples)
    if mean > 0 and stdev / mean >= STDEV_WARN:
        out.append(
            f"the standard deviation is {100 * stdev / mean:.0f}% of the mean (>= 10%): the "
            "timing is unstable; close other programs, pin threads, or raise `iterations`"
        )
    lo, hi = min(samples), max(samples)
    if median > 0 and (median - lo) / median >= OUTLIER_WARN:
        out.append(f"the minimum is {100 * (median - lo) / median:.0f}% below the median")
    if median > 0 and (hi - median) / median >= OUTLIER_WARN:
        out.append(
            f"the maximum is {100 * (hi - median) / median:.0f}% above the median: "
            "look for a warm-up effect or interference"
        )
    if lo < SHORT_SAMPLE_S:
        out.append(f"the shortest warm run took {lo * 1e3:.3f} ms (< 1 ms): use a larger size")
    return out


def summary_markdown(
    bundle: Bundle,
    grid: Grid,
    cells: list[Cell],
    by_id: dict[str, dict[str, Any]],
    counts: dict[str, int],
    *,
    stopped: str | None,
    wall_s: float | None,
    ray_start_s: float | None,
    ray_how: str | None,
    tests: dict[str, Any] | None,
    references: list[dict[str, Any]],
    analysis: list[str],
) -> str:
    """The human summary: state, timings, correlation verdicts, failures, warnings, analysis."""
    parts: list[str] = [f"# Sweep {grid.campaign}/{grid.phase} {bundle.stamp}\n"]
    if grid.description:
        parts.append(grid.description.strip() + "\n")
    complete = counts["pending"] == 0 and stopped is None
    state = (
        "complete"
        if complete
        else (
            f"**PARTIAL**: {counts['pending']} of {len(cells)} cells have no rows yet"
            + (f" ({stopped})" if stopped else "")
            + f"; complete it with `farm sweep --grid {grid.path} --resume {bundle.stamp}`"
        )
    )
    facts = [
        f"- State: {state}",
        f"- Cells: {len(cells)} = {counts['ok']} ok, {counts['failed']} failed, "
        f"{counts['skipped']} skipped, {counts['pending']} pending",
        f"- Grid: `{grid.path}` (copied as `grid.toml`); target `{grid.target}`; reference "
        f"`{grid.reference}`; {grid.iterations} warm iteration(s); profile {grid.profile}",
    ]
    if wall_s is not None:
        ray = f"; Ray {ray_how} in {ray_start_s:.1f} s" if ray_start_s is not None else ""
        facts.append(f"- Wall time of this run: {wall_s:.1f} s{ray}")
    if tests is not None:
        facts.append(
            f"- Tests collected: {tests.get('count')} (`pytest --collect-only -q` exit "
            f"{tests.get('rc')}; see `pytest_collect.log`)"
        )
    elif grid.collect_tests:
        facts.append("- Tests collected: see `pytest_collect.log` (from an earlier run)")
    nodes = sorted({r.get("node") for r in by_id.values() if r.get("node")})
    threads = sorted({r.get("threads") for r in by_id.values() if r.get("threads")})
    if nodes:
        facts.append(f"- Nodes: {', '.join(nodes)}; torch threads per actor: {threads}")
    parts.append("\n".join(facts) + "\n")

    parts.append("## Timings\n")
    parts.append(
        "Cold = construction + first render; warm = median of the timed renders (spread = "
        "min-max); profiled = one render under torch.profiler (x = its ratio to the warm "
        "median). Peak memory: RSS on CPU, max allocated on CUDA (MiB).\n"
    )
    rows = []
    for cell in cells:
        r = by_id.get(cell.cell_id)
        if r is None:
            rows.append([cell.tag, "pending", *["-"] * 8])
            continue
        spread = (
            f"{_t(r.get('py_time_warm_min'))}-{_t(r.get('py_time_warm_max'))} "
            f"(n={r.get('iterations')})"
            if r.get("iterations")
            else "-"
        )
        prof = (
            f"{_t(r.get('py_time_profiled'))} (x{_f(r.get('profile_overhead'), 2)})"
            if r.get("py_time_profiled") is not None
            else "-"
        )
        rows.append(
            [
                cell.tag,
                str(r.get("status")),
                f"{_t(r.get('py_time_cold'))} ({_t(r.get('py_setup_cold'))} + "
                f"{_t(r.get('py_sim_cold'))})",
                _t(r.get("py_time_warm")),
                spread,
                prof,
                f"{_f(r.get('py_mem_cold'), 0)} / {_f(r.get('py_mem_warm'), 0)}",
                _t(r.get("c_time")),
                _f(r.get("speedup_warm"), 2),
                _f(r.get("threads")),
            ]
        )
    parts.append(
        _table(
            [
                "cell",
                "status",
                "cold s (setup + sim)",
                "warm s",
                "warm spread s",
                "profiled s",
                "peak MiB cold/warm",
                "reference s",
                "speedup warm",
                "threads",
            ],
            rows,
        )
        + "\n"
    )

    parts.append("## Correlation\n")
    parts.append(correlation_section(bundle, grid, cells, by_id, references))

    failures = [
        [cell.tag, by_id[cell.cell_id]["status"], f"`{by_id[cell.cell_id].get('error')}`"]
        for cell in cells
        if cell.cell_id in by_id and by_id[cell.cell_id].get("status") in ("failed", "skipped")
    ]
    parts.append("## Failures and skips\n")
    parts.append((_table(["cell", "status", "why"], failures) if failures else "None.") + "\n")

    warnings = [
        f"- `{cell.tag}`: {w}"
        for cell in cells
        if cell.cell_id in by_id
        for w in stability_warnings(by_id[cell.cell_id])
    ]
    parts.append("## Stability warnings\n")
    parts.append(("\n".join(warnings) if warnings else "None.") + "\n")

    notes: dict[str, list[str]] = {}
    for cell in cells:
        for note in (by_id.get(cell.cell_id) or {}).get("notes", []):
            notes.setdefault(note, []).append(cell.tag)
    if notes:
        parts.append("## Steps that did not run\n")
        parts.append(
            "\n".join(f"- {note} (cells: {', '.join(tags)})" for note, tags in notes.items()) + "\n"
        )

    parts.extend(s if s.endswith("\n") else s + "\n" for s in analysis)

    files = sorted(
        p.relative_to(bundle.path).as_posix()
        for p in bundle.path.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    listed = [f for f in files if not f.startswith(("tables/", "cells/"))]
    n_parts = sum(1 for f in files if f.startswith("tables/"))
    parts.append("## Files\n")
    if "summary.md" not in listed:
        listed.append("summary.md")
    parts.append(
        "\n".join(f"- `{f}`" for f in listed)
        + f"\n- `tables/`: {n_parts} Parquet parts; `cells/`: one benchmark record per cell\n"
    )
    return "\n".join(parts)


def correlation_section(
    bundle: Bundle,
    grid: Grid,
    cells: list[Cell],
    by_id: dict[str, dict[str, Any]],
    references: list[dict[str, Any]],
) -> str:
    """Verdict table from table ``correlations`` (one row per cell with an image)."""
    corr = read_table(bundle.path, "correlations")
    rows_by_id = {r["cell_id"]: r for r in corr.to_pylist()} if corr.num_rows else {}
    rows = []
    for cell in cells:
        r = rows_by_id.get(cell.cell_id)
        rec = by_id.get(cell.cell_id) or {}
        if r is None:
            rows.append([cell.tag, grid.reference, "-", "-", "-", rec.get("status", "pending")])
            continue
        rows.append(
            [
                cell.tag,
                str(r.get("reference")),
                f"{_f(rec.get('correlation_cold'), 6)} / {_f(r.get('corr'), 6)}",
                _f(r.get("sum_ratio"), 6),
                str(r.get("verdict")),
                str(r.get("error") or ""),
            ]
        )
    out = _table(["cell", "reference", "corr cold / warm", "sum ratio", "verdict", "note"], rows)
    out += "\n\n" + _thresholds_line().lstrip("# ") + "\n"
    if references:
        out += (
            "\nReferences computed for this run:\n\n"
            + "\n".join(
                f"- {m['engine']} `{m['flags']}`: {m['status']}"
                + (f", {_t(m['wall_s'])} s" if m.get("wall_s") is not None else "")
                + (f" ({m['error']})" if m.get("error") else "")
                for m in references
            )
            + "\n"
        )
    return out
