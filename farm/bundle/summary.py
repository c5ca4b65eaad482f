"""summary.md: the human summary of a bundle, one function per section.

Sections, in order: the title and the facts (state, cells, grid, wall time, tests, nodes,
other sweeps on this host), the commands (:mod:`farm.bundle.command_list`), timings,
correlation, failures and skips, actor retries, stability warnings and anomalies, steps
that did not run, the analysis sections (from :func:`analysis.evidence.analyse`), the
follow-up hypotheses (:mod:`farm.bundle.hypotheses`), the spec links
(:mod:`farm.bundle.spec_links`), the files (those written after summary.md included).
Values are written as words and numbers, never as Python values (``None``, ``True``, lists).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from analysis.evidence import markdown_table
from analysis.tables.parts import read_table
from farm.bundle.command_list import commands_section
from farm.bundle.folder import Bundle
from farm.bundle.hypotheses import hypotheses_section
from farm.bundle.spec_links import spec_section
from farm.bundle.stability import stability_warnings
from farm.bundle.text_format import num, seconds, thresholds_line
from farm.grid import Cell, Grid

#: A cell's record by cell id (the cells that have rows).
Records = dict[str, dict[str, Any]]

_TIMINGS_NOTE = (
    'Cold = construction + first render, in a fresh actor process (`cold = "process"`) or '
    'after the cells its process ran before (`cold = "instance"`: said per cell); warm = '
    "median of the timed renders (spread = min-max), after the untimed warm-up render(s); "
    "profiled = median of the profiled renders under torch.profiler (x = `profile_ratio`, "
    "its ratio to the warm median: the profiler's overhead when neither was disturbed; over"
    " 1.5x the profile is flagged unrepresentative, under 1 the timed renders were slower "
    "than the profiled ones, so they were disturbed). Mode: how the render ran (a compile "
    "that fell back to eager is eager). Host MiB: peak RSS of the process; device MiB: peak"
    " reserved by CUDA's caching allocator (table runs also has the allocated peak and the "
    "device's free memory before and after each phase). Reference = the reference engine's "
    "own wall time; speed-up vs C = C binary time / warm median (only with `reference = "
    '"nanobragg"`).\n'
)
_TIMINGS_HEADER = [
    "cell",
    "status",
    "mode",
    "cold s (setup + sim)",
    "warm s",
    "warm spread s",
    "profiled s",
    "host MiB cold/warm",
    "device MiB cold/warm",
    "reference s",
    "speed-up vs C warm",
    "threads",
]


@dataclass(frozen=True)
class RunFacts:
    """What the driver knows about this run (the rest of summary.md is read from disk).

    Attributes:
        stopped: why the run ended early (Ctrl-C, Ray unreachable, an error), if it did.
        wall_s: wall time of this run.
        ray_start_s: time to connect to / start Ray.
        ray_how: how Ray was reached, one line.
        tests: ``pytest --collect-only`` exit code and count (or why none), when collected
            in this run.
        references: metadata of the references computed in this run.
        resume: the exact command that completes the bundle.
        concurrent: the warning about other sweeps on this host, if any overlapped this one.
        later_files: files written after summary.md (listed in its Files section).
        later_commands: commands run after summary.md (listed in its Commands section).
    """

    stopped: str | None = None
    wall_s: float | None = None
    ray_start_s: float | None = None
    ray_how: str | None = None
    tests: dict[str, Any] | None = None
    references: list[dict[str, Any]] = field(default_factory=list)
    resume: str | None = None
    concurrent: str | None = None
    later_files: list[str] = field(default_factory=lambda: ["report.html"])
    later_commands: list[str] = field(default_factory=list)


def summary_markdown(
    bundle: Bundle,
    grid: Grid,
    cells: list[Cell],
    by_id: Records,
    counts: dict[str, int],
    *,
    run: RunFacts,
    analysis: list[str],
    hypotheses: list[str] | None = None,
) -> str:
    """The human summary: state, timings, correlation verdicts, failures, warnings, analysis.

    ``hypotheses``: the analysis' follow-up hypotheses (one list item each).
    """
    parts = [
        *header_section(bundle, grid, by_id, counts, run),
        *commands_section(bundle.file("commands.txt"), run.later_commands),
        *timings_section(cells, by_id),
        "## Correlation\n",
        correlation_section(bundle, grid, cells, by_id, run.references),
        *failures_section(cells, by_id),
        *retries_section(cells, by_id),
        *stability_section(cells, by_id),
        *notes_section(cells, by_id),
        *(s if s.endswith("\n") else s + "\n" for s in analysis),
        *hypotheses_section(cells, by_id, hypotheses or [], run.concurrent),
        *spec_section(bundle.path, _git_sha(bundle)),
        *files_section(bundle, run.later_files),
    ]
    return "\n".join(parts)


def header_section(
    bundle: Bundle, grid: Grid, by_id: Records, counts: dict[str, int], run: RunFacts
) -> list[str]:
    """The title, the grid's description and the facts list (``counts`` covers every cell)."""
    total = sum(counts.values())
    parts = [f"# Sweep {grid.campaign}/{grid.phase} {bundle.stamp}\n"]
    if grid.description:
        parts.append(grid.description.strip() + "\n")
    facts = [
        f"- State: {_state(bundle, grid, total, counts['pending'], run)}",
        f"- Cells: {total} = {counts['ok']} ok, {counts['failed']} failed, "
        f"{counts['skipped']} skipped, {counts['pending']} pending",
        f"- Grid: `{grid.path}` (copied as `grid.toml`); target `{grid.target}`; reference "
        f"`{grid.reference}`; {_count(grid.warmups, 'untimed warm-up render')}, then "
        f"{_count(grid.iterations, 'timed warm render')}; "
        + ("one profiled render per cell" if grid.profile else "no profiled render"),
    ]
    if run.concurrent:
        facts.append(f"- **Warning**: {run.concurrent}")
    if run.wall_s is not None:
        ray = (
            f"; Ray: {run.ray_how} ({run.ray_start_s:.1f} s)" if run.ray_start_s is not None else ""
        )
        facts.append(f"- Wall time of this run: {run.wall_s:.1f} s{ray}")
    if run.tests is not None:
        count = run.tests.get("count")
        facts.append(
            f"- Tests collected: {count if count is not None else 'none'}"
            + (f": {run.tests['why']}" if count is None and run.tests.get("why") else "")
            + f" (`pytest --collect-only -q` exit {run.tests.get('rc')}; see "
            "`pytest_collect.log`)"
        )
    elif grid.collect_tests:
        facts.append("- Tests collected: see `pytest_collect.log` (from an earlier run)")
    nodes = sorted({r.get("node") for r in by_id.values() if r.get("node")})
    threads = sorted({r.get("threads") for r in by_id.values() if r.get("threads")})
    if nodes:
        facts.append(
            f"- Nodes: {', '.join(nodes)}; torch threads per actor: "
            f"{', '.join(str(t) for t in threads) or 'unknown'}"
        )
    parts.append("\n".join(facts) + "\n")
    return parts


