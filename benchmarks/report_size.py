"""Size and time of report.html for real bundles, side by side (target: < 5 MB for nightly).

    python benchmarks/report_size.py                      # newest smoke, b1 and nightly bundles
    python benchmarks/report_size.py reports/nightly/grid/20260101T000000Z --repeat 3
    python benchmarks/report_size.py --fill-skipped        # also: nightly with every cell filled

Each bundle's report is written ``--repeat`` times (median time). ``--fill-skipped`` adds, for
a bundle with skipped CUDA cells (a machine without a GPU), a copy in a temporary folder
whose skipped cells carry the rows of the CPU cell with the same dtype and size, relabelled:
the size of a page where every cell ran (its numbers are the CPU's, for size only).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from farm.html.bundle_report import write_bundle_report  # noqa: E402
from farm.html.locate import bundle_packages, bundles  # noqa: E402

LIMIT_MB = 5.0
FOLDERS = ("smoke/smoke", "2026-01-vectorization-gap/phase_b", "nightly/grid")


def newest(reports: Path) -> list[Path]:
    """The newest bundle of each grid in :data:`FOLDERS`."""
    out = []
    for folder in FOLDERS:
        found = bundles(reports / folder) if (reports / folder).is_dir() else []
        if found:
            out.append(found[-1])
    return out


def fill_skipped(bundle: Path, into: Path) -> Path:
    """A copy of ``bundle`` whose skipped cells hold their CPU twin's rows (see docstring)."""
    copy = into / bundle.parent.parent.name / bundle.parent.name / bundle.name
    shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns("report.html"))
    runs = pq.read_table(copy / "tables" / "runs").to_pylist()
    skipped = {r["cell_id"]: r for r in runs if r["status"] == "skipped"}
    twins = {(r["dtype"], r["size"]): r["cell_id"] for r in runs if r["device"] == "cpu"}
    for cid, row in skipped.items():
        twin = twins.get((row["dtype"], row["size"]))
        if twin is None:
            continue
        for folder in (copy / "tables").iterdir():
            src = folder / f"part-{twin}.parquet"
            if not src.exists():
                continue
            table = pq.read_table(src).to_pylist()
            for r in table:
                r.update(cell_id=cid, device=row["device"])
                if "cell_tag" in r:
                    r["cell_tag"] = row["cell_tag"]
            schema = pq.read_schema(src)
            pq.write_table(
                pa.Table.from_pylist(table, schema=schema), folder / f"part-{cid}.parquet"
            )
    return copy


def measure(bundle: Path, repeat: int, label: str) -> None:
    packages, state = bundle_packages(bundle)
    times = []
    for _ in range(repeat):
        result = write_bundle_report(bundle, packages, state=state)
        times.append(result.seconds)
    cells = len(list((bundle / "tables" / "runs").glob("part-*.parquet")))
    mb = result.bytes / 1e6
    print(
        f"{label:<52} {cells:>5} {result.charts:>6} {mb:>8.3f} {statistics.median(times):>8.2f}"
        f" {result.render_seconds:>8.2f}  {'ok' if mb < LIMIT_MB else 'OVER'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundles", nargs="*", type=Path)
    ap.add_argument("--reports", type=Path, default=ROOT / "reports")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fill-skipped", action="store_true")
    args = ap.parse_args()
    chosen = args.bundles or newest(args.reports)
    if not chosen:
        sys.exit(f"no bundles under {args.reports}: run farm sweep --grid configs/smoke.toml first")
    print(f"{'bundle':<52} {'cells':>5} {'charts':>6} {'MB':>8} {'write s':>8} {'svg s':>8}")
    for bundle in chosen:
        measure(
            bundle, args.repeat, f"{bundle.parent.parent.name}/{bundle.parent.name}/{bundle.name}"
        )
    if args.fill_skipped:
        with tempfile.TemporaryDirectory() as tmp:
            for bundle in chosen:
                if "nightly" in str(bundle):
                    copy = fill_skipped(bundle, Path(tmp))
                    measure(copy, args.repeat, f"{bundle.name} (skipped cells filled)")
    print(
        f"(limit {LIMIT_MB} MB; write s: gather + charts + HTML, median of {args.repeat}; "
        "svg s: vl-convert alone)"
    )


if __name__ == "__main__":
    main()
