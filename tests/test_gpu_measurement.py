"""Measurement rules of the GPU path, proven without a GPU (fake devices are named so).

- memory: host RSS and device peaks (allocated, reserved) and the free device memory before
  and after each phase land in separate columns; CPU cells keep RSS and no device column;
- precision: every row records the matmul precision the render ran under and the process's;
- compile fallback: a compile that fell back to eager reads ``compiled = false`` with the
  reason, in the rows, the benchmark record and summary.md, never as a compiled timing.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
import torch
from typer.testing import CliRunner

from analysis.tables import RUNS
from farm.actors.memory import DEVICE_COLUMNS, MIB, PhaseMemory, host_rss_peak_mb
from farm.actors.messages import CellJob
from farm.actors.targets import resolve_target
from farm.actors.worker import CellWorker
from farm.cli import app
from farm.grid import parse_grid

SEED = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"


class FakeCudaMemory:
    """Stands in for ``torch.cuda``'s memory functions: a device whose numbers we choose."""

    def __init__(self) -> None:
        self.allocated, self.reserved = 0, 0
        self.free, self.total = 70_000 * MIB, 80_000 * MIB
        self.resets = 0

    def reset_peak_memory_stats(self) -> None:
        self.resets += 1
        self.allocated = self.reserved = 0

    def max_memory_allocated(self) -> int:
        return self.allocated

    def max_memory_reserved(self) -> int:
        return self.reserved

    def mem_get_info(self) -> tuple[int, int]:
        return self.free, self.total


def test_cuda_phase_memory_keeps_host_and_device_apart():
    fake = FakeCudaMemory()
    memory = PhaseMemory("cuda", cuda=fake)
    memory.reset()
    assert fake.resets == 1
    fake.allocated, fake.reserved = 3000 * MIB, 4096 * MIB  # the render's tensors
    fake.free -= 4600 * MIB  # the allocator's blocks, the context, cuBLAS workspaces
    cols = memory.columns()
    assert cols["device_peak_allocated_mb"] == 3000
    assert cols["device_peak_reserved_mb"] == 4096
    assert cols["device_free_before_mb"] == 70_000
    assert cols["device_free_after_mb"] == 65_400
    assert cols["device_total_mb"] == 80_000
    # the host's RSS, not any device number
    assert cols["peak_mem_mb"] == pytest.approx(host_rss_peak_mb(), rel=0.2)
    assert cols["peak_mem_mb"] not in (3000, 4096, 65_400)


def test_cpu_phase_memory_is_rss_only():
    memory = PhaseMemory("cpu", cuda=FakeCudaMemory())
    memory.reset()
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB touched during the phase
    block += 1
    cols = memory.columns()
    assert all(cols[k] is None for k in DEVICE_COLUMNS)
    assert cols["peak_mem_mb"] >= 64
    del block


def _cell_rows(target: str, extra: str = "") -> tuple[list[dict], dict]:
    """Runs rows and benchmark record of one 16² CPU cell, measured in this process."""
    grid = parse_grid(
        f'campaign = "c"\nphase = "p"\ntarget = "{target}"\nflags = "{SEED}"\n{extra}\n'
        "[axes]\nsize = [16]\n"
    )
    [cell] = grid.cells()
    job = CellJob("S", cell, resolve_target(target), 2, False, isolation=grid.isolation)
    result = CellWorker("cpu", 1).run(job, None)
    pa.Table.from_pylist(result.runs, schema=RUNS)  # every value fits its column
    return result.runs, result.record


