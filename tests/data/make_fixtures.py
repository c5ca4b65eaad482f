"""Regenerate the committed trace fixtures (one folder per scenario).

    python tests/data/make_fixtures.py

- ``synthetic_cpu_event_tree/``: the synthetic target (tests/synthetic_loops) profiled on CPU
  with the event-tree call-site method;
- ``synthetic_cpu_markers/``: the same with the record_function-marker method.

Each folder holds what capture writes (trace.json.gz, trace.callsites.arrow,
trace.capture.json) plus loops.parquet, the inventory of the source the trace was taken
from, so tests stay valid when tests/synthetic_loops is edited later.
``cuda_handmade/trace.json`` is written by hand (no GPU here); see its README.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import torch

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

from analysis.capture import profile_call  # noqa: E402
from analysis.inventory import loops_table, scan_package  # noqa: E402
from synthetic_loops.target import factory  # noqa: E402

SIZE = 320
PARAMS = {"reps": 3, "a": 6, "b": 3, "c": 1}


def main() -> None:
    torch.set_num_threads(1)
    package = TESTS / "synthetic_loops"
    loops = loops_table(scan_package(package), stamp="fixture")
    for method in ("event_tree", "markers"):
        folder = HERE / f"synthetic_cpu_{method}"
        shutil.rmtree(folder, ignore_errors=True)
        fn = factory(SIZE, "cpu", "float32", PARAMS)
        fn()  # warm
        _, cap = profile_call(
            fn, device="cpu", trace_path=folder / "trace.json.gz", project_root=package,
            method=method,
        )
        pq.write_table(loops, folder / "loops.parquet")
        print(folder.name, cap.method, f"{cap.wall_s * 1e3:.1f} ms", cap.trace_bytes, "bytes")


if __name__ == "__main__":
    main()
