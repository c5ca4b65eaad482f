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
        busy = render.busy[-3:]  # the profiled renders' own clocks, in order
    finally:
        torch.set_num_threads(before)
    keys = {"stamp": "S", "cell_id": CELL, "device": "cpu", "dtype": "float32", "size": 96}
    ops = trace_to_ops(trace, keys)
    tables = grain_tables(ops, package_dirs={"threaded": PACKAGE}, targets={CELL: "t"}, warm_s={})
    render = {CELL: tables["hot_lines"]["render"][0].as_py()}
    inventory = loops_table(scan_package(PACKAGE), stamp="S")
    loops = attribute(ops, inventory, {CELL: "t"}, renders=render)
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


def _truth(threaded: dict) -> dict[str, float]:
    """Microseconds per part, summed over the threads, in the representative render."""
    render = threaded["hot_lines"]["render"][0].as_py()
    busy = threaded["busy"][render]
    assert len({thread for thread, _ in busy}) == 2  # both threads rendered blocks
    return {part: 1e6 * sum(v for (_, p), v in busy.items() if p == part) for part in busy_parts}


busy_parts = ("heavy", "light")


def test_shares_of_a_two_thread_render_are_of_its_thread_time(threaded):
    lines = threaded["hot_lines"].to_pylist()
    assert {r["run_threads"] for r in lines} == {2}
    total = sum(r["pct_of_run"] for r in lines)
    # every thread's microseconds charged once, over two threads' wall: at most 100 %
    # (markers: only the operators' stacks are known, so less of the run is placed)
    low = 80.0 if threaded["capture"].method == callsite.METHOD_EVENT_TREE else 10.0
    assert low <= total <= 100.5, total
    for table in ("hot_loops", "hot_functions", "hot_ops"):
        rows = threaded[table].to_pylist()
        assert rows and all(r["pct_of_run"] <= 100.5 and r["run_threads"] == 2 for r in rows)
    wall = threaded["capture"].render_s[lines[0]["render"]] * 1e6
    assert lines[0]["run_us"] <= 2 * wall  # thread-time, less the call-site mode's frames


def test_loops_and_lines_on_both_threads_match_each_threads_clock(threaded):
    if threaded["capture"].method != callsite.METHOD_EVENT_TREE:
        pytest.skip("markers: Python frames have no call-site lines, so loops lose their gaps")
    truth = _truth(threaded)
    loops = {r["line"]: r for r in threaded["hot_loops"].to_pylist()}
    heavy, light = loops[_line_of("heavy")], loops[_line_of("light")]
    assert 0.85 * truth["heavy"] <= heavy["cpu_us"] <= 1.05 * truth["heavy"], (heavy, truth)
    assert 0.8 * truth["light"] <= light["cpu_us"] <= 1.05 * truth["light"], (light, truth)
    lines = {r["line"]: r for r in threaded["hot_lines"].to_pylist()}
    body = lines[_line_of("heavy") + 1]["cpu_us"]
    assert 0.7 * truth["heavy"] <= body <= truth["heavy"] * 1.05, (body, truth)
    block = next(
        r for r in threaded["hot_functions"].to_pylist() if r["function"] == "Render.block"
    )
    assert block["cpu_us"] >= 0.95 * (truth["heavy"] + truth["light"])


def test_the_simulators_threaded_render_is_ranked_on_every_thread(tmp_path):
    import simulator
    from simulator import Simulation, parse_flags

    package = Path(simulator.__file__).parent
    flags = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        sim = Simulation(parse_flags(f"{flags} -detpixels 128"), chunk_elements=2048)
        sim.render()
        trace = tmp_path / "trace.json.gz"
        profile_call(sim.render, device="cpu", trace_path=trace, project_root=package)
    finally:
        torch.set_num_threads(before)
    ops = trace_to_ops(trace, {"stamp": "S", "cell_id": "sim", "device": "cpu", "size": 128})
    lines = grain_tables(ops, package_dirs={"simulator": package})["hot_lines"].to_pylist()
    hot = attribute(ops, loops_table(scan_package(package), stamp="S")).to_pylist()
    in_window = ops.filter(pc.equal(ops["kind"], "cpu_op"))
    threads = len(set(in_window["thread"].to_pylist()))  # one render: all of them worked
    assert {r["run_threads"] for r in lines + hot} == {threads}
    assert sum(r["pct_of_run"] for r in lines) <= 100.5
    top = max(hot, key=lambda r: r["pct_of_run"])
    assert top["module"] == "simulator/cpu_threads.py" and "drain" in top["function"], top
    # the rest: the caller's set-up and its wait for the last block, a helper's start
    assert 40.0 <= top["pct_of_run"] <= 100.5, top
