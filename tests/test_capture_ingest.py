"""Capture (torch.profiler + call-site sidecar) and ingestion into table ops."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from analysis.tables import OPS
from analysis.traces import TraceError, callsite, ingest, profile_call, trace_reader, trace_to_ops

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS / "synthetic_loops"
DATA = TESTS / "data"
KEYS = {"stamp": "20260101T000000Z", "cell_id": "abc", "device": "cpu", "dtype": "float32"}


def _work():
    from synthetic_loops.target import factory

    return factory(32, "cpu", "float32", {"warm": 1, "reps": 1, "a": 3, "b": 2, "c": 1})


def _loop_lines() -> dict[str, int]:
    """Line of each commented loop in the synthetic target (``# loop_a`` ...)."""
    out = {}
    for n, text in enumerate((PACKAGE / "target.py").read_text().splitlines(), 1):
        if "#" in text and ("for " in text or "while " in text):
            out[text.rsplit("#", 1)[1].strip()] = n
    return out


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    """The synthetic target profiled once with each call-site method."""
    out = {}
    for method in (callsite.METHOD_EVENT_TREE, callsite.METHOD_MARKERS):
        folder = tmp_path_factory.mktemp(method) / "profile" / "cell"
        result, cap = profile_call(
            _work(),
            device="cpu",
            trace_path=folder / "trace.json.gz",
            project_root=PACKAGE,
            method=method,
        )
        out[method] = (result, cap, trace_to_ops(cap.trace_path, KEYS))
    return out


def test_capture_writes_everything_in_the_trace_folder(captured):
    result, cap, _ = captured[callsite.METHOD_EVENT_TREE]
    assert isinstance(result, torch.Tensor) and result.shape == (32, 32)
    folder = cap.trace_path.parent
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["trace.callsites.arrow", "trace.capture.json", "trace.json.gz"]
    assert all(p.parent == folder for p in cap.files)
    summary = json.loads((folder / "trace.capture.json").read_text())
    assert summary["method"] == "event_tree" and summary["files"][0] == "trace.json.gz"
    assert summary["project_prefix"] == "synthetic_loops/"
    sha = hashlib.sha1((PACKAGE / "target.py").read_bytes()).hexdigest()
    assert summary["sources"] == {"synthetic_loops/target.py": sha}
    with gzip.open(cap.trace_path) as fh:
        assert json.load(fh)["traceEvents"]
    assert 0 < cap.wall_s < 30


def test_event_tree_is_available_on_this_torch():
    assert callsite.event_tree_problem() is None


def test_capture_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"json\.gz"):
        profile_call(lambda: None, device="cpu", trace_path=tmp_path / "t.json")
    with pytest.raises(ValueError, match="device"):
        profile_call(lambda: None, device="tpu", trace_path=tmp_path / "t.json.gz")


@pytest.mark.parametrize("method", [callsite.METHOD_EVENT_TREE, callsite.METHOD_MARKERS])
def test_operators_get_call_site_lines(captured, method):
    _, _, ops = captured[method]
    assert ops.schema == OPS
    assert set(ops["callsite_method"].unique().to_pylist()) == {method}
    lines = _loop_lines()
    rows = ops.filter(pa.compute.equal(ops["name"], "aten::matmul")).to_pylist()
    # 1 warm-up + 3 in loop_a + 2 in loop_b (inside the helper) + 1 in the comprehension
    assert len(rows) == 7
    inner = [r["stack"][0] for r in rows]
    assert inner.count(f"synthetic_loops/target.py:{lines['loop_a'] + 1}:render") == 3
    helper = [r["stack"] for r in rows if r["stack"][0].endswith(":_unit")]
    assert len(helper) == 2
    # the helper's operators carry the loop's calling line one frame up
    assert all(s[1] == f"synthetic_loops/target.py:{lines['loop_b'] + 1}:render" for s in helper)
    comp = [s for s in inner if s.endswith(":<listcomp>")]
    assert comp == [f"synthetic_loops/target.py:{lines['loop_c']}:<listcomp>"]
    assert all(r["project_frame"].startswith("synthetic_loops/") for r in rows)
    # stacks start at the target: nothing of the capture module or above it
    assert not any("capture.py" in e for s in ops["stack"].to_pylist() for e in s)


def test_operator_overloads_get_their_own_line(captured):
    """``acc[i, j] += 1e-6`` has no Python call of its own; the mode gives it a line."""
    _, _, ops = captured[callsite.METHOD_EVENT_TREE]
    lines = _loop_lines()
    target = f"synthetic_loops/target.py:{lines['inner'] + 1}:render"
    adds = [r for r in ops.to_pylist() if r["kind"] == "cpu_op" and r["stack"][:1] == [target]]
    assert {r["name"] for r in adds} >= {"aten::add_"}


