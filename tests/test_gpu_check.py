"""benchmarks/gpu_check.py: exits 0 at once without CUDA, reads results right, runs end to end.

No GPU here: the end-to-end run is the script's CPU rehearsal (the same steps at toy sizes on
CPU, no pytest step); the summary is checked on made-up results with known answers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402

SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA the script runs the check")
def test_without_cuda_it_says_so_and_exits_0_at_once(tmp_path):
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        proc.stdout.startswith("gpu_check: no CUDA device here")
        and "nothing to check" in proc.stdout
    )
    assert not (tmp_path / "out").exists()
    assert time.monotonic() - start < 60  # importing torch, nothing else


def _speed_row(device, dtype, mode, warm_s, compiled=None, error=None):
    return {
        "size": 4096,
        "device": device,
        "dtype": dtype,
        "mode": mode,
        "cold_s": 1.0,
        "warm_s": warm_s,
        "compiled": mode == "compiled" if compiled is None else compiled,
        "compile_error": error,
    }


def test_a_fallen_back_compile_never_counts_as_compiled():
    rows = [
        _speed_row("cpu", "float32", "eager", 0.120),
        _speed_row("cuda", "float32", "eager", 0.0125),
        # asked to compile, fell back: an eager timing, however fast it looks
        _speed_row("cuda", "float32", "compiled", 0.0093, compiled=False, error="CppCompileError"),
    ]
    lines = gpu_check.speed_lines(rows)
    assert any("eager* (compile fell back)" in line for line in lines)
    assert any("eager*: cuda float32: CppCompileError" in line for line in lines)
    [target] = [line for line in lines if line.startswith("target warm")]
    assert target.endswith("MET (9.300 ms, eager)")  # the row is eager, not compiled
    rows[2].update(compiled=True, compile_error=None, warm_s=0.0104)
    [target] = [line for line in gpu_check.speed_lines(rows) if line.startswith("target warm")]
    assert target.endswith("MISSED (10.400 ms, compiled)")


def test_the_correlation_target_is_read_on_cuda_cells():
    cell = {
        "device": "cuda",
        "size": 1024,
        "warm_s": 0.002,
        "cold_s": 1.0,
        "host_mb": 900.0,
        "device_reserved_mb": 2048.0,
        "verdict": "pass",
        "ok": True,
    }
    cells = [
        {**cell, "dtype": "float32", "corr": 0.99995},
        {**cell, "dtype": "float64", "corr": 0.99989},
        {**cell, "device": "cpu", "dtype": "float64", "corr": 0.999999, "device_reserved_mb": None},
    ]
    lines = gpu_check.sweep_lines(cells)
    assert "target r >= 0.9999 on cuda, float32: MET (worst 0.999950)" in lines
    assert "target r >= 0.9999 on cuda, float64: MISSED (worst 0.999890)" in lines


@pytest.mark.slow
def test_the_rehearsal_runs_every_step(ray_local, tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--rehearse-on-cpu", "--out", str(out), "--budget-s", "300"],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = (out / "summary.txt").read_text()
    assert summary == proc.stdout
    for step in ("speed", "sweep", "hotspots", "table", "blocks"):
        assert f"  {step:<9} exit 0" in summary, step
    [speed] = json.loads((out / "speed.json").read_text())
    assert speed["matmul_precision"] == "highest" and speed["warm_s"] > 0
    cells = json.loads((out / "cells.json").read_text())
    assert {(c["device"], c["dtype"]) for c in cells} == {("cpu", "float32"), ("cpu", "float64")}
    assert all(
        c["ok"] and c["verdict"] == "pass" and c["matmul_precision"] == "highest" for c in cells
    )
    assert "target r >= 0.9999 on cpu, float32: MET" in summary
    assert "hotspots: " in summary and "simulator/engine.py:" in summary
    assert (out / "commands.txt").read_text().count("# -> ") == 5
    assert "worst:" in (out / "block_memory.txt").read_text()
