"""A sweep on a real 3-node Ray cluster (``ray.cluster_utils.Cluster``), one node lost.

Cells must land on every node (one CPU actor per node slot), every runs row names its Ray
node, env.json lists each node with what it ran, and removing a node mid-sweep loses
nothing: its cell is retried on the nodes left and the loss is recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sweep_helpers import sweep_env

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
GRID = """
campaign = "tests"
phase = "multinode"
target = "python:nightly_targets:scaled"
flags = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"
reference = "none"
iterations = 3
profile = false
cold = "instance"  # actors kept: the node is removed while one of them measures

[axes]
dtype = ["float32", "float64"]
size = [16, 24, 32]
"""


@pytest.fixture(scope="module")
def lost_node(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multinode")
    grid = tmp / "grid.toml"
    grid.write_text(GRID)
    out = tmp / "out.json"
    env = {**sweep_env(), "FARM_TEST_WORK": "12"}  # 0.24 s a render: a node dies mid-cell
    env.pop("FARM_TEST_KNOBS", None)
    proc = subprocess.run(
        [
            sys.executable,
            str(TESTS / "multinode_sweep.py"),
            str(grid),
            str(tmp / "reports"),
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    bundle = Path(result["bundle"])
    return {
        "result": result,
        "bundle": bundle,
        "runs": pq.read_table(bundle / "tables" / "runs").to_pylist(),
        "env": json.loads((bundle / "env.json").read_text()),
    }


def test_every_cell_finishes_although_a_node_was_lost(lost_node):
    r = lost_node["result"]
    assert "removed" in r, "the watcher never removed a node"
    assert r["counts"] == {"ok": 6, "failed": 0, "skipped": 0, "pending": 0}
    assert r["exit_code"] == 0


def test_cells_land_on_several_nodes_and_rows_name_them(lost_node):
    runs = lost_node["runs"]
    assert all(row["node_id"] and row["node_ip"] and row["node"] for row in runs)
    per_node = Counter(row["node_id"] for row in runs if row["phase"] == "cold")
    assert len(per_node) >= 2, per_node
    assert sum(per_node.values()) == 6


def test_the_lost_node_kept_what_it_finished_and_its_cell_was_retried(lost_node):
    removed, env = lost_node["result"]["removed"], lost_node["env"]
    finished_there = {row["cell_tag"] for row in lost_node["runs"] if row["node_id"] == removed}
    assert finished_there, "the removed node's finished cell must stay in the bundle"
    [loss] = env["node_losses"]
    assert loss["node_id"] == removed and loss["retried"]
    retried = [row for row in lost_node["runs"] if row["cell_tag"] == loss["cell"]]
    assert {row["node_id"] for row in retried} != {removed}
    notes = json.loads(
        (lost_node["bundle"] / "cells" / f"{retried[0]['cell_id']}.json").read_text()
    )["notes"]
    assert any("was lost while running this cell" in n for n in notes)
    assert "was lost while running this cell" in (lost_node["bundle"] / "commands.txt").read_text()


def test_env_json_lists_every_node_and_what_it_ran(lost_node):
    nodes = {n["node_id"]: n for n in lost_node["env"]["nodes"]}
    assert len(nodes) == 3
    removed = lost_node["result"]["removed"]
    assert nodes[removed]["alive"] is False
    assert sum(n["cell_count"] for n in nodes.values()) >= 6
    ran = {tag for n in nodes.values() for tag in n["cells"]}
    assert len(ran) == 6