def test_tree_is_consistent(captured):
    _, _, ops = captured[callsite.METHOD_EVENT_TREE]
    rows = ops.to_pylist()
    assert [r["event_id"] for r in rows] == list(range(len(rows)))
    by_id = {r["event_id"]: r for r in rows}
    kinds = {r["kind"] for r in rows}
    assert {"python", "cpu_op", "instr", "annotation"} <= kinds
    for r in rows:
        p = by_id.get(r["parent_id"])
        if p is None:
            continue
        assert p["kind"] != "instr", "instrumentation frames are removed from the tree"
        # a child starts inside its parent (ns precision) and is not longer than it
        assert p["ts_us"] - 1e-3 <= r["ts_us"] <= p["ts_us"] + p["dur_us"] + 1e-3
        assert r["dur_us"] <= p["dur_us"] + 1e-3
    assert all(r["self_us"] <= r["dur_us"] + 1e-6 for r in rows)
    run = [r for r in rows if r["name"] == callsite.RUN_MARKER]
    assert len(run) == 1 and run[0]["kind"] == "annotation"
    instr = [r for r in rows if r["kind"] == "instr"]
    assert instr and all(r["name"] == ingest.INSTR_NAME for r in instr)


def test_keys_fill_the_key_columns(captured):
    _, _, ops = captured[callsite.METHOD_EVENT_TREE]
    assert set(ops["stamp"].unique().to_pylist()) == {KEYS["stamp"]}
    assert set(ops["cell_id"].unique().to_pylist()) == {"abc"}
    assert set(ops["device"].unique().to_pylist()) == {"cpu"}
    assert ops["size"].null_count == ops.num_rows  # not given: NULL


def test_parsers_agree(captured):
    """The compiled scanner, DuckDB and orjson read the same events."""
    _, cap, _ = captured[callsite.METHOD_EVENT_TREE]
    data = trace_reader._read_bytes(cap.trace_path)
    start = data.find(b'"traceEvents"')
    a = trace_reader._load_scan(data, start, 0)
    b = trace_reader._load_duckdb(data, start, 0)
    c = trace_reader._load_orjson(data, cap.trace_path, 0)
    for other in (b, c):
        assert a.name.equals(other.name) and a.cat.equals(other.cat)
        assert np.array_equal(a.ts, other.ts) and np.array_equal(a.dur, other.dur)
        assert np.array_equal(a.py_id, other.py_id) and np.array_equal(a.corr, other.corr)


def test_missing_sidecar_falls_back_to_definition_lines(captured, tmp_path):
    _, cap, _ = captured[callsite.METHOD_EVENT_TREE]
    lone = tmp_path / "trace.json.gz"
    lone.write_bytes(cap.trace_path.read_bytes())
    ops = trace_to_ops(lone, KEYS)
    assert set(ops["callsite_method"].unique().to_pylist()) == {"definition_lines"}
    # the innermost frames now name where functions are defined, not where they are called
    first = {s[0] for s in ops["stack"].to_pylist() if s and s[0].endswith(":_unit")}
    assert first == {f"synthetic_loops/target.py:{_def_line('_unit')}:_unit"}


def _def_line(name: str) -> int:
    for n, text in enumerate((PACKAGE / "target.py").read_text().splitlines(), 1):
        if text.startswith(f"def {name}("):
            return n
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no traceEvents"),
        (b"\x1f\x8bgarbage", "not valid gzip"),
        (b"{not json", "no traceEvents"),
        (b'{"traceEvents": [{"ph": "X",', "not valid JSON"),
    ],
)
def test_bad_trace_files_give_one_clear_error(tmp_path, content, message):
    path = tmp_path / "trace.json"
    path.write_bytes(content)
    with pytest.raises(TraceError, match=message):
        trace_to_ops(path, KEYS)


def test_missing_trace_file(tmp_path):
    with pytest.raises(TraceError, match="cannot read trace"):
        trace_to_ops(tmp_path / "nope.json.gz", KEYS)


