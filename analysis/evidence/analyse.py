"""Bundle analysis: inventory, attribution, ranking and comparison for one evidence bundle.

Called by the sweep driver once at the end of a sweep (and after a resume); idempotent.
Reads ``tables/runs``, ``tables/correlations`` and ``tables/ops``; writes

- ``tables/loops/part-inventory-<package>.parquet`` (Phase A inventory),
- ``tables/hot_loops/part-<cell_id>.parquet`` (Phase B2 attribution, one per profiled cell),
- ``tables/hot_lines|hot_functions|hot_ops/part-<cell_id>.parquet`` (every other grain:
  :mod:`analysis.grains`),
- ``hot_loops.csv`` (module, line, loop_id, %time, call_count, notes: the B2 hand-off),
- ``cpu_vs_gpu.csv`` (the same loop's share and operator counts on each device, flagged),
- ``backlog.md`` (Phase B3: candidates of every kind with their measured gains),

and returns the markdown sections of summary.md (:func:`analyse` also the follow-up
hypotheses the evidence suggests). This module runs the steps; the files' contents are
written by :mod:`analysis.evidence.csv_reports`, :mod:`analysis.evidence.backlog`,
:mod:`analysis.evidence.summary_sections`, :mod:`analysis.evidence.grain_sections` and
:mod:`analysis.evidence.hypotheses`.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from analysis.evidence.backlog import backlog_markdown
from analysis.evidence.csv_reports import hot_loops_csv, result_csv
from analysis.evidence.grain_sections import GrainEvidence, grains_section, kernels_section
from analysis.evidence.hypotheses import evidence_hypotheses
from analysis.evidence.summary_sections import summary_sections
from analysis.grains import grain_tables, load_cells
from analysis.loops.attribution import attribute
from analysis.loops.inventory import InventoryError, Loop, loops_table, scan_package
from analysis.queries.grain_ranking import evidence_sql, grain
from analysis.queries.hotspots import hotspots
from analysis.queries.ranking import EVIDENCE_CTES, rank
from analysis.tables.catalog import Catalog
from analysis.tables.parts import write_part
from analysis.tables.schema import LOOPS, TABLES

EVIDENCE_ROWS_SQL = EVIDENCE_CTES + "SELECT * FROM evidence"
GRAIN_TABLES = ("hot_lines", "hot_functions", "hot_ops")
_OPS_NEEDED = {"event_id", "parent_id", "thread", "stack", "kind", "ts_us", "dur_us", "self_us"}


@dataclass
class BundleAnalysis:
    """What :func:`analyse` gives summary.md.

    Attributes:
        sections: Markdown sections (top loops, every grain, top-5 kernels, CPU vs GPU).
        hypotheses: follow-up hypotheses, one Markdown list item each (no bullet), each
            citing the measured figure it comes from.
    """

    sections: list[str] = field(default_factory=list)
    hypotheses: list[str] = field(default_factory=list)


def analyse_bundle(bundle_dir: Path, packages: dict[str, Path]) -> list[str]:
    """Write the bundle's loop tables and reports; return summary.md sections.

    Args:
        bundle_dir: ``reports/<campaign>/<phase>/<STAMP>``.
        packages: Target name (as in table ``runs``) -> the target package's directory.
    """
    return analyse(bundle_dir, packages).sections


def analyse(bundle_dir: Path, packages: dict[str, Path]) -> BundleAnalysis:
    """:func:`analyse_bundle`, with the follow-up hypotheses the evidence suggests."""
    bundle_dir = Path(bundle_dir)
    notes: list[str] = []
    runs = _read(bundle_dir, "runs", notes)
    correlations = _read(bundle_dir, "correlations", notes)
    stamp = _stamp(bundle_dir, runs)

    loops_by_target, inventory_lines = _inventory(bundle_dir, packages, stamp, notes)
    notes.extend(_changed_sources(bundle_dir, packages))
    all_loops = _concat(list(loops_by_target.values()), LOOPS)
    targets = _targets(runs)
    cells = cell_info(runs)
    warm = {cid: c["warm_s"] for cid, c in cells.items() if c.get("warm_s")}
    parts, methods = _attribute_cells(bundle_dir, loops_by_target, packages, targets, warm, notes)
    tables = {name: _concat(rows, TABLES[name]) for name, rows in parts.items()}
    tables.update({"runs": runs, "correlations": correlations, "loops": all_loops})
    with Catalog(None, tables=tables) as cat:
        ranking = rank(cat, stamp=stamp, top=10**6)
        hs = hotspots(cat, stamp=stamp, top=10**6)
        ev = GrainEvidence(
            loops=cat.query(EVIDENCE_ROWS_SQL, {"stamp": stamp}).records(),
            spans={r["loop_id"]: _span(r) for r in all_loops.to_pylist()},
            cells=cells,
        )
        for by, attr in (("line", "lines"), ("function", "functions"), ("op", "ops")):
            rows = cat.query(evidence_sql(grain(by)), {"stamp": stamp}).records()
            setattr(ev, attr, rows)

    headers = {row["loop_id"]: row for row in all_loops.to_pylist()}
    _write_text(bundle_dir / "hot_loops.csv", hot_loops_csv(ranking.ranked))
    _write_text(bundle_dir / "cpu_vs_gpu.csv", result_csv(hs))
    _write_text(
        bundle_dir / "backlog.md", backlog_markdown(stamp, ranking, ev, headers, notes, methods)
    )
    loops, compare = summary_sections(
        ranking, hs, inventory_lines, methods, notes, tables["hot_loops"].num_rows
    )
    return BundleAnalysis(
        [loops, grains_section(ev), kernels_section(ev), compare], evidence_hypotheses(ev)
    )


def cell_info(runs: pa.Table) -> dict[str, dict[str, Any]]:
    """Per cell id: its tag, warm median (s) and each profiled render's time (s)."""
    out: dict[str, dict[str, Any]] = {}
    warm: dict[str, list[float]] = {}
    for r in runs.select(["cell_id", "cell_tag", "phase", "status", "sim_s"]).to_pylist():
        info = out.setdefault(r["cell_id"], {"tag": r["cell_tag"], "profiled_s": []})
        if r["status"] != "ok" or r["sim_s"] is None:
            continue
        if r["phase"] == "warm":
            warm.setdefault(r["cell_id"], []).append(r["sim_s"])
        elif r["phase"] == "profiled":
            info["profiled_s"].append(r["sim_s"])
    for cell_id, info in out.items():
        samples = warm.get(cell_id)
        info["warm_s"] = statistics.median(samples) if samples else None
    return out


