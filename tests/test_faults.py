"""Faults, run for real: each gets one clear line, the right exit code, and loses nothing.

* bad input caught before anything starts (exit 2, one line, no bundle, Ray never started):
  a missing HKL, matrix or source file in the flags, ``reference = "nanobragg"`` without a
  binary, a reports path under a regular file, a Ray that cannot start;
* signals to real ``farm sweep`` processes with their own embedded Ray: SIGTERM takes the
  Ctrl-C path (a partial bundle, exit 143, the exact resume command, which then completes
  it); SIGKILL leaves no Ray helpers behind; the two sweeps, run at once, are recorded as
  concurrent;
* a full disk, on a small tmpfs mounted in a mount namespace of its own (skipped where the
  machine does not allow one): one line naming the file, the bundle resumable.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sweep_helpers import start_sweep, sweep_command, sweep_env, wait_for
from typer.testing import CliRunner

from farm.cli import app
from farm.driver.helper_reaper import descendants

pytestmark = pytest.mark.slow

runner = CliRunner()

SIMULATOR_GRID = """
campaign = "faults"
phase = "input"
target = "simulator"
flags = "{flags}"
reference = "{reference}"
iterations = 1
profile = false
{extra}
[axes]
size = [16]
{axes}
"""

GATED_GRID = """
campaign = "faults"
phase = "{phase}"
target = "python:farm_targets:interruptible"
flags = "-slow_marker {gate}"
reference = "none"
iterations = 1
profile = {profile}
profile_renders = 1
cold = "instance"  # one actor: the signals and the full disk meet it mid-cell
cpus_per_actor = 1
threads = 1

[axes]
size = {sizes}
"""

CELL = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 2 -distance 100"


def _alive(procs: list[tuple[int, str]]) -> list[int]:
    """The processes of ``procs`` (pid, start time) still running (zombies count as gone)."""
    out = []
    for pid, start in procs:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if fields[19] == start and fields[0] != "Z":
            out.append(pid)
    return out


def _one_error_line(stderr: str) -> str:
    """The single ``error:`` line (Ray may print its own warnings around it)."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


# bad input: exit 2 and one line before anything starts -----------------------------------------


@pytest.fixture
def no_ray(monkeypatch):
    """Fail the test if the sweep gets as far as connecting to Ray."""
    import farm.driver.sweep

    def connect(address):
        raise AssertionError("Ray was started for bad input")

    monkeypatch.setattr(farm.driver.sweep, "connect", connect)


def _sweep_in_process(tmp_path: Path, grid: str, *extra: str):
    path = tmp_path / "grid.toml"
    path.write_text(grid)
    reports = tmp_path / "reports"
    result = runner.invoke(app, ["sweep", "--grid", str(path), "--reports", str(reports), *extra])
    return path, reports, result


@pytest.mark.parametrize(
    ("flags", "axes", "key", "fragment"),
    [
        (f"{CELL} -hkl missing.hkl", "", "flags", "-hkl: cannot read missing.hkl"),
        ("-default_F 100 -mat missing.mat -lambda 6.2", "", "flags", "-mat: cannot read"),
        (f"{CELL} -sourcefile none.txt", "", "flags", "-sourcefile: cannot read none.txt"),
        (CELL, 'hkl = ["gone.hkl"]', "flags / axes.hkl", "-hkl: cannot read gone.hkl"),
    ],
)
def test_a_missing_input_file_exits_2_before_ray_starts(
    tmp_path, monkeypatch, no_ray, flags, axes, key, fragment
):
    monkeypatch.chdir(tmp_path)
    grid = SIMULATOR_GRID.format(flags=flags, reference="builtin", extra="", axes=axes)
    path, reports, result = _sweep_in_process(tmp_path, grid)
    assert result.exit_code == 2, result.output
    line = _one_error_line(result.stderr)
    assert line.startswith(f"error: {path}: {key}: {fragment}")
    assert "(cell device=cpu," in line
    assert not reports.exists()  # not even the campaign's folder


