"""Profiles of a render spread over threads (tests/threaded_target, simulator/cpu_threads).

The capture follows every thread, the call-site lines reach the helper threads, and the
shares of a two-thread render are taken over its thread-time (threads x wall), so they
still add up to at most 100 % and match each thread's own clock.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
import torch

from analysis.grains import grain_tables
from analysis.loops.attribution import attribute
from analysis.loops.inventory import loops_table, scan_package
from analysis.traces import callsite
from analysis.traces.capture import profile_call
from analysis.traces.event_tree import inside_markers
from analysis.traces.ingest import trace_to_ops

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS / "threaded_target"
MODULE = "threaded_target/target.py"
CELL = "t2"


def _line_of(mark: str) -> int:
    for n, text in enumerate((PACKAGE / "target.py").read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# {mark}"):
            return n
    raise AssertionError(mark)


def _capture(tmp: Path, method: str) -> dict:
    from threaded_target.target import factory

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the blocks are what runs in parallel
    try:
        render = factory(96, "cpu", "float32", {})
        render()
        trace = tmp / method / "trace.json.gz"
        _, cap = profile_call(
            render, device="cpu", trace_path=trace, project_root=PACKAGE, method=method, renders=3
        )
        busy = dict(render.busy)  # the last render's own clocks
    finally:
        torch.set_num_threads(before)
    keys = {"stamp": "S", "cell_id": CELL, "device": "cpu", "dtype": "float32", "size": 96}
    ops = trace_to_ops(trace, keys)
    tables = grain_tables(ops, package_dirs={"threaded": PACKAGE}, targets={CELL: "t"}, warm_s={})
    loops = attribute(ops, loops_table(scan_package(PACKAGE), stamp="S"), {CELL: "t"})
    return {"ops": ops, "capture": cap, "busy": busy, "hot_loops": loops, **tables}


@pytest.fixture(scope="module", params=[callsite.METHOD_EVENT_TREE, callsite.METHOD_MARKERS])
def threaded(request, tmp_path_factory):
    return _capture(tmp_path_factory.mktemp("threaded"), request.param)


def test_every_thread_is_profiled_and_its_operators_get_their_lines(threaded):
    assert threaded["capture"].all_threads
    ops = threaded["ops"]
    mm = ops.filter(pc.equal(ops["name"], "aten::mm")).select(["thread", "project_frame"])
    frames = mm["project_frame"].to_pylist()
    assert mm.num_rows == 3 * 24 * 4  # renders x blocks x units
    assert len(set(mm["thread"].to_pylist())) == 2
    heavy, light = _line_of("heavy") + 1, _line_of("light")
    assert {f.rsplit(":", 1)[0] for f in frames} == {
        f"{MODULE}:{heavy}",
        f"{MODULE}:{light}",
    }, set(frames)


def test_a_marker_holds_only_its_own_threads_events():
    # thread 0's marker (stack 7) spans 0-10 ns; thread 1's event at 5 ns keeps its stack 3
    got = inside_markers(
        ts=np.array([5, 5], np.int64),
        marker_ts=np.array([0], np.int64),
        marker_dur=np.array([10], np.int64),
        marker_stack=np.array([7], np.int64),
        stack=np.array([3, 3], np.int64),
        thread=np.array([0, 1]),
        marker_thread=np.array([0]),
    )
    assert got.tolist() == [7, 3]