def test_rows_say_how_the_render_ran_and_in_what_memory():
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")  # a process that allows TF32
    try:
        rows, record = _cell_rows("simulator", 'isolation = "shared"')
    finally:
        torch.set_float32_matmul_precision(before)
    assert {r["phase"] for r in rows} == {"cold", "warm"}
    for r in rows:
        assert r["status"] == "ok" and r["peak_mem_mb"] > 0
        assert all(r[k] is None for k in DEVICE_COLUMNS)  # a CPU cell: RSS only
        assert r["matmul_precision"] == "highest"  # what the engine pinned
        assert r["process_matmul_precision"] == "high"  # what the process allowed
        assert r["compiled"] is False and r["compile_error"] is None
        assert r["chunk_elements"] > 0 and r["isolation"] == "shared"
    assert record["compiled"] is False and record["matmul_precision"] == "highest"


def test_a_target_that_does_not_report_records_the_process_precision():
    rows, _ = _cell_rows("python:farm_targets:gaussian")
    assert all(r["compiled"] is None and r["chunk_elements"] is None for r in rows)
    assert all(r["matmul_precision"] == torch.get_float32_matmul_precision() for r in rows)
    assert all(r["isolation"] == "node" for r in rows)  # the default


def test_the_engine_falls_back_to_eager_and_says_why(monkeypatch):
    from farm_targets import _compile_without_a_toolchain

    from simulator import Simulation

    flags = f"{SEED} -detpixels 24"
    monkeypatch.setattr(torch, "compile", _compile_without_a_toolchain)
    sim = Simulation.from_flags(flags, compile=True)
    assert sim.report()["compiled"] is True  # nothing has run yet
    with pytest.warns(RuntimeWarning, match="no toolchain"):
        image = sim.render()
    assert sim.report() == {
        "compiled": False,
        "compile_error": "RuntimeError: CppCompileError: C++ compile error: no toolchain on "
        "this machine",
        "matmul_precision": "highest",
        "chunk_elements": sim.chunk_elements,
    }
    assert torch.equal(image, Simulation.from_flags(flags).render())


def test_a_compile_that_fell_back_is_recorded_as_eager():
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        rows, record = _cell_rows("python:farm_targets:compile_fails")
    assert rows and all(r["status"] == "ok" for r in rows)
    assert all(r["compiled"] is False for r in rows)
    assert all("no toolchain" in (r["compile_error"] or "") for r in rows)
    assert record["compiled"] is False and "no toolchain" in record["compile_error"]


def test_the_bundle_never_shows_a_fallen_back_cell_as_compiled(ray_local, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(
        'campaign = "c"\nphase = "p"\ntarget = "python:farm_targets:compile_fails"\n'
        f'flags = "{SEED}"\nreference = "none"\niterations = 2\nprofile = false\n'
        "[axes]\nsize = [16]\n"
    )
    out = CliRunner().invoke(
        app, ["sweep", "--grid", str(grid), "--reports", str(tmp_path), "--no-progress"]
    )
    assert out.exit_code == 0, out.output
    [bundle] = (tmp_path / "c" / "p").iterdir()
    [rec] = json.loads((bundle / "benchmark_results.json").read_text())
    assert rec["compiled"] is False and "no toolchain" in rec["compile_error"]
    summary = (bundle / "summary.md").read_text()
    assert "eager (compile fell back)" in summary
    assert "torch.compile fell back to eager in these cells" in summary
    assert "| compiled |" not in summary


@pytest.mark.gpu
def test_cuda_rows_fill_every_device_column():
    grid = parse_grid(
        f'campaign = "c"\nphase = "p"\nflags = "{SEED}"\n[axes]\ndevice = ["cuda"]\nsize = [256]\n'
    )
    [cell] = grid.cells()
    result = CellWorker("cuda", 1).run(
        CellJob("S", cell, resolve_target("simulator"), 2, False), None
    )
    assert result.status == "ok", result.error
    for r in result.runs:
        assert 0 < r["device_peak_allocated_mb"] <= r["device_peak_reserved_mb"]
        assert 0 < r["device_free_after_mb"] <= r["device_total_mb"]
        assert r["device_free_before_mb"] <= r["device_total_mb"]
        assert r["peak_mem_mb"] > 0  # the host side of a CUDA cell, its own column
        assert r["matmul_precision"] == "highest"