def _cuda_trace(path: Path) -> None:
    """A hand-written trace in kineto's CUDA layout: two launches from two Python lines."""
    pid, tid = 100, 100

    def x(cat, name, ts, dur, **args):
        return {
            "ph": "X",
            "cat": cat,
            "name": name,
            "pid": pid,
            "tid": tid,
            "ts": ts,
            "dur": dur,
            "args": args,
        }

    events = [
        x("user_annotation", "farm.run", 1000.0, 100.0),
        x("python_function", "pkg/mod.py(10): render", 1001.0, 98.0, **{"Python id": 1}),
        x("python_function", "pkg/mod.py(20): helper", 1010.0, 30.0, **{"Python id": 2}),
        x("cpu_op", "aten::mul", 1012.0, 20.0),
        x("cuda_runtime", "cudaLaunchKernel", 1015.0, 5.0, correlation=7),
        x("cpu_op", "aten::add", 1050.0, 20.0),
        x("cuda_runtime", "cudaLaunchKernel", 1052.0, 5.0, correlation=8),
        {
            "ph": "X",
            "cat": "kernel",
            "name": "mul_kernel",
            "pid": 0,
            "tid": 7,
            "ts": 1030.0,
            "dur": 400.0,
            "args": {"correlation": 7, "device": 0, "stream": 7, "grid": [1, 1, 1]},
        },
        {
            "ph": "X",
            "cat": "kernel",
            "name": "add_kernel",
            "pid": 0,
            "tid": 7,
            "ts": 1430.0,
            "dur": 3.0,
            "args": {"correlation": 8, "device": 0, "stream": 7},
        },
        {"ph": "s", "id": 7, "pid": pid, "tid": tid, "ts": 1015.0, "cat": "ac2g", "name": "ac2g"},
        {
            "ph": "f",
            "id": 7,
            "pid": 0,
            "tid": 7,
            "ts": 1030.0,
            "cat": "ac2g",
            "name": "ac2g",
            "bp": "e",
        },
    ]
    path.write_text(json.dumps({"baseTimeNanoseconds": 0, "traceEvents": events}))


def test_kernels_link_to_the_launching_operator(tmp_path):
    path = tmp_path / "trace.json"
    _cuda_trace(path)
    ops = trace_to_ops(path, {**KEYS, "device": "cuda:0"})
    rows = {r["name"]: r for r in ops.to_pylist()}
    mul_k, add_k = rows["mul_kernel"], rows["add_kernel"]
    assert mul_k["kind"] == "kernel" and mul_k["op_device"] == "cuda"
    assert mul_k["correlation_id"] == 7 and add_k["correlation_id"] == 8
    launch = {r["event_id"]: r for r in ops.to_pylist() if r["name"] == "cudaLaunchKernel"}
    assert launch[mul_k["parent_id"]]["correlation_id"] == 7
    assert launch[add_k["parent_id"]]["correlation_id"] == 8
    # the kernel has the stack of the Python line that launched it
    assert mul_k["stack"] == rows["aten::mul"]["stack"] == launch[mul_k["parent_id"]]["stack"]
    assert mul_k["stack"][0].startswith("pkg/mod.py:20:helper")
    assert add_k["stack"] == rows["aten::add"]["stack"]
    assert add_k["self_us"] == pytest.approx(3.0)


@pytest.mark.gpu
def test_cuda_capture_attributes_kernels(tmp_path):
    from synthetic_loops.target import factory

    fn = factory(256, "cuda", "float32", {"warm": 1, "a": 4, "b": 2, "c": 1})
    fn()
    _, cap = profile_call(
        fn, device="cuda", trace_path=tmp_path / "trace.json.gz", project_root=PACKAGE
    )
    ops = trace_to_ops(cap.trace_path, {**KEYS, "device": "cuda"})
    kernels = [r for r in ops.to_pylist() if r["kind"] == "kernel"]
    assert kernels and all(r["parent_id"] is not None for r in kernels)
    lines = _loop_lines()
    loop_a = f"synthetic_loops/target.py:{lines['loop_a'] + 1}:render"
    assert sum(1 for r in kernels if r["stack"][:1] == [loop_a]) >= 4


@pytest.mark.slow
def test_a_compiled_target_is_profiled_warm_with_call_sites(tmp_path):
    import simulator
    from simulator import Simulation

    flags = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 64"
    sim = Simulation.from_flags(flags, compile=True)
    sim.render()  # compiled here, as a sweep's cold run does
    trace = tmp_path / "cell" / "trace.json.gz"
    _, cap = profile_call(
        sim.render, device="cpu", trace_path=trace, project_root=Path(simulator.__file__).parent
    )
    assert sim.compile and cap.method == "event_tree" and cap.callsite_rows > 0
    # the warm-up took the re-specialisation for the call-site mode: no compilation inside
    # (without it: ~0.35 s and a ~110 MB trace of compiler events for this 64² render)
    assert cap.wall_s < 0.1 and cap.trace_bytes < 5_000_000, (cap.wall_s, cap.trace_bytes)
    ops = trace_to_ops(trace, {"stamp": "s", "cell_id": "c"})
    frames = {f for f in ops["project_frame"].to_pylist() if f}
    assert any(f.startswith("simulator/engine.py:") for f in frames)
