"""What a damaged Parquet part costs the catalog: a clean tree and damaged ones, side by side.

Usage:
    python benchmarks/damaged_parts.py                  # 100 stamps x 8 cells (2,400 parts)
    python benchmarks/damaged_parts.py --stamps 30 --repeat 3

Writes the synthetic reports tree of ``benchmarks/rank_query.py``, then times, in one run:
opening the catalog and ranking over the clean tree; the same with one ``hot_loops`` part
whose footer is overwritten (found by bisection when the views are bound); the same with one
whose pages are overwritten, footer intact (found by bisection when the query reads it);
and the pieces a clean open pays for: the frame check of every part and the engine lock.
Every figure is a median; the ratios are to the clean open + rank.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from rank_query import make_reports  # noqa: E402

from analysis.queries.ranking import rank  # noqa: E402
from analysis.tables.catalog import Catalog, find_parts  # noqa: E402
from analysis.tables.damaged_parts import frame_problem  # noqa: E402
from analysis.tables.read_only import lock_engine  # noqa: E402


def _medians(variants: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median time of each variant, the variants interleaved (a load change hits all alike)."""
    times: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(repeat):
        for label, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t0)
    return {label: statistics.median(ts) for label, ts in times.items()}


def damage(part: Path, where: str) -> None:
    """Overwrite ``part``'s footer or all its pages with 0xFF, keeping the magic bytes."""
    data = bytearray(part.read_bytes())
    (footer,) = struct.unpack("<I", data[-8:-4])
    start, end = (len(data) - 8 - footer, len(data) - 8)
    if where == "pages":
        start, end = 4, start
    data[start:end] = b"\xff" * (end - start)
    part.write_bytes(bytes(data))


def open_and_rank(root: Path) -> int:
    """Open the catalog over ``root``, rank, return how many parts it skipped."""
    with Catalog(root, warn=lambda _line: None) as cat:
        rank(cat, top=10)
        return len(cat.warnings)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stamps", type=int, default=100)
    ap.add_argument("--cells", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clean = Path(tmp) / "clean"
        make_reports(clean, args.stamps, args.cells, loops=60)
        parts = [p for group in find_parts(clean).values() for p in group]
        trees = {"clean": clean}
        for where in ("footer", "pages"):
            tree = Path(tmp) / where
            shutil.copytree(clean, tree)
            victim = sorted(find_parts(tree)["hot_loops"])[-1]  # the newest stamp: ranked
            damage(victim, where)
            trees[where] = tree
        print(f"{len(parts)} parts, {args.stamps} stamps; medians of {args.repeat}")

        def lock() -> None:
            con = duckdb.connect()
            lock_engine(con, parts)
            con.close()

        for where in ("footer", "pages"):
            skipped = open_and_rank(trees[where])
            assert skipped == 1, f"{where}: {skipped} parts skipped, expected 1"
        variants = {
            "open + rank, clean tree": lambda: open_and_rank(clean),
            "open + rank, one part's footer damaged (skipped)": lambda: open_and_rank(
                trees["footer"]
            ),
            "open + rank, one part's pages damaged (skipped)": lambda: open_and_rank(
                trees["pages"]
            ),
            "  of a clean open: frame check of every part": lambda: [
                frame_problem(p) for p in parts
            ],
            "  of a clean open: engine lock (allowed_paths)": lock,
        }
        medians = _medians(variants, args.repeat)
        base = medians["open + rank, clean tree"]
        for label, t in medians.items():
            print(f"{label:<52} {t:8.3f} s  {t / base:5.2f}x")


if __name__ == "__main__":
    main()
