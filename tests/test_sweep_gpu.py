"""CUDA cells for real (skipped without a GPU): a `farm sweep` process with its own Ray.

The session Ray of the other sweep tests has no GPU on purpose, so this one starts its own.
"""

from __future__ import annotations

import gzip
import json
import subprocess

import pyarrow.parquet as pq
import pytest
from sweep_helpers import sweep_command, sweep_env

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


GRID = """
campaign = "tests"
phase = "gpu"
target = "{target}"
reference = "{reference}"
iterations = 3
profile = true

[axes]
device = ["cpu", "cuda"]
dtype = ["float32"]
size = [64]
"""


@pytest.mark.parametrize(
    ("target", "reference"),
    [("python:farm_targets:gaussian", "none"), ("simulator", "builtin")],
)
def test_cuda_cells_run_on_the_gpu(tmp_path, target, reference):
    import torch

    grid = tmp_path / "grid.toml"
    grid.write_text(GRID.format(target=target, reference=reference))
    proc = subprocess.run(
        sweep_command(grid, tmp_path / "reports"),
        cwd=tmp_path,
        env=sweep_env(),
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [bundle] = (tmp_path / "reports" / "tests" / "gpu").iterdir()
    runs = [
        r for r in pq.read_table(bundle / "tables" / "runs").to_pylist() if r["device"] == "cuda"
    ]
    assert runs and all(r["status"] == "ok" for r in runs)
    assert runs[0]["device_name"] == torch.cuda.get_device_name(0)
    assert all(r["peak_mem_mb"] > 0 for r in runs)
    env_json = json.loads((bundle / "env.json").read_text())
    cuda_workers = [w for w in env_json["workers"] if w["device"] == "cuda"]
    assert cuda_workers and cuda_workers[0]["gpu_names"] and cuda_workers[0]["torch_cuda"]
    tag = "device=cuda,dtype=float32,size=64"
    trace = json.loads(gzip.decompress((bundle / "profile" / tag / "trace.json.gz").read_bytes()))
    assert any(e.get("cat") == "kernel" for e in trace["traceEvents"])
