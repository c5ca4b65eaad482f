"""Ranking query speed over many bundles: ``farm rank`` on 100 synthetic stamps.

Usage:
    python benchmarks/rank_query.py                     # 100 stamps x 8 cells x 60 loops
    python benchmarks/rank_query.py --stamps 100 --cells 8 --loops 60 --keep /tmp/reports

Writes a reports tree of synthetic bundles (runs, correlations, hot_loops parts, one per
cell, like a sweep), then times: opening the catalog over all of it (finding and checking
every part), the ranking and CPU-vs-GPU queries over all bundles, and what ``farm rank``
does (open only the chosen stamp's bundles, then rank). Target: ``farm rank`` <= 1 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.queries.hotspots import hotspots  # noqa: E402
from analysis.queries.ranking import rank  # noqa: E402
from analysis.tables.catalog import Catalog, latest_stamp  # noqa: E402
from analysis.tables.schema import CORRELATIONS, HOT_LOOPS, RUNS, SCHEMA_VERSION  # noqa: E402


def _write(folder: Path, cell: str, table: pa.Table) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / f"part-{cell}.parquet")


def make_reports(root: Path, stamps: int, cells: int, loops: int, seed: int = 0) -> list[str]:
    """Synthetic bundles: every cell has ``loops`` hot_loops rows; 1 cell in 8 fails parity."""
    rng = random.Random(seed)
    names = []
    for s in range(stamps):
        stamp = f"2026{1 + s // 28:02d}{1 + s % 28:02d}T000000Z"
        names.append(stamp)
        bundle = root / "bench" / "phase_b" / stamp / "tables"
        for c in range(cells):
            cell = f"{s:03d}{c:03d}abcdef"
            device = "cuda:0" if c % 2 else "cpu"
            dtype = "float64" if c % 4 >= 2 else "float32"
            size = 256 << (c % 3)
            keys = {
                "schema_version": SCHEMA_VERSION,
                "stamp": stamp,
                "cell_id": cell,
                "device": device,
                "dtype": dtype,
                "size": size,
            }
            _write(
                bundle / "runs",
                cell,
                pa.Table.from_pylist(
                    [{**keys, "target": "simulator", "phase": "profiled", "status": "ok"}],
                    schema=RUNS,
                ),
            )
            ok = c % 8 != 7
            _write(
                bundle / "correlations",
                cell,
                pa.Table.from_pylist(
                    [
                        {
                            **keys,
                            "corr": 0.99999 if ok else 0.721,
                            "sum_ratio": 1.0,
                            "verdict": "pass" if ok else "fail",
                        }
                    ],
                    schema=CORRELATIONS,
                ),
            )
            rows = []
            for k in range(loops):
                pct = rng.random() * 100 / (k + 1)
                rows.append(
                    {
                        **keys,
                        "target": "simulator",
                        "loop_id": f"loop{k:04d}",
                        "module": f"simulator/m{k % 7}.py",
                        "line": 10 + k,
                        "function": f"f{k % 5}",
                        "kind": "for",
                        "inclusive_us": pct * 1e3,
                        "cpu_us": pct * 1e3,
                        "gpu_us": 0.0,
                        "pct_of_run": pct,
                        "op_count": k * 3,
                        "kernel_count": k if c % 2 else 0,
                        "est_iterations": k + 1,
                        "self_python_us": pct * 100,
                        "instr_us": 1.0,
                        "callsite_method": "event_tree",
                    }
                )
            _write(bundle / "hot_loops", cell, pa.Table.from_pylist(rows, schema=HOT_LOOPS))
    return names


def _time(fn, repeat: int) -> tuple[float, float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stamps", type=int, default=100)
    ap.add_argument("--cells", type=int, default=8)
    ap.add_argument("--loops", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="write the reports tree here and keep it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        t0 = time.perf_counter()
        stamps = make_reports(root, args.stamps, args.cells, args.loops)
        parts = sum(1 for _ in root.glob("**/part-*.parquet"))
        print(
            f"wrote {args.stamps} stamps, {parts} parts, "
            f"{args.stamps * args.cells * args.loops} hot_loops rows "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        best, med, cat = _time(lambda: Catalog(root), 3)
        print(f"open catalog (find + check {parts} parts): best {best:.3f} s, median {med:.3f} s")
        best, med, res = _time(lambda: rank(cat, top=10), args.repeat)
        print(
            f"rank newest stamp, top 10 per device/dtype: best {best:.3f} s, median {med:.3f} s "
            f"({len(res.ranked.rows)} rows, {len(res.refused.rows)} refused cells)"
        )
        best, med, res = _time(lambda: rank(cat, stamp=stamps[3], device="cpu", top=5), args.repeat)
        print(f"rank {stamps[3]} --device cpu --top 5: best {best:.3f} s, median {med:.3f} s")
        best, med, res = _time(lambda: hotspots(cat, top=20), args.repeat)
        print(f"hotspots newest stamp: best {best:.3f} s, median {med:.3f} s")
        cat.close()

        def farm_rank():
            stamp = latest_stamp(root)
            with Catalog(root, stamps={stamp}) as one:
                return rank(one, stamp=stamp, top=10)

        best, med, _ = _time(farm_rank, args.repeat)
        print(
            f"`farm rank` (newest stamp from the paths, open its bundles, rank): "
            f"best {best:.3f} s, median {med:.3f} s (target <= 1 s)"
        )

        def all_stamps():
            with Catalog(root) as every:
                return rank(every, top=10)

        best, med, _ = _time(all_stamps, 3)
        print(
            f"open all {args.stamps} stamps + rank (no stamp pruning): best {best:.3f} s, "
            f"median {med:.3f} s"
        )


if __name__ == "__main__":
    main()