def _span(row: dict[str, Any]) -> tuple[str, str, int, int]:
    return row["module"], row["function"], row["line"], row["end_line"]


# reading and writing -------------------------------------------------------------------------


def _read(bundle: Path, table: str, notes: list[str]) -> pa.Table:
    """Every readable part of ``table``; a corrupt part is skipped with a note naming it."""
    folder = bundle / "tables" / table
    parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    tables = []
    for part in parts:
        try:
            tables.append(pq.read_table(part))
        except Exception as exc:
            notes.append(f"skipped corrupt Parquet part {part}: {str(exc).splitlines()[0]}")
    return _concat(tables, TABLES[table])


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables, promote_options="default")


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _stamp(bundle: Path, runs: pa.Table) -> str:
    if runs.num_rows:
        return str(runs["stamp"][0].as_py())
    return bundle.name


def _targets(runs: pa.Table) -> dict[str, str]:
    if not runs.num_rows:
        return {}
    return {r["cell_id"]: r["target"] for r in runs.select(["cell_id", "target"]).to_pylist()}


# the analysis steps ----------------------------------------------------------------------------


def _inventory(
    bundle: Path, packages: dict[str, Path], stamp: str, notes: list[str]
) -> tuple[dict[str, pa.Table], list[str]]:
    """Scan each package once; write its loops part; return loops per target."""
    by_dir: dict[Path, pa.Table] = {}
    out: dict[str, pa.Table] = {}
    lines = []
    for target, pkg in sorted(packages.items()):
        pkg = Path(pkg).resolve()
        if pkg not in by_dir:
            try:
                loops = scan_package(pkg)
            except (InventoryError, OSError) as exc:
                notes.append(f"inventory of {pkg} failed: {exc}")
                continue
            name = pkg.stem if pkg.is_file() else pkg.name
            cell_id = f"inventory-{name}"
            by_dir[pkg] = loops_table(loops, stamp=stamp, cell_id=cell_id)
            write_part(bundle, "loops", cell_id, by_dir[pkg])
            lines.append(_inventory_line(name, loops))
        out[target] = by_dir[pkg]
    return out, lines


