"""Regenerate the committed trace fixtures (one folder per scenario).

    python tests/data/make_fixtures.py

- ``synthetic_cpu_event_tree/``: the synthetic target (tests/synthetic_loops) profiled on CPU
  with the event-tree call-site method;
- ``synthetic_cpu_markers/``: the same with the record_function-marker method.

Each folder holds what capture writes (trace.json.gz, trace.callsites.arrow,
trace.capture.json) plus loops.parquet, the inventory of the source the trace was taken
from: ``tests/synthetic_loops/``, whose sha1 trace.capture.json records. Edit that target
and ``test_fixtures_match_the_traced_source`` asks you to run this script again.

A shared host pauses processes at random, so one capture can be far from typical: each
scenario is captured ``TRIES`` times and the capture whose loop shares are closest to the
median of all tries is kept (a representative sample, not the best one).
``cuda_handmade/trace.json`` is written by hand (no GPU here); see its README.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import torch

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

from analysis.loops import attribute, loops_table, scan_package  # noqa: E402
from analysis.traces import profile_call, trace_to_ops  # noqa: E402
from synthetic_loops.target import factory  # noqa: E402

SIZE = 320
PARAMS = {"reps": 3, "a": 6, "b": 3, "c": 1}
TRIES = 5


def _shares(trace: Path, loops) -> list[float]:
    hot = attribute(trace_to_ops(trace, {"stamp": "x", "cell_id": "x"}), loops).to_pylist()
    by_header = {r["line"]: r["pct_of_run"] for r in hot}
    lines = {r["header"]: r["line"] for r in loops.to_pylist()}
    keys = ("for _ in range(p['a']):", "for _ in range(p['b']):", "for _ in range(p['c'])")
    return [by_header.get(lines[k], 0.0) for k in keys]


def main() -> None:
    torch.set_num_threads(1)
    package = TESTS / "synthetic_loops"
    loops = loops_table(scan_package(package), stamp="fixture")
    for method in ("event_tree", "markers"):
        folder = HERE / f"synthetic_cpu_{method}"
        with tempfile.TemporaryDirectory() as tmp:
            tries = []
            for k in range(TRIES):
                fn = factory(SIZE, "cpu", "float32", PARAMS)
                fn()  # warm
                trace = Path(tmp) / str(k) / "trace.json.gz"
                _, cap = profile_call(
                    fn, device="cpu", trace_path=trace, project_root=package, method=method
                )
                tries.append((_shares(trace, loops), cap))
            median = [statistics.median(t[0][i] for t in tries) for i in range(3)]
            shares, cap = min(
                tries, key=lambda t: sum(abs(a - b) for a, b in zip(t[0], median, strict=True))
            )
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(cap.trace_path.parent, folder)
        pq.write_table(loops, folder / "loops.parquet")
        print(
            folder.name,
            cap.method,
            f"{cap.wall_s * 1e3:.1f} ms",
            cap.trace_bytes,
            "bytes",
            "shares",
            [round(x, 1) for x in shares],
            "median",
            [round(x, 1) for x in median],
        )


if __name__ == "__main__":
    main()
