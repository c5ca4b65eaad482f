"""What makes the command line fast: whole blocks per CPU thread, the process settings, the
package import without torch, and the statistics without float64 copies."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from analysis.traces.capture import all_threads_config
from simulator import Simulation, parse_flags, resolve
from simulator.cpu_threads import BlockThreads, block_workers, for_each_block
from simulator.malloc_tuning import keep_freed_memory
from simulator.outputs import image_stats

SEED = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    "flags",
    [
        f"{SEED} -detpixels 200",
        f"{SEED} -detpixels_f 130 -detpixels_s 90 -roi 7 101 3 77 -oversample 2",
    ],
)
def test_threaded_render_equals_the_one_thread_render(flags, two_threads):
    # small blocks: many of them, the last ones cropped at the region's edges
    sim = Simulation(parse_flags(flags), chunk_elements=4096)
    assert block_workers(sim.device, sim.compile) == 2 and len(range(0, 200, sim.blocks()[0])) > 4
    threaded = sim.render()
    torch.set_num_threads(1)
    assert block_workers(sim.device, sim.compile) == 1
    assert torch.equal(threaded, sim.render())


class _Threads(TorchFunctionMode):
    """Counts calls of one torch function per thread (a mode of the calling thread's)."""

    def __init__(self, counted: Any, pause_s: float = 0.0) -> None:
        super().__init__()
        self.counted = counted
        self.pause_s = pause_s  # a slow block: the other thread takes blocks meanwhile
        self.calls: Counter[int] = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is self.counted:
            self.calls[threading.get_ident()] += 1
            time.sleep(self.pause_s)
        return func(*args, **(kwargs or {}))


def test_profiled_renders_run_on_as_many_threads_as_timed_ones(two_threads):
    sim = Simulation(parse_flags(f"{SEED} -detpixels 64"), chunk_elements=1024)
    assert len(range(0, 64, sim.blocks()[0])) > 4
    # the caller's mode follows its blocks to the helper thread; each block pauses 5 ms, so
    # on a busy machine neither thread drains the queue before the other wakes
    with _Threads(torch.sin, pause_s=0.005) as timed:
        sim.render()
    config = all_threads_config()
    assert config is not None  # torch 2.13 has profile_all_threads
    with (
        torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU], experimental_config=config
        ) as prof,
        _Threads(torch.sin, pause_s=0.005) as profiled,
    ):
        assert block_workers(sim.device, sim.compile) == 2
        sim.render()
    op_threads = {e.thread for e in prof.events() if e.name == "aten::sin"}
    assert len(timed.calls) == len(profiled.calls) == len(op_threads) == 2


def test_the_callers_modes_apply_to_every_block_and_leave_the_helpers(two_threads):
    threads = BlockThreads(2)
    assert threads.helpers == 1 and any(t.name.startswith("blocks") for t in threading.enumerate())

    def block(b: int) -> torch.Tensor:
        time.sleep(0.005)  # both threads take blocks
        return torch.ones(1) + b

    with _Threads(torch.ones) as seen:
        for_each_block(block, list(range(12)), 2, threads)
    assert len(seen.calls) == 2 and sum(seen.calls.values()) == 12
    for_each_block(block, list(range(12)), 2, threads)
    assert sum(seen.calls.values()) == 12  # the mode left the helper with the render
    threads.close()
    assert threads.helpers == 0


def test_blocks_run_once_each_without_autograd_and_threads_are_restored(two_threads):
    seen = []

    def work(block: int) -> None:
        seen.append((block, torch.is_grad_enabled(), torch.get_num_threads()))

    for_each_block(work, list(range(20)), workers=2)
    assert sorted(b for b, _, _ in seen) == list(range(20))
    assert all(not grad and threads == 1 for _, grad, threads in seen)
    assert torch.get_num_threads() == 2


def test_a_failing_block_raises_and_restores_threads(two_threads):
    def work(block: int) -> None:
        if block == 3:
            raise ValueError("block 3")

    with pytest.raises(ValueError, match="block 3"):
        for_each_block(work, list(range(8)), workers=2)
    assert torch.get_num_threads() == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_malloc_thresholds_are_set_on_glibc():
    assert keep_freed_memory() is True


def test_the_package_imports_without_torch():
    code = (
        "import sys, simulator\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "from simulator import Simulation\n"
        "assert 'torch' in sys.modules and Simulation.__name__ == 'Simulation'\n"
        "try:\n    simulator.Nothing\nexcept AttributeError:\n    print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_exit_codes_and_output_survive_the_fast_exit(tmp_path):
    ok = subprocess.run(
        [sys.executable, "-m", "simulator", *SEED.split(), "-detpixels", "32"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1].startswith("mean= ")  # printed last, after the render
    bad = subprocess.run(
        [sys.executable, "-m", "simulator", "-cell", "50", "50", "50"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


def test_statistics_are_the_c_programs_formulas(tmp_path):
    setup = resolve(parse_flags(f"{SEED} -detpixels_f 70 -detpixels_s 600 -roi 5 60 10 590"))
    rng = np.random.default_rng(3)
    image = rng.gamma(2.0, 50.0, (600, 70)).astype(np.float32)
    mask = rng.random((600, 70)) > 0.2
    for m in (None, mask):
        s = replace(setup, mask=m)
        stats = image_stats(image, s)
        roi = image[10:591, 5:61].astype(np.float64)
        rendered = roi if m is None else roi[m[10:591, 5:61]]
        mean = rendered.sum() / rendered.size
        assert stats.mean == pytest.approx(mean, rel=1e-12)
        assert stats.rms == pytest.approx(np.sqrt((rendered**2).sum() / (rendered.size - 1)))
        assert stats.rmsd == pytest.approx(np.sqrt(((roi - mean) ** 2).sum() / (roi.size - 1)))
        slow, fast = np.unravel_index(np.argmax(image), image.shape)
        assert (stats.max_value, stats.max_slow, stats.max_fast) == (image.max(), slow, fast)