def _count(n: int, what: str) -> str:
    """``1 timed warm render``, ``3 timed warm renders``, ``no untimed warm-up render``."""
    return f"{n or 'no'} {what}{'s' if n != 1 and n else ''}"


def _state(bundle: Bundle, grid: Grid, total: int, pending: int, run: RunFacts) -> str:
    """``complete``, or PARTIAL with the cells missing, why, and the command to complete it."""
    if pending == 0 and run.stopped is None:
        return "complete"
    resume = run.resume or f"farm sweep --grid {grid.path} --resume {bundle.stamp}"
    return (
        f"**PARTIAL**: {pending} of {total} cells have no rows yet"
        + (f" ({run.stopped})" if run.stopped else "")
        + f"; complete it with `{resume}`"
    )


def timings_section(cells: list[Cell], by_id: Records) -> list[str]:
    """Cold, warm, spread, profiled, memory, reference time and speedup per cell."""
    rows = []
    for cell in cells:
        r = by_id.get(cell.cell_id)
        if r is None:
            rows.append([cell.tag, "pending", *["-"] * (len(_TIMINGS_HEADER) - 2)])
            continue
        spread = (
            f"{seconds(r.get('py_time_warm_min'))}-{seconds(r.get('py_time_warm_max'))} "
            f"(n={r.get('iterations')})"
            if r.get("iterations")
            else "-"
        )
        prof = (
            f"{seconds(r.get('py_time_profiled'))} (x{num(_profile_ratio(r), 2)})"
            if r.get("py_time_profiled") is not None
            else "-"
        )
        if r.get("profile_unrepresentative"):
            prof += " unrepresentative"
        warm_before = ""
        if r.get("cold_mode") == "instance":
            warm_before = f" after {r.get('process_cells')} cell(s) in its process"
        rows.append(
            [
                cell.tag,
                str(r.get("status")),
                _mode(r),
                f"{seconds(r.get('py_time_cold'))} ({seconds(r.get('py_setup_cold'))} + "
                f"{seconds(r.get('py_sim_cold'))}){warm_before}",
                seconds(r.get("py_time_warm")),
                spread,
                prof,
                f"{num(r.get('py_mem_cold'), 0)} / {num(r.get('py_mem_warm'), 0)}",
                _device_mib(r),
                _reference_time(r),
                num(r.get("speedup_warm"), 2),
                num(r.get("threads")),
            ]
        )
    fell_back = [
        f"- `{cell.tag}`: {by_id[cell.cell_id]['compile_error']}"
        for cell in cells
        if (by_id.get(cell.cell_id) or {}).get("compile_error")
    ]
    parts = ["## Timings\n", _TIMINGS_NOTE, markdown_table(_TIMINGS_HEADER, rows) + "\n"]
    if fell_back:
        parts.append(
            "torch.compile fell back to eager in these cells: their timings are eager "
            "timings (`compiled = false` in table runs), never compiled ones:\n\n"
            + "\n".join(fell_back)
            + "\n"
        )
    return parts


