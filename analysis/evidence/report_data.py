"""Everything one bundle's report.html shows, gathered from the bundle in one pass.

Measurements come from the bundle's Parquet tables through DuckDB
(:class:`analysis.tables.catalog.Catalog` over the bundle folder); provenance from its files
(env.json, grid.toml, commands.txt); source lines from the target's package. The HTML is
drawn elsewhere (``farm``); this module decides nothing about looks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.loops.snippets import Snippet, captured_sources, snippet
from analysis.queries import cells as cell_queries
from analysis.queries.grains import Ranking, rankings
from analysis.queries.hotspots import hotspots
from analysis.queries.scaling import Crossover, Fit, crossovers, dtype_ratios, fits
from analysis.tables.catalog import Catalog

#: Rows per device and dtype in each ranking.
TOP = 10


@dataclass(frozen=True)
class BundleFile:
    """A file of the bundle: its path relative to the bundle, its size, the cell it belongs to."""

    relpath: str
    bytes: int
    tag: str


@dataclass
class ReportData:
    """What report.html shows about one bundle.

    Attributes:
        stamp: the bundle's stamp; bundle_dir: its folder.
        cells: :data:`analysis.queries.cells.CELLS_SQL` records.
        correlations: :data:`analysis.queries.cells.CORRELATIONS_SQL` records.
        tiles: tile-map rows per cell id.
        fits, crossovers, dtype_ratios: :mod:`analysis.queries.scaling`.
        rankings: one per grain present (loops first).
        hotspots: CPU vs GPU per loop (:mod:`analysis.queries.hotspots`).
        snippets: source lines per (module, line, end_line).
        traces, diff_images: profile/<tag>/trace.json.gz and parity/<tag>/diff.png files.
        env: env.json; grid_text: grid.toml; commands_text: commands.txt.
        warnings: parts the catalog skipped, and anything else that is missing.
    """

    stamp: str
    bundle_dir: Path
    cells: list[dict[str, Any]]
    correlations: list[dict[str, Any]]
    tiles: dict[str, list[dict[str, Any]]]
    fits: list[Fit]
    crossovers: list[Crossover]
    dtype_ratios: list[dict[str, Any]]
    rankings: list[Ranking]
    hotspots: list[dict[str, Any]]
    snippets: dict[tuple[str, int, int], Snippet]
    traces: list[BundleFile]
    diff_images: list[BundleFile]
    env: dict[str, Any]
    grid_text: str
    commands_text: str
    warnings: list[str] = field(default_factory=list)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _env(path: Path, warnings: list[str]) -> dict[str, Any]:
    if not path.exists():
        warnings.append("env.json is missing")
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        warnings.append(f"env.json could not be read: {exc}")
        return {}


def _files(bundle_dir: Path, pattern: str) -> list[BundleFile]:
    out = []
    for path in sorted(bundle_dir.glob(pattern)):
        if path.is_file():
            rel = path.relative_to(bundle_dir).as_posix()
            out.append(BundleFile(rel, path.stat().st_size, path.parent.name))
    return out


def _snippets(
    ranked: list[Ranking], roots: dict[str, Path], bundle_dir: Path
) -> dict[tuple[str, int, int], Snippet]:
    captured = captured_sources(bundle_dir)
    out = {}
    for ranking in ranked:
        for row in ranking.rows:
            module, line = row.get("module"), row.get("line")
            if not module or not line:
                continue
            key = (str(module), int(line), int(row.get("end_line") or line))
            if key not in out:
                found = snippet(key[0], key[1], key[2], roots, captured)
                if found is not None:
                    out[key] = found
    return out


def gather(bundle_dir: Path, packages: dict[str, Path] | None = None, top: int = TOP) -> ReportData:
    """Read one bundle for its report.

    Args:
        bundle_dir: ``reports/<campaign>/<phase>/<STAMP>``.
        packages: target name -> the target package's folder (for source lines); None or
            empty: no source lines, said in each snippet's place.
        top: rows per device and dtype in each ranking.
    """
    bundle_dir = Path(bundle_dir)
    warnings: list[str] = []
    with Catalog(bundle_dir, warn=warnings.append) as cat:
        stamp = _stamp(cat, bundle_dir)
        cells = cell_queries.cells(cat, stamp)
        correlations = cell_queries.correlations(cat, stamp)
        tiles = cell_queries.tiles(cat, stamp)
        fitted = fits(cat, stamp)
        ranked = rankings(cat, stamp, top)
        hot = hotspots(cat, stamp=stamp, top=top).records()
    return ReportData(
        stamp=stamp,
        bundle_dir=bundle_dir,
        cells=cells,
        correlations=correlations,
        tiles=tiles,
        fits=fitted,
        crossovers=crossovers(cells, fitted),
        dtype_ratios=dtype_ratios(cells),
        rankings=ranked,
        hotspots=hot,
        snippets=_snippets(ranked, dict(packages or {}), bundle_dir),
        traces=_files(bundle_dir, "profile/*/*.json.gz"),
        diff_images=_files(bundle_dir, "parity/*/diff.png"),
        env=_env(bundle_dir / "env.json", warnings),
        grid_text=_text(bundle_dir / "grid.toml"),
        commands_text=_text(bundle_dir / "commands.txt"),
        warnings=warnings,
    )


def _stamp(cat: Catalog, bundle_dir: Path) -> str:
    """The stamp of the bundle's rows (the folder's name when it has none)."""
    rows = cat.query("SELECT max(stamp) FROM runs").rows
    return str(rows[0][0]) if rows and rows[0][0] else bundle_dir.name
