"""The GPU block size comes from the free device memory (rule tested on fake numbers)."""

from __future__ import annotations

import gzip
import json

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from simulator import Simulation
from simulator.chunk_budget import (
    BYTES_PER_ELEMENT,
    CPU_CHUNK_ELEMENTS,
    FREE_FRACTION,
    GPU_CHUNK_ELEMENTS,
    GPU_MAX_ELEMENTS,
    GPU_MIN_ELEMENTS,
    default_chunk_elements,
    gpu_chunk_elements,
)

GIB = 2**30
SEED = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"


class FakeCudaMemInfo:
    """Stands in for ``torch.cuda.mem_get_info`` on a machine without a GPU."""

    def __init__(self, free: int, total: int = 80 * GIB) -> None:
        self.free, self.total = free, total
        self.asked: list[torch.device] = []

    def __call__(self, device: torch.device) -> tuple[int, int]:
        self.asked.append(device)
        return self.free, self.total


@pytest.mark.parametrize("free", [0, 100 * 2**20, 2 * GIB, 8 * GIB, 24 * GIB, 139 * GIB])
@pytest.mark.parametrize("itemsize", [4, 8])
def test_the_block_is_the_largest_power_of_two_that_fits_the_budget(free, itemsize):
    chunk = gpu_chunk_elements(free, itemsize)
    assert chunk & (chunk - 1) == 0  # a power of two: the same memory gives the same shape
    assert GPU_MIN_ELEMENTS <= chunk <= GPU_MAX_ELEMENTS
    budget = FREE_FRACTION * free
    peak = chunk * BYTES_PER_ELEMENT * itemsize
    if GPU_MIN_ELEMENTS < chunk < GPU_MAX_ELEMENTS:
        assert peak <= budget < 2 * peak  # fits, and twice as much would not
    elif chunk == GPU_MAX_ELEMENTS:
        assert peak <= budget
    else:
        assert 2 * peak > budget  # too little memory: the smallest block, never zero


def test_block_sizes_on_typical_devices():
    assert gpu_chunk_elements(139 * GIB, 4) == GPU_MAX_ELEMENTS  # an idle H200
    assert gpu_chunk_elements(8 * GIB, 4) == 1 << 25
    assert gpu_chunk_elements(8 * GIB, 8) == 1 << 24  # float64 halves the block
    assert gpu_chunk_elements(100 * 2**20, 4) == 1 << 19
    assert gpu_chunk_elements(-1, 4) == GPU_MIN_ELEMENTS
    with pytest.raises(ValueError, match="itemsize"):
        gpu_chunk_elements(GIB, 0)


def test_the_default_reads_the_free_memory_of_the_engine_device():
    fake = FakeCudaMemInfo(free=8 * GIB)
    chunk, free = default_chunk_elements(torch.device("cuda:1"), torch.float64, fake)
    assert (chunk, free) == (1 << 24, 8 * GIB)
    assert fake.asked == [torch.device("cuda:1")]
    assert default_chunk_elements(torch.device("cpu"), torch.float32, fake) == (
        CPU_CHUNK_ELEMENTS,
        None,
    )
    assert len(fake.asked) == 1  # a CPU engine never asks a GPU


def test_without_a_cuda_runtime_the_fixed_gpu_block_is_used():
    def no_runtime(device):
        raise RuntimeError("Found no NVIDIA driver on your system")

    assert default_chunk_elements(torch.device("cuda"), torch.float32, no_runtime) == (
        GPU_CHUNK_ELEMENTS,
        None,
    )


def _peak_bytes(sim: Simulation, tmp_path) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        sim.render()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    raw = path.read_bytes()
    events = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)["traceEvents"]
    now = peak = 0
    for _, change in sorted(
        (e["ts"], e["args"]["Bytes"]) for e in events if e.get("name") == "[memory]"
    ):
        now += change
        peak = max(peak, now)
    return peak


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("flags", ["", "-tophat_spots -oversample 2"])
def test_a_block_chosen_by_the_rule_stays_inside_its_budget(tmp_path, dtype, flags):
    """Measured on CPU: a render with the rule's block never allocates more than its share."""
    free = 24 * 2**20  # pretend the device has 24 MiB free
    itemsize = torch.empty((), dtype=getattr(torch, dtype)).element_size()
    chunk = gpu_chunk_elements(free, itemsize)
    sim = Simulation.from_flags(f"{SEED} {flags} -detpixels 256", dtype=dtype, chunk_elements=chunk)
    sim.render()
    assert sim.blocks()[0] < 256  # more than one block: the bound is what limits memory
    image = 256 * 256 * itemsize
    assert _peak_bytes(sim, tmp_path) - image <= FREE_FRACTION * free


@pytest.mark.gpu
def test_a_cuda_engine_sizes_its_block_from_mem_get_info():
    free, _ = torch.cuda.mem_get_info()
    sim = Simulation.from_flags(f"{SEED} -detpixels 64", device="cuda")
    assert sim.free_bytes_at_build is not None
    assert abs(sim.free_bytes_at_build - free) < 2 * GIB
    assert sim.chunk_elements == gpu_chunk_elements(sim.free_bytes_at_build, 4)
