"""References of a sweep, through real Ray: each runs on the CPUs its task reserved, and the
bundle names each reference's time for the engine it is (``c_time`` is the C binary's only).
"""

from __future__ import annotations

import json

import pytest

from farm.driver import SweepOptions, run_sweep
from farm.grid import parse_grid
from farm.references import SharedReferences

GRID = """
campaign = "refs"
phase = "refs"
target = "simulator"
flags = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 2 -distance 100"
reference = "{reference}"
iterations = 2
profile = false
cpus_per_actor = 1
threads = 1
{extra}
[axes]
size = [32]
"""


def test_the_builtin_reference_runs_on_the_cpus_its_task_reserved(ray_local):
    """Numba would use every core of the machine (2 here); the task reserved 1."""
    import numba

    assert numba.config.NUMBA_NUM_THREADS >= 2  # else the test could not tell
    cells = parse_grid(GRID.format(reference="builtin", extra="")).cells()
    logged = []
    refs = SharedReferences().compute(
        "builtin",
        cells,
        c_bin=None,
        timeout_s=None,
        cpus=1,
        poll_s=0.1,
        log_command=lambda argv, rc, note="": logged.append(note),
        on_stage=lambda text: None,
    )
    outcome = ray_local.get(refs[cells[0].cell_id])
    assert outcome.ok and outcome.threads == 1
    assert logged == [f"builtin reference, ok, {outcome.wall_s:.2f} s, 1 thread"]


@pytest.mark.cbin
def test_c_time_and_speedups_come_from_the_c_binary(ray_local, tmp_path, c_binary):
    path = tmp_path / "grid.toml"
    path.write_text(GRID.format(reference="nanobragg", extra=f'c_bin = "{c_binary}"'))
    from farm.grid import load_grid

    outcome = run_sweep(load_grid(path), SweepOptions(reports=tmp_path, argv=["farm", "sweep"]))
    assert outcome.exit_code == 0
    [rec] = json.loads((outcome.bundle.path / "benchmark_results.json").read_text())
    assert rec["reference_engine"] == "nanobragg" and rec["reference_time"] > 0
    assert rec["c_time"] == rec["reference_time"]
    assert rec["speedup_warm"] == pytest.approx(rec["c_time"] / rec["py_time_warm"])
    assert rec["speedup_cold"] == pytest.approx(rec["c_time"] / rec["py_time_cold"])
