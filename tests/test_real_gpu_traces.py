"""Real CUDA traces through ingestion, attribution and the hotspot query (no GPU needed).

- ``tests/data/hta_a100_alexnet`` and ``tests/data/hta_a100_sampled``: kineto traces recorded
  on A100-class GPUs (Holistic Trace Analysis, MIT): every kernel, memcpy and memset must link
  to its CUDA runtime call and, through it, to the operator that made the call, and its GPU
  time must land on that operator. The oracle reads the raw JSON on its own
  (:func:`gpu_splice.gpu_launches`).
- The derived GPU run of ``tests/gpu_splice.py`` (a CPU run's Python frames and call sites,
  with the A100 trace's launches and kernels spliced in; see that module for what is real
  and what is synthetic): GPU time must reach the Python line and the loop that launched it,
  and ``hotspots`` must flag the loops of tiny launches from those real kernel durations.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from gpu_splice import (
    ALEXNET,
    CPU_RUN,
    DONOR,
    GPU_CATEGORIES,
    LAUNCHES,
    TRITON,
    gpu_launches,
    load_trace,
    splice_gpu_run,
)
from loop_bundles import SOURCE, TARGET, make_bundle

from analysis.evidence import analyse_bundle
from analysis.loops.attribution import attribute, loop_specs
from analysis.queries.hotspots import HOT_PCT, TINY_KERNEL_US, hotspots
from analysis.tables.catalog import Catalog
from analysis.traces import trace_to_ops

REAL = {"alexnet": ALEXNET, "sampled": DONOR, "triton": TRITON}
#: GPU events (kernels, memcpy, memset) in each fixture, as its README says.
GPU_EVENTS = {"alexnet": 98, "sampled": 1204, "triton": 1}
KEYS = {"stamp": "s", "cell_id": "c", "device": "cuda:0", "dtype": "float32", "size": 320}
MODULE = "synthetic_loops/target.py"
REPS, A, OUTER, INNER, COUNTDOWN = 3, 6, 3, 4, 5  # the CPU run's parameters (make_fixtures)


def _by_id(ops: pa.Table) -> dict[int, dict]:
    return {r["event_id"]: r for r in ops.to_pylist()}


def _close(a_us: float, b_us: float) -> bool:
    """Equal start times: ``ts_us`` is a float, 0.25 µs apart at these epoch values."""
    return abs(a_us - b_us) <= 0.5


@pytest.mark.parametrize("name", sorted(REAL))
def test_every_gpu_event_links_to_its_runtime_call_and_operator(name):
    path = REAL[name]
    oracle = {
        (launch.gpu["args"]["correlation"], launch.gpu["name"]): launch
        for launch in gpu_launches(load_trace(path))
    }
    ops = trace_to_ops(path, KEYS)
    rows = _by_id(ops)
    gpu = [r for r in rows.values() if r["kind"] == "kernel"]
    assert len(gpu) == len(oracle) == GPU_EVENTS[name]
    for k in gpu:
        want = oracle[(k["correlation_id"], k["name"])]
        assert k["op_device"] == "cuda" and k["parent_id"] is not None, k["name"]
        runtime = rows[k["parent_id"]]
        assert runtime["kind"] == "runtime" and runtime["correlation_id"] == k["correlation_id"]
        assert runtime["name"] == want.runtime["name"]
        assert _close(runtime["ts_us"], float(want.runtime["ts"]))
        if want.operator is None:  # a launch outside any operator (the trace has 16)
            assert runtime["parent_id"] is None
            continue
        operator = rows[runtime["parent_id"]]
        assert operator["kind"] == "cpu_op" and operator["name"] == want.operator["name"]
        assert _close(operator["ts_us"], float(want.operator["ts"]))
        assert k["self_us"] == pytest.approx(float(want.gpu["dur"]))


@pytest.mark.parametrize("name", sorted(REAL))
def test_gpu_time_lands_on_the_launching_operator(name):
    path = REAL[name]
    want: dict[tuple[str, int], float] = defaultdict(float)
    for launch in gpu_launches(load_trace(path)):
        op = launch.operator
        key = ("", 0) if op is None else (op["name"], round(float(op["ts"])))
        want[key] += float(launch.gpu["dur"])
    rows = _by_id(trace_to_ops(path, KEYS))
    got: dict[tuple[str, int], float] = defaultdict(float)
    for k in rows.values():
        if k["kind"] == "kernel":
            op = rows.get(rows[k["parent_id"]]["parent_id"])
            key = ("", 0) if op is None else (op["name"], round(op["ts_us"]))
            got[key] += k["dur_us"]
    assert got.keys() == want.keys()
    assert all(got[key] == pytest.approx(want[key]) for key in want)
    doc = load_trace(path)
    total = sum(float(e["dur"]) for e in doc["traceEvents"] if e.get("cat") in GPU_CATEGORIES)
    assert sum(got.values()) == pytest.approx(total)  # no GPU time lost or counted twice


def test_alexnet_convolutions_carry_their_cudnn_kernels():
    rows = _by_id(trace_to_ops(ALEXNET, KEYS))
    by_op = Counter(
        rows[rows[k["parent_id"]]["parent_id"]]["name"]
        for k in rows.values()
        if k["kind"] == "kernel"
    )
    names = Counter(k["name"].split("<")[0] for k in rows.values() if k["kind"] == "kernel")
    assert by_op.most_common(1)[0][0] == "aten::cudnn_convolution"
    assert any("xmma_fprop" in n or "cudnn" in n for n in names)  # real cuDNN kernels


def test_a_compiled_kernel_links_through_its_driver_api_launch():
    rows = _by_id(trace_to_ops(TRITON, KEYS))
    [kernel] = [r for r in rows.values() if r["kind"] == "kernel"]
    launch = rows[kernel["parent_id"]]
    assert kernel["name"].startswith("triton_") and launch["name"] == "cuLaunchKernel"
    assert launch["kind"] == "runtime"  # cuda_driver events are launches too
    assert rows[launch["parent_id"]]["name"] == kernel["name"]  # the compiled region's op


# --- the derived GPU run: stacks, loops, hotspots ----------------------------------------------


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    folder = tmp_path_factory.mktemp("derived_gpu_run")
    splice = splice_gpu_run(folder)
    ops = trace_to_ops(splice.trace, {**KEYS, "cell_id": "gpu"})
    return splice, ops


@pytest.fixture(scope="module")
def loops():
    return pq.read_table(CPU_RUN / "loops.parquet")


def _loop(loops: pa.Table, comment: str):
    """The inventory row of the loop marked ``# <comment>`` in the traced source."""
    source = (CPU_RUN.parent.parent / "synthetic_loops" / "target.py").read_text().splitlines()
    line = next(i + 1 for i, text in enumerate(source) if text.endswith(f"# {comment}"))
    return next(s for s in loop_specs(loops) if s.line == line)