def _profile_ratio(rec: dict[str, Any]) -> Any:
    """Profiled / warm median (``profile_overhead`` in records written before the rename)."""
    return rec.get("profile_ratio", rec.get("profile_overhead"))


def _mode(rec: dict[str, Any]) -> str:
    """``compiled``, ``eager``, ``eager (compile fell back)`` or ``-`` (the target does not say)."""
    if rec.get("compiled") is None:
        return "-"
    if rec["compiled"]:
        return "compiled"
    return "eager (compile fell back)" if rec.get("compile_error") else "eager"


def _device_mib(rec: dict[str, Any]) -> str:
    cold, warm = rec.get("device_peak_reserved_mb_cold"), rec.get("device_peak_reserved_mb_warm")
    if cold is None and warm is None:
        return "-"
    return f"{num(cold, 0)} / {num(warm, 0)}"


def correlation_section(
    bundle: Bundle,
    grid: Grid,
    cells: list[Cell],
    by_id: Records,
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
                str(r.get("reference") or grid.reference),
                f"{num(rec.get('correlation_cold'), 6)} / {num(r.get('corr'), 6)}",
                num(r.get("sum_ratio"), 6),
                str(r.get("verdict") or "-"),
                str(r.get("error") or ""),
            ]
        )
    header = ["cell", "reference", "corr cold / warm", "sum ratio", "verdict", "note"]
    out = markdown_table(header, rows)
    out += "\n\n" + thresholds_line().lstrip("# ") + "\n"
    if references:
        out += (
            "\nReferences computed for this run:\n\n"
            + "\n".join(
                f"- {m['engine']} `{m['flags']}`: {m['status']}"
                + (f", {seconds(m['wall_s'])} s" if m.get("wall_s") is not None else "")
                + (f" ({m['error']})" if m.get("error") else "")
                for m in references
            )
            + "\n"
        )
    return out


