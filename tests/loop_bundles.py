"""Build small evidence bundles from the committed trace fixtures (for query and bundle tests).

A bundle gets three profiled cells of the synthetic target:

- ``good`` (cpu float32, verdict pass) and ``bad`` (cpu float64, correlation 0.721: fail),
  both from the real CPU trace ``tests/data/synthetic_cpu_event_tree``;
- ``gpu`` (cuda:0 float32, pass) from the derived GPU run of :mod:`gpu_splice`: its kernels,
  CUDA runtime calls and the host time of the launching operators are real events of an
  A100-class GPU (``tests/data/hta_a100_sampled``); its Python frames and call sites are the
  CPU run's. Synthetic: which operators launch, the kernels' placement on the stream, and
  that the donor kernels ran on other shapes. The correlations and verdicts of all three
  cells are made up.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from gpu_splice import splice_gpu_run

from analysis.tables import CORRELATIONS, RUNS, SCHEMA_VERSION
from analysis.traces import trace_to_ops

DATA = Path(__file__).resolve().parent / "data" / "synthetic_cpu_event_tree"
SOURCE = Path(__file__).resolve().parent / "synthetic_loops"  # what the fixtures traced
TARGET = "python:synthetic_loops.target:factory"
CELLS = {
    "good": ("cpu", "float32", 320, "pass", 0.99999),
    "bad": ("cpu", "float64", 320, "fail", 0.721),
    "gpu": ("cuda:0", "float32", 320, "pass", 0.99998),
}


def _part(bundle: Path, table: str, cell_id: str, data: pa.Table) -> None:
    folder = bundle / "tables" / table
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, folder / f"part-{cell_id}.parquet")


@functools.cache
def _derived_gpu_run() -> dict[str, bytes]:
    """The files of the derived GPU run (built once per test process)."""
    with tempfile.TemporaryDirectory() as tmp:
        splice_gpu_run(Path(tmp))
        return {p.name: p.read_bytes() for p in Path(tmp).iterdir()}


def _trace(bundle: Path, device: str, tag: str) -> Path:
    """The cell's trace: the CPU run, or the derived GPU run copied into the bundle."""
    if not device.startswith("cuda"):
        return DATA / "trace.json.gz"
    folder = bundle / "profile" / tag
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in _derived_gpu_run().items():
        (folder / name).write_bytes(data)
    return folder / "trace.json.gz"


def make_bundle(reports: Path, stamp: str, cells: dict = CELLS) -> Path:
    """Write reports/<campaign>/<phase>/<stamp>/tables/{runs,correlations,ops}."""
    bundle = reports / "loops-test" / "phase_b" / stamp
    for cell_id, (device, dtype, size, verdict, corr) in cells.items():
        keys = {"stamp": stamp, "cell_id": cell_id, "device": device, "dtype": dtype, "size": size}
        tag = f"device={device},dtype={dtype},size={size}"
        _part(bundle, "ops", cell_id, trace_to_ops(_trace(bundle, device, tag), keys))
        run = {
            **keys,
            "schema_version": SCHEMA_VERSION,
            "target": TARGET,
            "phase": "profiled",
            "status": "ok",
            "cell_tag": tag,
        }
        _part(bundle, "runs", cell_id, pa.Table.from_pylist([run], schema=RUNS))
        row = {
            **keys,
            "schema_version": SCHEMA_VERSION,
            "reference": "builtin",
            "corr": corr,
            "sum_ratio": 1.0,
            "verdict": verdict,
            "status": "ok",
        }
        _part(bundle, "correlations", cell_id, pa.Table.from_pylist([row], schema=CORRELATIONS))
    return bundle