def test_the_derived_run_keeps_the_cpu_runs_call_sites(derived):
    splice, ops = derived
    cpu = trace_to_ops(CPU_RUN / "trace.json.gz", KEYS)
    assert set(ops["callsite_method"].to_pylist()) == {"event_tree"}

    def ops_and_stacks(table):
        return Counter(
            (r["name"], tuple(r["stack"])) for r in table.to_pylist() if r["kind"] == "cpu_op"
        )

    assert ops_and_stacks(ops) == ops_and_stacks(cpu)  # every operator keeps its Python line
    kinds = Counter(ops["kind"].to_pylist())
    assert kinds["kernel"] == splice.launches > 0
    assert kinds["python"] == Counter(cpu["kind"].to_pylist())["python"]


def test_kernels_carry_the_python_line_that_launched_them(derived):
    _, ops = derived
    rows = _by_id(ops)
    kernels = [r for r in rows.values() if r["kind"] == "kernel"]
    launched_by = Counter()
    for k in kernels:
        runtime = rows[k["parent_id"]]
        op = rows[runtime["parent_id"]]
        assert op["name"] in {name for name, _ in LAUNCHES}
        assert k["stack"] == runtime["stack"] == op["stack"] and k["stack"]
        launched_by[k["stack"][0]] += 1
    source = (CPU_RUN.parent.parent / "synthetic_loops" / "target.py").read_text().splitlines()
    line_a = next(i + 1 for i, t in enumerate(source) if t.endswith("# loop_a")) + 1
    line_inner = next(i + 1 for i, t in enumerate(source) if t.endswith("# inner")) + 1
    assert launched_by[f"{MODULE}:{line_a}:render"] == REPS * A * 2  # a matmul and an add each
    assert launched_by[f"{MODULE}:{line_inner}:render"] == OUTER * INNER  # one add each


