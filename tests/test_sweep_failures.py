"""Failing cells through real Ray: exceptions, NaN images, dead actors, CUDA without GPU.

One sweep (module fixture) covers every failure mode at once, so Ray and the actors start
once; each test then checks one behaviour in the bundle it left.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from analysis.tables.schema import SCHEMA_VERSION
from farm.driver import SweepOptions, SweepProgress, run_sweep
from farm.grid import load_grid

pytestmark = pytest.mark.slow

GRID = """
campaign = "tests"
phase = "failures"
target = "python:farm_targets:by_mode"
flags = "-marker_dir {marker_dir}"
reference = "none"
iterations = 2
profile = false
cpus_per_actor = 1
threads = 1

[axes]
device = ["cpu", "cuda"]
mode = ["ok", "raises", "nan", "crash_once", "crash", "alloc", "slow_first_warm"]
size = [16]
"""


@pytest.fixture(scope="module")
def failures(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("failures")
    (tmp / "markers").mkdir()
    path = tmp / "grid.toml"
    path.write_text(GRID.format(marker_dir=tmp / "markers"))
    grid = load_grid(path)
    snapshots: list[SweepProgress] = []

    def record(p: SweepProgress) -> None:
        snapshots.append(SweepProgress(**vars(p)))

    outcome = run_sweep(
        grid,
        SweepOptions(reports=tmp / "reports", argv=["farm", "sweep", "--grid", str(path)]),
        on_progress=record,
    )
    runs = pq.read_table(outcome.bundle.path / "tables" / "runs").to_pylist()
    records = json.loads((outcome.bundle.path / "benchmark_results.json").read_text())
    return {
        "grid": grid,
        "outcome": outcome,
        "runs": runs,
        "records": {r["tag"]: r for r in records},
        "snapshots": snapshots,
        "markers": tmp / "markers",
    }


def tag(device: str, mode: str) -> str:
    return f"device={device},dtype=float32,mode={mode},size=16"


def test_every_cell_has_rows_and_the_sweep_went_on(failures):
    outcome = failures["outcome"]
    assert outcome.counts == {"ok": 4, "failed": 3, "skipped": 7, "pending": 0}
    assert outcome.exit_code == 1
    assert not outcome.interrupted
    assert len(failures["records"]) == 14
    assert {r["cell_id"] for r in failures["runs"]} == {c.cell_id for c in failures["grid"].cells()}


def test_cuda_cells_are_skipped_at_once_with_the_reason(failures):
    for mode in ("ok", "raises", "nan", "crash_once", "crash", "alloc", "slow_first_warm"):
        rec = failures["records"][tag("cuda", mode)]
        assert rec["status"] == "skipped"
        assert rec["error"].startswith("no GPU in the Ray cluster (CPU=2, GPU=0")
    rows = [r for r in failures["runs"] if r["device"] == "cuda"]
    assert len(rows) == 7 and all(r["status"] == "skipped" and r["phase"] is None for r in rows)


def test_a_target_that_raises_is_recorded_with_its_error(failures):
    rec = failures["records"][tag("cpu", "raises")]
    assert rec["status"] == "failed"
    assert rec["error"].startswith("RuntimeError: boom at size 16 (farm_targets.py:")
    rows = [r for r in failures["runs"] if r["cell_tag"] == tag("cpu", "raises")]
    assert [r["phase"] for r in rows] == ["cold"]
    assert rows[0]["status"] == "failed" and "boom" in rows[0]["error"]


def test_a_nan_image_fails_the_cell(failures):
    rec = failures["records"][tag("cpu", "nan")]
    assert rec["status"] == "failed"
    assert rec["error"] == "cold image has 3 non-finite (NaN/Inf) pixels of 256"
    rows = [r for r in failures["runs"] if r["cell_tag"] == tag("cpu", "nan")]
    assert rows[0]["phase"] == "cold" and rows[0]["status"] == "failed"
    assert rows[0]["sim_s"] is not None  # the timing that was measured is kept


def test_a_dead_actor_is_retried_once(failures):
    once = failures["records"][tag("cpu", "crash_once")]
    assert once["status"] == "ok", once
    assert (failures["markers"] / "crashed-16-float32").exists()
    twice = failures["records"][tag("cpu", "crash")]
    assert twice["status"] == "failed"
    assert twice["error"].startswith("actor died twice running the cell")
    log = (failures["outcome"].bundle.path / "commands.txt").read_text()
    assert f"# cell {tag('cpu', 'crash')}: actor died, retrying once" in log
    assert f"# cell {tag('cpu', 'crash_once')}: actor died, retrying once" in log
    # the retry is in the cell's notes and in summary.md, not only in commands.txt
    [retry] = once["retries"]
    assert retry.startswith("its actor died on the first attempt (")
    assert retry.endswith("); retried once on a fresh actor") and retry in once["notes"]
    summary = (failures["outcome"].bundle.path / "summary.md").read_text()
    section = summary.split("## Actor retries\n")[1].split("\n## ")[0]
    assert f"- `{tag('cpu', 'crash_once')}` (ok): {retry}" in section
    assert tag("cpu", "ok") not in section
    assert retry not in summary.split("## Actor retries")[0]


def test_ok_cell_rows_record_threads_and_phases(failures):
    rows = [r for r in failures["runs"] if r["cell_tag"] == tag("cpu", "ok")]
    assert [(r["phase"], r["iteration"]) for r in rows] == [("cold", 0), ("warm", 0), ("warm", 1)]
    for r in rows:
        assert r["status"] == "ok" and r["threads"] == 1
        assert r["sim_s"] > 0 and 100 < r["peak_mem_mb"] < 4096  # an actor holding torch
        assert (
            r["schema_version"] == SCHEMA_VERSION and r["stamp"] == failures["outcome"].bundle.stamp
        )
    assert rows[0]["setup_s"] > 0 and rows[0]["total_s"] >= rows[0]["sim_s"]
    env = json.loads((failures["outcome"].bundle.path / "env.json").read_text())
    assert env["threads"]["cpu_actor_torch_threads"] == 1
    assert env["workers"] and all(w["torch_threads"] == 1 for w in env["workers"])


def test_peak_memory_is_per_phase(failures):
    """A render that fills 128 MiB only when warm: the warm peak is 128 MiB above the cold."""
    rows = [r for r in failures["runs"] if r["cell_tag"] == tag("cpu", "alloc")]
    [cold] = [r["peak_mem_mb"] for r in rows if r["phase"] == "cold"]
    warm = [r["peak_mem_mb"] for r in rows if r["phase"] == "warm"]
    assert len(warm) == 2
    for peak in warm:
        assert 120 <= peak - cold <= 200, (cold, warm)


def test_an_untimed_warm_up_runs_before_the_timed_renders(failures):
    """The first render after the cold one is 0.5 s slow: the warm-up takes it, untimed."""
    rec = failures["records"][tag("cpu", "slow_first_warm")]
    assert rec["status"] == "ok" and rec["warmups"] == 1
    assert rec["iterations"] == 2 and len(rec["py_time_warm_samples"]) == 2
    assert max(rec["py_time_warm_samples"]) < 0.25, rec["py_time_warm_samples"]
    rows = [r for r in failures["runs"] if r["cell_tag"] == tag("cpu", "slow_first_warm")]
    assert [(r["phase"], r["iteration"]) for r in rows] == [("cold", 0), ("warm", 0), ("warm", 1)]


def test_summary_lists_failures_and_progress_counted_them(failures):
    summary = (failures["outcome"].bundle.path / "summary.md").read_text()
    assert "- State: complete" in summary
    section = summary.split("## Failures and skips")[1].split("##")[0]
    for mode in ("raises", "nan", "crash"):
        assert tag("cpu", mode) in section
    assert tag("cpu", "ok") + " |" not in section
    last = failures["snapshots"][-1]
    assert (last.total, last.done, last.failed, last.skipped) == (14, 14, 3, 7)
    assert max(s.running for s in failures["snapshots"]) >= 1
    corr = (failures["outcome"].bundle.path / "correlation.txt").read_text()
    assert f"{tag('cpu', 'ok')}\tno_reference: reference = 'none' in the grid" in corr
    assert f"{tag('cpu', 'nan')}\tfailed: cold image has 3 non-finite" in corr


def test_failed_cell_parts_exist_for_every_table_they_produced(failures):
    bundle: Path = failures["outcome"].bundle.path
    corr_ids = {p.name[5:-8] for p in (bundle / "tables" / "correlations").glob("part-*.parquet")}
    ok_ids = {r["cell_id"] for r in failures["records"].values() if r["status"] == "ok"}
    assert ok_ids <= corr_ids
    assert not list((bundle / "tables").glob("*/.*.tmp"))