def failures_section(cells: list[Cell], by_id: Records) -> list[str]:
    """Failed and skipped cells with the reason, or ``None.``."""
    failures = [
        [
            cell.tag,
            by_id[cell.cell_id]["status"],
            f"`{by_id[cell.cell_id].get('error') or 'no reason recorded'}`",
        ]
        for cell in cells
        if cell.cell_id in by_id and by_id[cell.cell_id].get("status") in ("failed", "skipped")
    ]
    table = markdown_table(["cell", "status", "why"], failures) if failures else "None."
    return ["## Failures and skips\n", table + "\n"]


def retries_section(cells: list[Cell], by_id: Records) -> list[str]:
    """Cells whose actor died and that were run again on a fresh one; nothing when none."""
    lines = [
        f"- `{cell.tag}` ({by_id[cell.cell_id].get('status')}): {why}"
        for cell in cells
        if cell.cell_id in by_id
        for why in by_id[cell.cell_id].get("retries") or []
    ]
    if not lines:
        return []
    return ["## Actor retries\n", "\n".join(lines) + "\n"]


def _reference_time(r: dict[str, Any]) -> str:
    """``0.51 (builtin)``: the reference engine's own time, and which engine."""
    t = r.get("reference_time")
    if t is None:
        return "-"
    return f"{seconds(t)} ({r.get('reference_engine') or r.get('reference')})"


def stability_section(cells: list[Cell], by_id: Records) -> list[str]:
    """pyperf-style warnings and timing anomalies per cell, or ``None.``."""
    warnings = [
        f"- `{cell.tag}`: {w}"
        for cell in cells
        if cell.cell_id in by_id
        for w in stability_warnings(by_id[cell.cell_id])
    ]
    return ["## Stability warnings\n", ("\n".join(warnings) if warnings else "None.") + "\n"]


def notes_section(cells: list[Cell], by_id: Records) -> list[str]:
    """Steps that did not run (a cell's notes), each with its cells; nothing when none."""
    notes: dict[str, list[str]] = {}
    for cell in cells:
        rec = by_id.get(cell.cell_id) or {}
        for note in rec.get("notes", []):
            if note not in (rec.get("retries") or []):
                notes.setdefault(note, []).append(cell.tag)
    if not notes:
        return []
    lines = "\n".join(f"- {note} (cells: {', '.join(tags)})" for note, tags in notes.items())
    return ["## Steps that did not run\n", lines + "\n"]


def _git_sha(bundle: Bundle) -> str | None:
    """The commit env.json names (None before it is written)."""
    try:
        return json.loads(bundle.file("env.json").read_text(encoding="utf-8")).get("git_sha")
    except (OSError, ValueError, AttributeError):
        return None


#: What a file of the bundle is, where its name does not say it.
_FILE_NOTES = {
    "notes/README.md": "hand notes of the Phase B2 reader go in `notes/`",
    "profile/run.log": "the sweep's console, as plain text",
    "profile/benchmark_results.json": "the same JSON as `benchmark_results.json`",
    "torch_env.txt": "`python -m torch.utils.collect_env` on the driver",
}


def files_section(bundle: Bundle, later: list[str] | None = None) -> list[str]:
    """The files the bundle holds once the sweep ends (tables/ and cells/ counted, not listed).

    ``later``: files written after summary.md (report.html, torch_env.txt), listed as such;
    summary.md itself is listed too.
    """
    files = sorted(
        p.relative_to(bundle.path).as_posix()
        for p in bundle.path.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    listed = [f for f in files if not f.startswith(("tables/", "cells/"))]
    n_parts = sum(1 for f in files if f.startswith("tables/"))
    after = {f: "written after this summary" for f in [*(later or []), "summary.md"]}
    after["summary.md"] = "this file"
    listed = sorted({*listed, *after})
    lines = []
    for f in listed:
        notes = [n for n in (_FILE_NOTES.get(f), after.get(f) if f not in files else None) if n]
        lines.append(f"- `{f}`" + (f" ({'; '.join(notes)})" if notes else ""))
    return [
        "## Files\n",
        "\n".join(lines)
        + f"\n- `tables/`: {n_parts} Parquet parts; `cells/`: one benchmark record per cell\n",
    ]
