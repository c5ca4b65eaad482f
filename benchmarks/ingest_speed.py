"""Trace ingestion speed: MB/s of trace JSON, from trace.json.gz to an ops Parquet file.

Usage:
    python benchmarks/ingest_speed.py                 # profile a synthetic loop, then ingest
    python benchmarks/ingest_speed.py --iterations 20000 --repeat 3
    python benchmarks/ingest_speed.py --trace path/to/trace.json.gz

MB are megabytes (1e6 bytes) of *uncompressed* trace JSON; the time runs from reading the
gzipped file to a written Parquet file (zstd), the way the sweep worker does it.
Target: >= 100 MB/s.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.traces import profile_call, trace_to_ops  # noqa: E402


def _helper(x: torch.Tensor) -> torch.Tensor:
    return (x * 2).sum()


def _workload(iterations: int):
    def run() -> torch.Tensor:
        x = torch.ones(64)
        acc = torch.zeros(64)
        for i in range(iterations):
            acc = acc + _helper(x) * torch.sin(x + i)
        return acc

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", type=Path, help="an existing trace.json.gz (default: make one)")
    ap.add_argument("--iterations", type=int, default=20000, help="loop trips of the workload")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trace = args.trace
        if trace is None:
            trace = Path(tmp) / "profile" / "trace.json.gz"
            t0 = time.perf_counter()
            profile_call(
                _workload(args.iterations),
                device="cpu",
                trace_path=trace,
                project_root=Path(__file__).resolve().parent,
            )
            print(f"captured {trace.name} in {time.perf_counter() - t0:.1f} s")
        with gzip.open(trace, "rb") as fh:
            raw_mb = sum(len(chunk) for chunk in iter(lambda: fh.read(1 << 24), b"")) / 1e6
        gz_mb = trace.stat().st_size / 1e6
        out = Path(tmp) / "ops.parquet"
        times, rows = [], 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            table = trace_to_ops(trace, {"stamp": "bench", "cell_id": "bench", "device": "cpu"})
            pq.write_table(table, out)
            times.append(time.perf_counter() - t0)
            rows = table.num_rows
        best, med = min(times), statistics.median(times)
        print(
            f"trace: {raw_mb:.1f} MB JSON ({gz_mb:.1f} MB gzipped), {rows} ops rows, "
            f"method {table['callsite_method'][0]}"
        )
        print(
            f"ingest+parquet: best {best:.2f} s = {raw_mb / best:.0f} MB/s; "
            f"median {med:.2f} s = {raw_mb / med:.0f} MB/s (target >= 100 MB/s)"
        )


if __name__ == "__main__":
    main()