def _oracle_gpu_us(splice, ops: pa.Table, spec) -> tuple[float, int]:
    """GPU time and kernels of the loop: raw-JSON links, the operator's stack from ``ops``."""
    stacks = {
        (r["name"], round(r["ts_us"] * 1000)): r["stack"]
        for r in ops.to_pylist()
        if r["kind"] == "cpu_op"
    }
    total, count = 0.0, 0
    for launch in gpu_launches(load_trace(splice.trace)):
        op = launch.operator
        stack = stacks[(op["name"], round(float(op["ts"]) * 1000))]
        frames = [e.rsplit(":", 2) for e in stack]
        if any(f == spec.module and spec.matches(int(n), fn) for f, n, fn in frames):
            total += float(launch.gpu["dur"])
            count += 1
    return total, count


@pytest.mark.parametrize("comment", ["loop_a", "loop_b", "loop_c", "nested", "inner", "countdown"])
def test_gpu_time_reaches_the_loop_that_launched_it(derived, loops, comment):
    splice, ops = derived
    spec = _loop(loops, comment)
    row = next(r for r in attribute(ops, loops).to_pylist() if r["loop_id"] == spec.loop_id)
    want_us, want_count = _oracle_gpu_us(splice, ops, spec)
    assert want_count > 0
    assert row["kernel_count"] == want_count
    assert row["gpu_us"] == pytest.approx(want_us)
    assert row["inclusive_us"] == pytest.approx(max(row["cpu_us"], row["gpu_us"]))


def test_hotspots_flag_tiny_launches_from_real_kernel_durations(tmp_path, derived, loops):
    """Through a real bundle: parts, bundle analysis (hot_loops), the catalog and the query."""
    splice, ops = derived
    cells = {
        "cpu": ("cpu", "float32", 320, "pass", 0.99999),
        "gpu": ("cuda:0", "float32", 320, "pass", 0.99998),
    }
    analyse_bundle(make_bundle(tmp_path, "s", cells), {TARGET: SOURCE})
    with Catalog(tmp_path) as cat:
        flagged = {r["loop_id"]: r for r in hotspots(cat, stamp="s", top=100).records()}
        low = {r["loop_id"]: r for r in hotspots(cat, stamp="s", top=100, hot=2.0).records()}
    for comment in ("nested", "inner"):  # 12 one-element adds: real ~3 µs A100 kernels
        spec = _loop(loops, comment)
        row = flagged[spec.loop_id]
        want_us, count = _oracle_gpu_us(splice, ops, spec)
        assert row["us_per_kernel"] == pytest.approx(want_us / count, abs=0.01)
        assert row["us_per_kernel"] < TINY_KERNEL_US
        assert row["cpu_pct"] < HOT_PCT <= row["gpu_pct"]
        assert row["flag"] == "hot on GPU only (many tiny launches)"
    matmuls = flagged[_loop(loops, "loop_a").loop_id]
    assert matmuls["flag"] == "hot on both"
    countdown = _loop(loops, "countdown").loop_id
    assert flagged[countdown]["flag"] == ""  # under 5 % on both sides
    assert low[countdown]["flag"] == "hot on GPU only (many tiny launches)"  # --hot 2
