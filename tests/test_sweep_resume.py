"""Ctrl-C leaves a valid partial bundle; `--resume STAMP` runs only the cells without rows.

The interrupted sweep is a real `farm sweep` process (its own embedded Ray) stopped with
SIGINT while its second cell renders; the resume runs in the test session's Ray.
"""

from __future__ import annotations

import json
import re
import signal
import time

import pyarrow.parquet as pq
import pytest
from sweep_helpers import start_sweep, wait_for
from typer.testing import CliRunner

from farm.cli import app
from farm.grid import load_grid

pytestmark = pytest.mark.slow


GRID = """
campaign = "tests"
phase = "resume"
target = "python:farm_targets:interruptible"
flags = "-slow_marker {marker}"
reference = "none"
iterations = 2
profile = true
profile_renders = 1
cpus_per_actor = 2
threads = 1

[axes]
size = [16, 32, 48]
"""


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    marker = tmp / "slow"
    marker.write_text("render slowly\n")
    grid_path = tmp / "grid.toml"
    grid_path.write_text(GRID.format(marker=marker))
    reports = tmp / "reports"
    proc = start_sweep(grid_path, reports, tmp)
    runs = reports / "tests" / "resume"
    try:
        wait_for(lambda: len(list(runs.glob("*/tables/runs/part-*.parquet"))) == 1, 120, "cell 1")
        time.sleep(1.0)  # the second cell is now sleeping in its render
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    [bundle] = runs.iterdir()
    return {
        "rc": proc.returncode,
        "out": out,
        "err": err,
        "bundle": bundle,
        "grid_path": grid_path,
        "reports": reports,
        "marker": marker,
        "grid": load_grid(grid_path),
    }


def test_ctrl_c_leaves_a_valid_partial_bundle(interrupted):
    b = interrupted["bundle"]
    assert interrupted["rc"] == 130, interrupted["err"][-2000:]
    assert f"--resume {b.name}" in interrupted["err"]
    summary = (b / "summary.md").read_text()
    assert "**PARTIAL**: 2 of 3 cells have no rows yet (interrupted by Ctrl-C)" in summary
    assert f"--resume {b.name}`" in summary
    results = json.loads((b / "benchmark_results.json").read_text())
    assert [r["size"] for r in results] == [16]
    assert len(list((b / "tables" / "runs").glob("part-*.parquet"))) == 1
    assert pq.read_table(b / "tables" / "runs").num_rows == 1 + 2 + 1
    assert "pending (no rows yet)" in (b / "correlation.txt").read_text()
    json.loads((b / "env.json").read_text())
    log = (b / "commands.txt").read_text()
    assert "# interrupted by Ctrl-C" in log and "-> exit 130" in log
    report = (b / "report.html").read_text()  # the partial bundle has its page too
    assert "PARTIAL: 2 of 3 cells have no rows yet (interrupted by Ctrl-C)" in report
    assert f"--resume {b.name}" in report and log.count("# report.html: ") == 1
    # profile/run.log: the console of the interrupted command, its last line included
    run_log = (b / "profile" / "run.log").read_text()
    assert "\x1b" not in run_log
    assert "] cells: 1/3 cells done, " in run_log
    last = interrupted["err"].strip().splitlines()[-1]
    assert last.startswith("interrupted by Ctrl-C: resume with ") and f"\n{last}\n" in run_log
    assert run_log.endswith(interrupted["out"].strip().splitlines()[-1] + "\n")  # next: …
    assert (b / "torch_env.txt").read_text().strip()  # collected after the cells stopped
    assert (b / "notes" / "README.md").is_file()


def test_bad_resume_exits_2_and_loses_nothing(interrupted, tmp_path):
    b = interrupted["bundle"]
    before = {p: p.stat().st_mtime_ns for p in b.rglob("*") if p.is_file()}
    runner = CliRunner()
    args = [
        "sweep",
        "--grid",
        str(interrupted["grid_path"]),
        "--reports",
        str(interrupted["reports"]),
    ]
    r = runner.invoke(app, [*args, "--resume", "20000101T000000Z"])
    assert r.exit_code == 2 and "--resume: no bundle" in r.stderr
    r = runner.invoke(app, [*args, "--resume", "yesterday"])
    assert r.exit_code == 2 and "is not a stamp" in r.stderr
    other = tmp_path / "grid.toml"
    other.write_text(
        interrupted["grid_path"].read_text().replace("iterations = 2", "iterations = 3")
    )
    r = runner.invoke(
        app,
        [
            "sweep",
            "--grid",
            str(other),
            "--reports",
            str(interrupted["reports"]),
            "--resume",
            b.name,
        ],
    )
    assert r.exit_code == 2 and "differs from the one bundle" in r.stderr
    after = {p: p.stat().st_mtime_ns for p in b.rglob("*") if p.is_file()}
    assert after == before


def test_resume_runs_only_the_missing_cells(interrupted, ray_local):
    b = interrupted["bundle"]
    first = next((b / "tables" / "runs").glob("part-*.parquet"))
    first_stat = first.stat()
    interrupted["marker"].unlink()  # renders are fast now
    torch_env = (b / "torch_env.txt").stat().st_mtime_ns
    first_log = (b / "profile" / "run.log").read_text()
    r = CliRunner().invoke(
        app,
        [
            "sweep",
            "--grid",
            str(interrupted["grid_path"]),
            "--reports",
            str(interrupted["reports"]),
            "--resume",
            b.name,
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "cells: 3 ok, 0 failed, 0 skipped, 0 pending" in r.stdout
    assert first.stat().st_mtime_ns == first_stat.st_mtime_ns  # the finished cell was not rerun
    runs = pq.read_table(b / "tables" / "runs").to_pylist()
    assert len(runs) == 3 * (1 + 2 + 1)
    assert {r["stamp"] for r in runs} == {b.name}
    assert len({r["cell_id"] for r in runs}) == 3
    summary = (b / "summary.md").read_text()
    assert "- State: complete" in summary
    results = json.loads((b / "benchmark_results.json").read_text())
    assert [x["size"] for x in results] == [16, 32, 48]
    for cell in interrupted["grid"].cells():
        assert (b / "profile" / cell.tag / "trace.json.gz").is_file()
    log = (b / "commands.txt").read_text()
    assert log.count("# started") == 1 and log.count("# resumed") == 1
    assert log.count("# report.html: ") == 2  # rewritten by the resume
    assert "State: complete" in (b / "report.html").read_text()
    env = json.loads((b / "env.json").read_text())
    assert [s["resumed"] for s in env["sessions"]] == [False, True]
    # threads = 1 on a 2-CPU actor: torch, OpenMP and MKL all get 1 (Ray would say 2)
    assert {r["threads"] for r in runs} == {1}
    for worker in env["workers"]:
        assert worker["torch_threads"] == 1
        assert worker["env_threads"]["OMP_NUM_THREADS"] == "1"
        assert worker["env_threads"]["MKL_NUM_THREADS"] == "1"
    assert env["sessions"][0]["interrupted"] is True
    assert (b / "torch_env.txt").stat().st_mtime_ns == torch_env  # once per bundle
    run_log = (b / "profile" / "run.log").read_text()
    assert run_log.startswith(first_log)  # the first session's lines are kept
    resumed = run_log[len(first_log) :]
    assert re.match(r"# resumed \S+Z: the lines below are this session's\n", resumed)
    assert resumed.rstrip().endswith(r.stdout.rstrip().splitlines()[-1])
