"""Bundle analysis: inventory, attribution, ranking and comparison for one evidence bundle.

Called by the sweep driver once at the end of a sweep (and after a resume); idempotent.
Reads ``tables/runs``, ``tables/correlations`` and ``tables/ops``; writes

- ``tables/loops/part-inventory-<package>.parquet`` (Phase A inventory),
- ``tables/hot_loops/part-<cell_id>.parquet`` (Phase B2 attribution, one per profiled cell),
- ``hot_loops.csv`` (module, line, loop_id, %time, call_count, notes: the B2 hand-off),
- ``cpu_vs_gpu.csv`` (the same loop's share and operator counts on each device, flagged),
- ``backlog.md`` (Phase B3: top candidates with a first estimate of the gain),

and returns the markdown sections of summary.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from analysis.loops.attribution import attribute
from analysis.loops.inventory import InventoryError, Loop, loops_table, scan_package
from analysis.queries.hotspots import HOT_PCT, hotspots
from analysis.queries.ranking import EVIDENCE_CTES, rank
from analysis.tables.catalog import Catalog, QueryResult
from analysis.tables.schema import HOT_LOOPS, LOOPS, TABLES

TOP_SUMMARY = 10
TOP_BACKLOG = 10
#: Host cost of one operator call that vectorising removes (first-estimate constants).
DISPATCH_US = {"cpu": 5.0, "cuda": 10.0}

EVIDENCE_ROWS_SQL = EVIDENCE_CTES + "SELECT * FROM evidence"
_OPS_NEEDED = {"event_id", "parent_id", "thread", "stack", "kind", "ts_us", "dur_us", "self_us"}


def analyse_bundle(bundle_dir: Path, packages: dict[str, Path]) -> list[str]:
    """Write the bundle's loop tables and reports; return summary.md sections.

    Args:
        bundle_dir: ``reports/<campaign>/<phase>/<STAMP>``.
        packages: Target name (as in table ``runs``) -> the target package's directory.
    """
    bundle_dir = Path(bundle_dir)
    notes: list[str] = []
    runs = _read(bundle_dir, "runs", notes)
    correlations = _read(bundle_dir, "correlations", notes)
    stamp = _stamp(bundle_dir, runs)

    loops_by_target, inventory_lines = _inventory(bundle_dir, packages, stamp, notes)
    notes.extend(_changed_sources(bundle_dir, packages))
    all_loops = _concat([t for t in loops_by_target.values()], LOOPS)
    targets = _targets(runs)
    hot_parts, methods = _attribute_cells(bundle_dir, loops_by_target, targets, notes)
    hot = _concat(hot_parts, HOT_LOOPS)

    tables = {"runs": runs, "correlations": correlations, "hot_loops": hot, "loops": all_loops}
    with Catalog(None, tables=tables) as cat:
        ranking = rank(cat, stamp=stamp, top=10**6)
        hs = hotspots(cat, stamp=stamp, top=10**6)
        evidence = cat.query(EVIDENCE_ROWS_SQL, {"stamp": stamp}).records()

    headers = {row["loop_id"]: row for row in all_loops.to_pylist()}
    _write_text(bundle_dir / "hot_loops.csv", _hot_loops_csv(ranking.ranked))
    _write_text(bundle_dir / "cpu_vs_gpu.csv", _csv(hs))
    _write_text(
        bundle_dir / "backlog.md", _backlog(stamp, ranking, evidence, headers, notes, methods)
    )
    return _sections(ranking, hs, inventory_lines, methods, notes, hot.num_rows)


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


def _write_part(bundle: Path, table: str, name: str, data: pa.Table) -> None:
    from analysis.tables.parts import write_part

    write_part(bundle, table, name, data)


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
    by_dir: dict[Path, list[Loop]] = {}
    out: dict[str, pa.Table] = {}
    lines = []
    for target, pkg in sorted(packages.items()):
        pkg = Path(pkg).resolve()
        if pkg not in by_dir:
            try:
                by_dir[pkg] = scan_package(pkg)
            except (InventoryError, OSError) as exc:
                notes.append(f"inventory of {pkg} failed: {exc}")
                continue
            loops = by_dir[pkg]
            name = pkg.stem if pkg.is_file() else pkg.name
            cell_id = f"inventory-{name}"
            table = loops_table(loops, stamp=stamp, cell_id=cell_id)
            _write_part(bundle, "loops", cell_id, table)
            kinds = defaultdict(int)
            for loop in loops:
                kinds[loop.kind] += 1
            detail = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            lines.append(f"`{name}`: {len(loops)} loops ({detail or 'none'})")
        name = pkg.stem if pkg.is_file() else pkg.name
        out[target] = loops_table(by_dir[pkg], stamp=stamp, cell_id=f"inventory-{name}")
    return out, lines


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
    targets: dict[str, str],
    notes: list[str],
) -> tuple[list[pa.Table], set[str]]:
    """hot_loops for every cell with an ops part (one part read at a time)."""
    folder = bundle / "tables" / "ops"
    parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    only = next(iter(loops_by_target.values())) if len(loops_by_target) == 1 else None
    out, methods = [], set()
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
        loops = loops_by_target.get(targets.get(cell_id, ""), only)
        if loops is None:
            notes.append(f"cell {cell_id}: no loop inventory for target {targets.get(cell_id)}")
            continue
        hot = attribute(ops, loops, targets)
        _write_part(bundle, "hot_loops", cell_id, hot)
        out.append(hot)
    return out, methods


# outputs ---------------------------------------------------------------------------------------


def _hot_loops_csv(ranked: QueryResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["module", "line", "loop_id", "%time", "call_count", "notes"])
    for r in ranked.records():
        note = (
            f"{r['device']} {r['dtype']}; size {r['sizes']}; {r['cells']} cell(s); "
            f"max {r['max_pct']}%; {_iterations(r['est_iterations'])}; "
            f"{_num(r['python_pct'])}% Python"
        )
        if r["kernels"]:
            note += f"; {r['kernels']} kernels"
        w.writerow([r["module"], r["line"], r["loop_id"], r["pct_of_run"], r["op_count"], note])
    return buf.getvalue()


def _csv(result: QueryResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(result.columns)
    w.writerows(result.rows)
    return buf.getvalue()


def estimate_gain(row: dict[str, Any]) -> tuple[float, float]:
    """First estimate of the time a vectorised loop saves in one cell: (us, share of run).

    Vectorising removes the loop's Python time and the host cost of all but one iteration's
    operator calls (``DISPATCH_US`` per call: CPU dispatch, CUDA launch); on CUDA, host time
    above the kernels' own time goes too (when kernels were recorded). The compute stays.
    """
    side = "cuda" if str(row.get("device") or "").startswith("cuda") else "cpu"
    ops = float(row.get("op_count") or 0)
    iters = max(float(row.get("est_iterations") or 1), 1.0)
    inclusive = float(row.get("inclusive_us") or 0)
    saved = float(row.get("self_python_us") or 0) + DISPATCH_US[side] * ops * (1 - 1 / iters)
    if side == "cuda" and row.get("kernel_count"):
        saved = max(saved, float(row.get("cpu_us") or 0) - float(row.get("gpu_us") or 0))
    saved = min(saved, inclusive)
    pct = float(row.get("pct_of_run") or 0)
    run_us = inclusive * 100 / pct if pct > 0 else 0.0
    return saved, (saved / run_us if run_us > 0 else 0.0)


def _backlog(
    stamp: str,
    ranking: Any,
    evidence: list[dict[str, Any]],
    headers: dict[str, dict[str, Any]],
    notes: list[str],
    methods: set[str],
) -> str:
    out = [f"# Vectorisation backlog ({stamp})", ""]
    out.append(
        "Candidates ranked by their largest mean share of the warm run on any device and "
        "dtype, over cells whose correlation verdict passed. *Gain if vectorised* is a first "
        "estimate: the loop's Python time plus the host cost of all but one iteration's "
        f"operator calls ({DISPATCH_US['cpu']:g} us per call on CPU, "
        f"{DISPATCH_US['cuda']:g} us per launch on CUDA; on CUDA at least the host time above "
        "the kernels' time); the compute stays. Shares of nested loops overlap."
    )
    out.append("")
    out.extend(_refused_lines(ranking.refused))
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in evidence:
        groups[row["loop_id"]].append(row)
    if not groups:
        out.append("No evidence cells with loop data: nothing to rank.")
        return "\n".join(out) + "\n"

    def best(rows: list[dict[str, Any]]) -> float:
        return max(float(r.get("pct_of_run") or 0) for r in rows)

    ordered = sorted(groups.items(), key=lambda kv: -best(kv[1]))[:TOP_BACKLOG]
    for n, (loop_id, rows) in enumerate(ordered, 1):
        head = headers.get(loop_id, {})
        first = rows[0]
        out.append(
            f"## {n}. `{first['module']}:{first['line']}` in `{first['function']}` "
            f"({first['kind']})"
        )
        if head.get("header"):
            out.append(f"`{head['header']}`; iterates: {head.get('iteration_hint')}")
        out.append("")
        out.append(
            "| device | dtype | size | % of run | ops | kernels | iterations | Python % "
            "| est. gain | run speed-up |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in sorted(rows, key=lambda r: (r["device"], r["dtype"], r["size"] or 0)):
            saved, share = estimate_gain(r)
            py = 100 * (r["self_python_us"] or 0) / r["inclusive_us"] if r["inclusive_us"] else 0
            speed = 1 / (1 - share) if share < 1 else float("inf")
            out.append(
                f"| {r['device']} | {r['dtype']} | {r['size']} | {_num(r['pct_of_run'])} | "
                f"{r['op_count']} | {r['kernel_count']} | {_int(r['est_iterations'])} | "
                f"{py:.1f} | {saved / 1000:.2f} ms ({100 * share:.1f}% of run) | {speed:.2f}x |"
            )
        out.append("")
    if methods - {"event_tree"}:
        out.append(f"Call-site method(s) used: {', '.join(sorted(methods))} (see README).")
    out.extend(f"- {n}" for n in notes)
    return "\n".join(out) + "\n"


def _refused_lines(refused: QueryResult) -> list[str]:
    rows = refused.records()
    if not rows:
        return []
    out = [f"**Refused as evidence** ({len(rows)} cell(s); not ranked):", ""]
    for r in rows:
        out.append(f"- `{r['cell_id']}` {r['device']} {r['dtype']} size {r['size']}: {r['reason']}")
    out.append("")
    return out


def _sections(
    ranking: Any,
    hs: QueryResult,
    inventory_lines: list[str],
    methods: set[str],
    notes: list[str],
    n_hot: int,
) -> list[str]:
    top = ["## Residual Python loops: top by inclusive time", ""]
    if inventory_lines:
        top.append("Inventory: " + "; ".join(inventory_lines) + ".")
    if methods:
        top.append(f"Call-site method: {', '.join(sorted(methods))}.")
    top.append("")
    rows = ranking.ranked.records()
    if not rows:
        top.append("No evidence cells with loop data (see below and backlog.md).")
    by_group: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_group[(r["device"], r["dtype"])].append(r)
    for (device, dtype), group in sorted(by_group.items()):
        top.append(f"### {device} {dtype}")
        top.append("")
        top.extend(
            _md_table(
                ["#", "loop", "function", "kind", "% of run", "ops", "iterations", "Python %"],
                (
                    [
                        r["rank"],
                        f"`{r['module']}:{r['line']}`",
                        r["function"],
                        r["kind"],
                        _num(r["pct_of_run"]),
                        r["op_count"],
                        _int(r["est_iterations"]),
                        _num(r["python_pct"]),
                    ]
                    for r in group[:TOP_SUMMARY]
                ),
            )
        )
        top.append("")
    top.extend(_refused_lines(ranking.refused))
    sections = ["\n".join(top) + "\n"]

    cmp = ["## CPU vs GPU hotspots", ""]
    cmp.append(
        f"Mean share of the warm run per side (NULL: side not measured); flags at {HOT_PCT:g}%."
    )
    cmp.append("")
    cmp.extend(
        _md_table(
            ["loop", "function", "CPU %", "CPU ops", "GPU %", "GPU ops", "kernels", "flag"],
            (
                [
                    f"`{r['module']}:{r['line']}`",
                    r["function"],
                    _num(r["cpu_pct"]),
                    _int(r["cpu_ops"]),
                    _num(r["gpu_pct"]),
                    _int(r["gpu_ops"]),
                    _int(r["gpu_kernels"]),
                    r["flag"],
                ]
                for r in hs.records()[:TOP_SUMMARY]
            ),
        )
    )
    cmp.append("")
    cmp.append(f"Files: hot_loops.csv, cpu_vs_gpu.csv, backlog.md ({n_hot} hot_loops rows).")
    if notes:
        cmp.append("")
        cmp.extend(f"- {n}" for n in notes)
    sections.append("\n".join(cmp) + "\n")
    return sections


def _md_table(header: list[str], rows: Iterable[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join("" if v is None else str(v) for v in r) + " |")
    return out


def _num(v: Any) -> str:
    return "–" if v is None else f"{float(v):.2f}"


def _iterations(v: Any) -> str:
    return "iterations unknown" if v is None else f"~{int(v)} iterations"


def _int(v: Any) -> str:
    return "–" if v is None else str(int(v))
