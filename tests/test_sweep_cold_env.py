"""Honest cold runs and per-cell environments, through real Ray and a compiled target.

The same grid of two cells (an ``env`` axis) runs twice:

- ``cold = "process"`` (the default): each cell in a fresh actor process, its ``env`` set
  from the process's start (the target checks it already had it when it was imported);
- ``cold = "instance"``: both cells in one actor; the second cell's cold run finds the
  compiled graph of the first in its process, and its row says so.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from farm.driver import SweepOptions, run_sweep
from farm.grid import load_grid

pytestmark = pytest.mark.slow

GRID = """
campaign = "tests"
phase = "cold-{cold}"
target = "python:farm_targets:compiled_probe"
reference = "none"
iterations = 2
profile = false
cpus_per_actor = 2
threads = 1
cold = "{cold}"
{options}
[axes]
env = [{{FARM_PROBE = "a"}}, {{FARM_PROBE = "b"}}]
size = [32]
"""


def _sweep(tmp, cold: str, options: str = "") -> dict:
    path = tmp / f"{cold}.toml"
    path.write_text(GRID.format(cold=cold, options=options))
    outcome = run_sweep(
        load_grid(path), SweepOptions(reports=tmp / "reports", argv=["farm", "sweep"])
    )
    runs = pq.read_table(outcome.bundle.path / "tables" / "runs").to_pylist()
    env = json.loads((outcome.bundle.path / "env.json").read_text())
    return {"outcome": outcome, "runs": runs, "env": env}


@pytest.fixture(scope="module")
def sweeps(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cold")
    return {
        "process": _sweep(tmp, "process", "[options]\nat_import = true"),
        "instance": _sweep(tmp, "instance"),
    }


def _cold(runs: list[dict]) -> dict[str, dict]:
    return {r["env"]: r for r in runs if r["phase"] == "cold"}


def test_env_reaches_the_actor_from_its_start_and_is_recorded(sweeps):
    got = sweeps["process"]
    assert got["outcome"].counts == {"ok": 2, "failed": 0, "skipped": 0, "pending": 0}, [
        (r["cell_tag"], r["error"]) for r in got["runs"] if r["error"]
    ]
    cold = _cold(got["runs"])
    assert set(cold) == {'{"FARM_PROBE": "a"}', '{"FARM_PROBE": "b"}'}
    assert {r["cell_tag"] for r in cold.values()} == {
        "device=cpu,dtype=float32,env=FARM_PROBE=a,size=32",
        "device=cpu,dtype=float32,env=FARM_PROBE=b,size=32",
    }
    assert all(r["env"] for r in got["runs"])  # every row of the cell, not only the cold one
    assert got["env"]["measurement"]["cold"] == "process"


def test_fresh_process_cold_is_slower_than_a_warm_process_cold(sweeps):
    fresh = sorted(_cold(sweeps["process"]["runs"]).values(), key=lambda r: r["env"])
    shared = sorted(_cold(sweeps["instance"]["runs"]).values(), key=lambda r: r["env"])
    assert [r["process_cells"] for r in fresh] == [0, 0]  # each cell: a process of its own
    assert [r["process_cells"] for r in shared] == [0, 1]  # the second found the first's
    assert {r["cold_mode"] for r in fresh} == {"process"}
    assert {r["cold_mode"] for r in shared} == {"instance"}
    pids = {r["node"] for r in fresh}
    assert len(pids) == 1  # one host; the processes differ (process_cells says so)
    # in a fresh process the compiled function is traced and compiled again; in the shared
    # one the second cell reuses the first cell's graph
    second_fresh = fresh[1]["total_s"]
    second_shared = shared[1]["total_s"]
    assert second_fresh > 3 * second_shared, (second_fresh, second_shared)
    assert min(r["total_s"] for r in fresh) > 3 * second_shared


def test_warm_state_columns_and_target_provenance_are_in_every_row(sweeps):
    for got in sweeps.values():
        for r in got["runs"]:
            assert r["target_package"] == "farm_targets"
            assert r["target_dir"].endswith("tests")
            assert r["compile_cache_files"] is None or r["compile_cache_files"] >= 0
        assert got["env"]["target_provenance"]["target_package"] == "farm_targets"