def test_nanobragg_reference_without_a_binary_exits_2_before_anything_runs(
    tmp_path, monkeypatch, no_ray
):
    monkeypatch.delenv("NB_C_BIN", raising=False)
    grid = SIMULATOR_GRID.format(flags=CELL, reference="nanobragg", extra="", axes="")
    path, reports, result = _sweep_in_process(tmp_path, grid)
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.stderr) == (
        f"error: {path}: reference: 'nanobragg' needs the C binary: no nanoBragg binary: set "
        "NB_C_BIN or pass its path (--c-bin)"
    )
    _, _, result = _sweep_in_process(tmp_path, grid, "--c-bin", str(tmp_path / "nanoBragg"))
    assert result.exit_code == 2
    assert f"nanoBragg binary not found: {tmp_path / 'nanoBragg'}" in result.stderr
    assert not reports.exists()


def test_reports_under_a_regular_file_exits_2_and_creates_nothing(tmp_path, no_ray):
    (tmp_path / "plain").write_text("a file, not a folder\n")
    grid = SIMULATOR_GRID.format(flags=CELL, reference="none", extra="", axes="")
    path = tmp_path / "grid.toml"
    path.write_text(grid)
    reports = tmp_path / "plain" / "reports"
    result = runner.invoke(app, ["sweep", "--grid", str(path), "--reports", str(reports)])
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.stderr) == (
        f"error: --reports: {tmp_path / 'plain'} is a file, not a folder"
    )
    assert (tmp_path / "plain").read_text() == "a file, not a folder\n"