def _inventory_line(name: str, loops: list[Loop]) -> str:
    """``name``: how many loops, of which kind (a line of summary.md)."""
    kinds = Counter(loop.kind for loop in loops)
    detail = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return f"`{name}`: {len(loops)} loops ({detail or 'none'})"


def _changed_sources(bundle: Path, packages: dict[str, Path]) -> list[str]:
    """Project files whose content differs from when a trace was captured.

    Capture records a sha1 per project file in ``profile/<cell>/*.capture.json``; when the
    file changed since, its line numbers may no longer match the inventory made now.
    """
    roots = {Path(p).resolve().name: Path(p).resolve() for p in packages.values()}
    changed: set[str] = set()
    for summary in sorted(bundle.glob("profile/*/*.capture.json")):
        try:
            sources = json.loads(summary.read_text(encoding="utf-8")).get("sources") or {}
        except (OSError, ValueError):
            continue
        for name, sha in sources.items():
            root = roots.get(name.split("/", 1)[0])
            if root is None:
                continue
            path = root.parent / name
            now = hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else None
            if now != sha:
                changed.add(name)
    return [
        f"{name} changed after its trace was captured: its loops' lines may not match the trace"
        for name in sorted(changed)
    ]


def _attribute_cells(
    bundle: Path,
    loops_by_target: dict[str, pa.Table],
    packages: dict[str, Path],
    targets: dict[str, str],
    warm: dict[str, float],
    notes: list[str],
) -> tuple[dict[str, list[pa.Table]], set[str]]:
    """hot_loops and the grain tables of every cell with an ops part (one part at a time)."""
    folder = bundle / "tables" / "ops"
    parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    only = next(iter(loops_by_target.values())) if len(loops_by_target) == 1 else None
    out: dict[str, list[pa.Table]] = {name: [] for name in ("hot_loops", *GRAIN_TABLES)}
    methods: set[str] = set()
    for part in parts:
        try:
            ops = pq.read_table(part)
        except Exception as exc:
            notes.append(f"skipped corrupt Parquet part {part}: {str(exc).splitlines()[0]}")
            continue
        if not ops.num_rows:
            continue
        missing = _OPS_NEEDED - set(ops.column_names)
        if missing:
            notes.append(f"{part.name}: ops part lacks {sorted(missing)} (older schema), skipped")
            continue
        cell_id = str(ops["cell_id"][0].as_py())
        if "callsite_method" in ops.column_names:
            methods.update(m for m in ops["callsite_method"].unique().to_pylist() if m)
        events = load_cells(ops, packages, targets)  # read into arrays once, for every grain
        grains = grain_tables(
            ops, package_dirs=packages, targets=targets, warm_s=warm, events=events
        )
        for name, table in grains.items():
            write_part(bundle, name, cell_id, table)
            out[name].append(table)
        chosen = dict(
            zip(
                *(grains["hot_lines"].column(c).to_pylist() for c in ("cell_id", "render")),
                strict=True,
            )
        )
        loops = loops_by_target.get(targets.get(cell_id, ""), only)
        if loops is None:
            notes.append(f"cell {cell_id}: no loop inventory for target {targets.get(cell_id)}")
            continue
        hot = attribute(ops, loops, targets, warm, chosen, events)
        write_part(bundle, "hot_loops", cell_id, hot)
        out["hot_loops"].append(hot)
    return out, methods
