"""Joining a Ray cluster with --address (skipped unless RAY_ADDRESS names one)."""

from __future__ import annotations

import json
import os
import subprocess

import pyarrow.parquet as pq
import pytest
from sweep_helpers import sweep_command, sweep_env

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

GRID = """
campaign = "tests"
phase = "cluster"
target = "simulator"
flags = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"
reference = "builtin"
iterations = 2
profile = true

[axes]
dtype = ["float32", "float64"]
size = [64]
"""


def test_sweep_joins_the_cluster_and_brings_traces_back(tmp_path):
    address = os.environ["RAY_ADDRESS"]
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    proc = subprocess.run(
        sweep_command(grid, tmp_path / "reports", "--address", address),
        env=sweep_env(local=False),
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(Ray reused" in proc.stdout
    [bundle] = (tmp_path / "reports" / "tests" / "cluster").iterdir()
    env = json.loads((bundle / "env.json").read_text())
    assert env["ray"]["how"] == f"joined {address}"
    assert env["ray"]["nodes"] and env["cell_nodes"]
    runs = pq.read_table(bundle / "tables" / "runs").to_pylist()
    assert {r["node"] for r in runs} == set(env["cell_nodes"])
    for tag in ("device=cpu,dtype=float32,size=64", "device=cpu,dtype=float64,size=64"):
        assert (bundle / "profile" / tag / "trace.json.gz").stat().st_size > 0