def test_a_ray_that_cannot_start_exits_2_with_one_line(tmp_path):
    """A real ``ray.init`` that fails (its temp folder is below a file): no bundle."""
    (tmp_path / "plain").write_text("x\n")
    path = tmp_path / "grid.toml"
    path.write_text(GATED_GRID.format(phase="nostart", gate="none", profile="false", sizes="[16]"))
    env = {**sweep_env(), "RAY_TMPDIR": str(tmp_path / "plain" / "ray")}
    reports = tmp_path / "reports"
    proc = subprocess.run(
        sweep_command(path, reports),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    line = _one_error_line(proc.stderr)
    assert line.startswith("error: cannot start a local Ray: NotADirectoryError: ")
    assert str(tmp_path / "plain" / "ray") in line
    assert not any((reports / "faults" / "nostart").iterdir())


# signals: SIGTERM and SIGKILL to real sweeps with their own Ray, run at the same time ----------


@pytest.fixture(scope="module")
def signalled(tmp_path_factory):
    """Two sweeps started together, each with its own embedded Ray; once each has one cell,
    one gets SIGTERM and the other SIGKILL."""
    tmp = tmp_path_factory.mktemp("signals")
    runs = {}
    for name in ("term", "kill"):
        gate = tmp / f"gate-{name}"
        gate.write_text("hold the second cell\n")
        path = tmp / f"{name}.toml"
        path.write_text(
            GATED_GRID.format(phase=name, gate=gate, profile="false", sizes="[16, 32, 48]")
        )
        reports = tmp / "reports"
        proc = start_sweep(path, reports, tmp)
        runs[name] = {"proc": proc, "grid": path, "gate": gate, "reports": reports}
    try:
        for name, run in runs.items():
            folder = run["reports"] / "faults" / name
            wait_for(
                lambda f=folder: any(f.glob("*/tables/runs/part-*.parquet")), 180, f"{name} cell"
            )
            run["helpers"] = descendants(run["proc"].pid)
        runs["kill"]["proc"].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        runs["term"]["proc"].send_signal(signal.SIGTERM)
        out, err = runs["term"]["proc"].communicate(timeout=120)
        runs["term"].update(rc=runs["term"]["proc"].returncode, out=out, err=err)
        [bundle] = (runs["term"]["reports"] / "faults" / "term").iterdir()
        runs["term"]["summary"] = (bundle / "summary.md").read_text()  # before any resume
        runs["term"]["left_after_exit"] = _alive(runs["term"]["helpers"])
        helpers = runs["kill"]["helpers"]
        wait_for(lambda: not _alive(helpers), 60, "the killed sweep's Ray helpers to end")
        runs["kill"]["helpers_gone_s"] = time.monotonic() - killed
        runs["kill"]["proc"].communicate(timeout=30)
    finally:
        for run in runs.values():
            if run["proc"].poll() is None:
                run["proc"].kill()
                run["proc"].communicate()
    for name, run in runs.items():
        [run["bundle"]] = (run["reports"] / "faults" / name).iterdir()
    return runs


def test_sigterm_takes_the_ctrl_c_path(signalled):
    run = signalled["term"]
    b = run["bundle"]
    assert run["rc"] == 143, run["err"][-3000:]
    assert "*** SIGTERM received" not in run["err"] and "Traceback" not in run["err"]
    assert "**PARTIAL**: 2 of 3 cells have no rows yet (interrupted by SIGTERM)" in run["summary"]
    log = (b / "commands.txt").read_text()
    assert "# interrupted by SIGTERM: the bundle is partial" in log
    assert log.rstrip().splitlines()[-1].startswith("-> exit 143 (")
    [session] = json.loads((b / "env.json").read_text())["sessions"]
    assert session["interrupted"] is True and session["stopped"] == "interrupted by SIGTERM"
    assert pq.read_table(b / "tables" / "runs").num_rows == 2  # cell 16: cold + 1 warm
    assert not run["left_after_exit"]  # its embedded Ray stopped with it


def test_the_resume_hint_is_the_exact_command_and_completes_the_bundle(signalled, ray_local):
    run = signalled["term"]
    b = run["bundle"]
    [hint] = [line for line in run["err"].splitlines() if "resume with " in line]
    command = hint.split("resume with ", 1)[1]
    grid, reports = shlex.quote(str(run["grid"])), shlex.quote(str(run["reports"]))
    assert command == f"farm sweep --grid {grid} --reports {reports} --resume {b.name}"
    assert f"complete it with `{command}`" in run["summary"]
    run["gate"].unlink()
    words = shlex.split(command)
    assert words[:2] == ["farm", "sweep"]
    result = runner.invoke(app, [*words[1:], "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "cells: 3 ok, 0 failed, 0 skipped, 0 pending" in result.stdout
    assert "- State: complete" in (b / "summary.md").read_text()


def test_sigkill_of_the_driver_leaves_no_ray_helpers(signalled):
    run = signalled["kill"]
    names = []
    for pid, _ in run["helpers"]:
        try:
            names.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        except OSError:
            names.append(b"")
    assert len(run["helpers"]) >= 5  # gcs, raylet, its agents, the actor, the reaper
    # Ray's agents alone wait 60 s for the dead GCS before they exit
    assert run["helpers_gone_s"] < 20, run["helpers_gone_s"]
    b = run["bundle"]
    assert len(list((b / "tables" / "runs").glob("part-*.parquet"))) == 1  # nothing lost


def test_concurrent_sweeps_are_recorded(signalled):
    """The SIGTERM sweep ran beside the killed one, each on its own Ray: it says so."""
    term, kill = signalled["term"], signalled["kill"]
    env = json.loads((term["bundle"] / "env.json").read_text())
    [other] = env["concurrent_sweeps"]
    assert other["pid"] == kill["proc"].pid and other["same_ray"] is False
    assert other["stamp"] == kill["bundle"].name and other["bundle"] == str(kill["bundle"])
    [line] = [x for x in term["summary"].splitlines() if x.startswith("- **Warning**: ")]
    assert f"1 other sweep ran on this host during this one: pid {kill['proc'].pid} (" in line
    assert "its own Ray" in line and "their timings shared this host's cores" in line
    assert "warning: 1 other sweep ran on this host" in term["err"]


# a full disk --------------------------------------------------------------------------------------

DISK_SCRIPT = r"""
set -u
M=$1 OUT=$2 GRID=$3 GATE=$4; shift 4
mount -t tmpfs -o size=4m tmpfs "$M" || exit 90
"$@" --reports "$M/reports" > "$OUT/full.out" 2> "$OUT/full.err" &
pid=$!
for i in $(seq 1200); do
  ls "$M"/reports/faults/disk/*/tables/runs/part-*.parquet > /dev/null 2>&1 && break
  sleep 0.1
done
dd if=/dev/zero of="$M/fill" bs=64k 2> /dev/null
rm -f "$GATE"
wait $pid; echo $? > "$OUT/full.rc"
cp -a "$M/reports" "$OUT/after_full"
rm -f "$M/fill"
stamp=$(ls "$M/reports/faults/disk")
"$@" --reports "$M/reports" --resume "$stamp" > "$OUT/resume.out" 2> "$OUT/resume.err"
echo $? > "$OUT/resume.rc"
cp -a "$M/reports" "$OUT/after_resume"
"""


@pytest.fixture(scope="module")
def disks(ray_local, tmp_path_factory):
    """One sweep whose disk fills up before its second cell is written, then its resume once
    there is space again; on a 4 MiB tmpfs in a mount namespace of its own."""
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("no mount namespace here (unshare -rm): no small filesystem to fill")
    tmp = tmp_path_factory.mktemp("disks")
    (tmp / "mnt").mkdir()
    gate = tmp / "gate"
    gate.write_text("hold the second cell\n")
    grid = tmp / "grid.toml"
    grid.write_text(GATED_GRID.format(phase="disk", gate=gate, profile="true", sizes="[16, 32]"))
    address = ray_local.get_runtime_context().gcs_address
    sweep = sweep_command(grid, tmp / "unused")[:-3]  # ... sweep --grid GRID
    proc = subprocess.run(
        [
            *("unshare", "-rm", "bash", "-c", DISK_SCRIPT, "disk"),
            *(str(tmp / "mnt"), str(tmp), str(grid), str(gate)),
            *(*sweep, "--no-progress", "--address", address),
        ],
        cwd=tmp,
        env=sweep_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode == 90:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr

    def read(name: str) -> str:
        return (tmp / name).read_text()

    return {"tmp": tmp, "read": read, "mnt": tmp / "mnt", "address": address}


def test_a_full_disk_names_the_file_and_keeps_the_bundle_resumable(disks):
    read = disks["read"]
    assert read("full.rc").strip() == "1", read("full.err")  # a cell had run
    line = _one_error_line(read("full.err"))
    [stamp] = os.listdir(disks["tmp"] / "after_full" / "faults" / "disk")
    bundle = f"{disks['mnt']}/reports/faults/disk/{stamp}/"
    assert line.startswith(f"error: cannot write {bundle}")
    assert ": No space left on device; resume with farm sweep --grid " in line
    assert line.endswith(f"--resume {stamp}")
    kept = disks["tmp"] / "after_full" / "faults" / "disk" / stamp
    assert len(list((kept / "tables" / "runs").glob("part-*.parquet"))) == 1
    assert not list(kept.rglob(".*.tmp"))  # a failed write leaves no temporary behind
    assert "cells: 1 ok, 0 failed, 0 skipped, 1 pending" in read("full.out")


def test_the_full_disk_bundle_resumes_once_there_is_space(disks):
    read = disks["read"]
    assert read("resume.rc").strip() == "0", read("resume.err")
    assert "cells: 2 ok, 0 failed, 0 skipped, 0 pending" in read("resume.out")
    [stamp] = os.listdir(disks["tmp"] / "after_resume" / "faults" / "disk")
    bundle = disks["tmp"] / "after_resume" / "faults" / "disk" / stamp
    assert "- State: complete" in (bundle / "summary.md").read_text()
    assert pq.read_table(bundle / "tables" / "runs").num_rows == 2 * (1 + 1 + 1)
