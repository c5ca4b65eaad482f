"""Real CUDA traces for tests: an independent kernel linker, and a derived GPU run.

No public CUDA trace with Python stacks was found (none of Holistic Trace Analysis' traces
has ``python_function`` events), and this project has had no GPU, so the GPU cell of the
test bundles is **derived** from two real recordings:

- **real, from a CPU run**: the Python frames, their call-site sidecar and every operator of
  ``tests/data/synthetic_cpu_event_tree`` (torch.profiler on tests/synthetic_loops);
- **real, from an A100-class GPU**: for every operator that launches work on CUDA, the host
  duration of that operator, its CUDA runtime calls (names, durations, offsets) and its
  kernels (names, durations, categories) are those of the same operator in
  ``tests/data/hta_a100_sampled`` (taken in the donor's order, round robin);
- **synthetic (the splice itself)**: which of our operators launch (:data:`LAUNCHES`), the
  placement of the kernels on one stream (each starts at the launch plus the donor's
  smallest launch latency, after the previous kernel), the ``cudaDeviceSynchronize`` that
  waits for the last kernel at the end of the render, and that the donor's kernels ran on
  other shapes than ours (320² matmuls). Python time between operators stays as recorded on
  CPU (the interpreter does the same work for either device).

:func:`gpu_launches` reads a trace with plain ``json`` and links every GPU event to its
runtime call (same correlation id) and to the innermost CPU operator around that call on
the same thread: the oracle the project's ingestion is checked against.
"""

from __future__ import annotations

import gzip
import json
import math
import shutil
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

DATA = Path(__file__).resolve().parent / "data"
CPU_RUN = DATA / "synthetic_cpu_event_tree"
DONOR = DATA / "hta_a100_sampled" / "trace.json.gz"
ALEXNET = DATA / "hta_a100_alexnet" / "trace.json.gz"
TRITON = DATA / "hta_a100_triton" / "trace.json.gz"

GPU_CATEGORIES = ("kernel", "gpu_memcpy", "gpu_memset")
RUNTIME_CATEGORIES = ("cuda_runtime", "cuda_driver")
#: Our operators that launch work on CUDA, by (name, name of the enclosing operator or "").
#: The others are views, CPU scalars (``torch.tensor`` of floats, the wrapped ``1e-6``) or
#: ``copy_`` of a view onto itself, which returns early on CUDA as on CPU.
LAUNCHES = {
    ("aten::mm", "aten::matmul"),
    ("aten::add_", ""),
    ("aten::sub_", ""),
    ("aten::fill_", "aten::zero_"),
}
SIZE = 320  # the side of the traced matrices (tests/data/make_fixtures.py)
STREAM_TID = 7
FIRST_CORRELATION = 1_000_001


# --- reading ------------------------------------------------------------------------------


def load_trace(path: Path) -> dict[str, Any]:
    """A Chrome trace, with exact decimal timestamps (``ts``/``dur`` as :class:`Decimal`)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return json.loads(raw, parse_float=Decimal)


def _x(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in doc["traceEvents"] if e.get("ph") == "X" and e.get("cat")]


def _ns(value: Any) -> int:
    return int(Decimal(value) * 1000)


@dataclass(frozen=True)
class Launch:
    """One GPU event, the runtime call that launched it, and the operator around that call."""

    gpu: dict[str, Any]
    runtime: dict[str, Any] | None
    operator: dict[str, Any] | None


def gpu_launches(doc: dict[str, Any]) -> list[Launch]:
    """Every GPU event of ``doc`` with its runtime call and innermost enclosing CPU operator.

    Operators nest by time on their thread; at equal start and duration the one written
    later in the file is the callee (``aten::item`` calls ``aten::_local_scalar_dense``).
    """
    events = _x(doc)
    runtime_by_corr = {
        e["args"]["correlation"]: e
        for e in events
        if e["cat"] in RUNTIME_CATEGORIES and "correlation" in (e.get("args") or {})
    }
    threads: dict[tuple, list[tuple[int, int, int, dict[str, Any]]]] = defaultdict(list)
    for i, e in enumerate(events):
        if e["cat"] == "cpu_op":
            t0 = _ns(e["ts"])
            threads[(e["pid"], e["tid"])].append((t0, -_ns(e["dur"]), i, e))
    trees = {}
    for key, ops in threads.items():
        ops.sort(key=lambda o: o[:3])
        parent, stack = [], []
        for k, (t0, _, _, _) in enumerate(ops):
            while stack and ops[stack[-1]][0] - ops[stack[-1]][1] <= t0:
                stack.pop()
            parent.append(stack[-1] if stack else -1)
            stack.append(k)
        trees[key] = ([o[0] for o in ops], [o[3] for o in ops], parent)
    out = []
    for g in events:
        if g["cat"] not in GPU_CATEGORIES:
            continue
        rt = runtime_by_corr.get((g.get("args") or {}).get("correlation"))
        op = None
        if rt is not None and (rt["pid"], rt["tid"]) in trees:
            starts, ops, parent = trees[(rt["pid"], rt["tid"])]
            r0 = _ns(rt["ts"])
            r1 = r0 + _ns(rt["dur"])
            k = bisect_right(starts, r0) - 1
            while k >= 0 and starts[k] + _ns(ops[k]["dur"]) < r1:
                k = parent[k]
            op = ops[k] if k >= 0 else None
        out.append(Launch(g, rt, op))
    return out


# --- the donor ----------------------------------------------------------------------------


@dataclass
class DonorOp:
    """One operator of the donor trace that launched GPU work: its host side and its kernels."""

    name: str
    dur_ns: int
    work: int  # m·k·n of a matmul, else the elements of the first input
    calls: list[tuple[int, dict[str, Any], dict[str, Any]]]  # (offset ns, runtime, gpu event)


def _work(name: str, dims: list[list[int]]) -> int:
    """Size of an operator's work from its input shapes (``Input Dims``)."""
    if name == "aten::mm" and len(dims) >= 2 and len(dims[0]) == 2 and len(dims[1]) == 2:
        return dims[0][0] * dims[0][1] * dims[1][1]
    numel = 1
    for d in dims[0] if dims else []:
        numel *= int(d)
    return numel


def donor_ops(doc: dict[str, Any]) -> tuple[dict[str, list[DonorOp]], int]:
    """Donor operators by name (in the order they ran), and the smallest launch latency (ns)."""
    by_op: dict[int, DonorOp] = {}
    order: dict[int, int] = {}
    latency = None
    for launch in gpu_launches(doc):
        op, rt = launch.operator, launch.runtime
        if op is None or rt is None:
            continue
        dims = (op.get("args") or {}).get("Input Dims") or []
        donor = by_op.setdefault(
            id(op), DonorOp(op["name"], _ns(op["dur"]), _work(op["name"], dims), [])
        )
        order.setdefault(id(op), _ns(op["ts"]))
        donor.calls.append((_ns(rt["ts"]) - _ns(op["ts"]), rt, launch.gpu))
        gap = _ns(launch.gpu["ts"]) - _ns(rt["ts"])
        if gap > 0:
            latency = gap if latency is None else min(latency, gap)
    named: dict[str, list[DonorOp]] = defaultdict(list)
    for key in sorted(by_op, key=order.__getitem__):
        d = by_op[key]
        d.calls.sort(key=lambda c: c[0])
        named[d.name].append(d)
    return dict(named), latency or 1000


def nearest_work(pool: list[DonorOp], work: int) -> list[DonorOp]:
    """The donor operators whose work is nearest ``work`` (by ratio), in the order they ran."""

    def distance(d: DonorOp) -> float:
        return abs(math.log(max(d.work, 1) / max(work, 1)))

    best = min(distance(d) for d in pool)
    return [d for d in pool if distance(d) == best]


# --- the splice ---------------------------------------------------------------------------


@dataclass
class _Warp:
    """A monotone map of the CPU run's clock (ns): launching operators take the donor's time.

    Each piece ``(start, end, head, tail)`` maps the operator's interior onto ``head`` ns (its
    host work before the first launch) and inserts ``tail`` ns at its end (the launches and
    what followed them in the donor).
    """

    pieces: list[tuple[int, int, int, int]] = field(default_factory=list)

    def __call__(self, t: int) -> int:
        shift = 0
        for start, end, head, tail in self.pieces:
            if t <= start:
                break
            if t < end:
                return start + shift + (head * (t - start)) // (end - start)
            shift += head - (end - start) + tail
        return t + shift


@dataclass
class Splice:
    """What :func:`splice_gpu_run` planted (the test oracle reads the trace itself)."""

    trace: Path
    launches: int
    kernels_us: float
    sync_us: float


def _plan(events: list[dict[str, Any]], run_thread: tuple) -> list[tuple[dict, int]]:
    """Operators of the run thread that launch on CUDA, each with the size of its work.

    What we know of the traced target (tests/synthetic_loops at :data:`SIZE`): every matmul
    is SIZE x SIZE by SIZE x SIZE and ``zeros`` fills SIZE² elements; an in-place add or
    subtract works on SIZE² elements, or on one when it converts a Python scalar first (an
    ``aten::to`` inside it: ``acc[i, j] += 1e-6``).
    """
    ops = sorted(
        (
            e
            for e in events
            if e["cat"] == "cpu_op"
            and (e["pid"], e["tid"]) == run_thread
            and not e["name"].startswith("farm.")
        ),
        key=lambda e: (_ns(e["ts"]), -_ns(e["dur"])),
    )
    stack: list[dict] = []
    children: dict[int, set[str]] = defaultdict(set)
    planned = []
    for op in ops:
        t0 = _ns(op["ts"])
        while stack and _ns(stack[-1]["ts"]) + _ns(stack[-1]["dur"]) <= t0:
            stack.pop()
        parent = stack[-1] if stack else None
        if parent is not None:
            children[id(parent)].add(op["name"])
        if (op["name"], parent["name"] if parent else "") in LAUNCHES:
            planned.append(op)
        stack.append(op)
    out = []
    for op in planned:
        if op["name"] == "aten::mm":
            work = SIZE**3
        elif op["name"] == "aten::fill_":
            work = SIZE**2
        else:
            work = 1 if "aten::to" in children[id(op)] else SIZE**2
        out.append((op, work))
    return out


def _number(value: Any) -> float:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _fmt(ns: int) -> str:
    return f"{ns // 1000}.{ns % 1000:03d}"


def _dump(doc: dict[str, Any], events: list[dict[str, Any]]) -> bytes:
    """JSON text with ``ts``/``dur`` written exactly from integer ns (``_ts_ns``/``_dur_ns``)."""
    parts = []
    for e in events:
        ts, dur = e.pop("_ts_ns", None), e.pop("_dur_ns", None)
        if ts is not None:
            e = {k: v for k, v in e.items() if k not in ("ts", "dur")}
        body = json.dumps(e, default=_number)
        if ts is not None:
            body = '{"ts": ' + _fmt(ts) + ', "dur": ' + _fmt(dur) + ", " + body[1:]
        parts.append(body)
    head = {k: v for k, v in doc.items() if k != "traceEvents"}
    text = (
        json.dumps(head, default=_number)[:-1] + ', "traceEvents": [\n' + ",\n".join(parts) + "]}"
    )
    return text.encode()


def splice_gpu_run(out_dir: Path, cpu_run: Path = CPU_RUN, donor: Path = DONOR) -> Splice:
    """Write the derived CUDA run (see the module docstring) into ``out_dir``.

    Writes ``trace.json.gz``, ``trace.callsites.arrow`` (the CPU run's sidecar on the new
    clock) and ``trace.capture.json`` (device ``cuda:0``, with a note saying it is derived).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = load_trace(cpu_run / "trace.json.gz")
    donors, latency = donor_ops(load_trace(donor))
    events = doc["traceEvents"]
    xs = _x(doc)
    run = next(e for e in xs if e["name"] == "farm.run")
    run_thread = (run["pid"], run["tid"])
    planned = _plan(xs, run_thread)

    warp = _Warp()
    used: dict[tuple[str, int], int] = defaultdict(int)
    plants = []
    for op, work in planned:
        pool = nearest_work(donors[op["name"]], work)
        d = pool[used[op["name"], work] % len(pool)]
        used[op["name"], work] += 1
        head = d.calls[0][0]
        start, end = _ns(op["ts"]), _ns(op["ts"]) + _ns(op["dur"])
        warp.pieces.append((start, end, head, d.dur_ns - head))
        plants.append((op, d))
    warp.pieces.sort()

    for e in xs:  # the new clock for every recorded event
        t0, t1 = _ns(e["ts"]), _ns(e["ts"]) + _ns(e["dur"])
        n0, n1 = warp(t0), warp(t1)
        e["_ts_ns"], e["_dur_ns"] = n0, max(n1 - n0, 0)

    new_events: list[dict[str, Any]] = []
    corr = FIRST_CORRELATION
    gpu_free = 0
    kernels_ns = 0
    for op, d in plants:
        op_start = op["_ts_ns"]
        for offset, rt, gpu in d.calls:
            r0 = op_start + offset
            r_dur = _ns(rt["dur"])
            new_events.append(
                {
                    "ph": "X",
                    "cat": rt["cat"],
                    "name": rt["name"],
                    "pid": op["pid"],
                    "tid": op["tid"],
                    "args": {"correlation": corr},
                    "_ts_ns": r0,
                    "_dur_ns": r_dur,
                }
            )
            k0 = max(r0 + latency, gpu_free)
            k_dur = _ns(gpu["dur"])
            gpu_free = k0 + k_dur
            kernels_ns += k_dur
            new_events.append(
                {
                    "ph": "X",
                    "cat": gpu["cat"],
                    "name": gpu["name"],
                    "pid": 0,
                    "tid": STREAM_TID,
                    "args": {"correlation": corr, "device": 0, "stream": STREAM_TID},
                    "_ts_ns": k0,
                    "_dur_ns": k_dur,
                }
            )
            corr += 1

    launches = corr - FIRST_CORRELATION
    # the render returns, then torch.cuda.synchronize() waits for the last kernel
    render = max(
        (e for e in xs if e["cat"] == "python_function" and e["name"].endswith("): render")),
        key=lambda e: e["_dur_ns"],
    )
    t_sync = render["_ts_ns"] + render["_dur_ns"]
    gap = max(gpu_free - t_sync, 0)
    for e in xs + new_events:
        if e.get("tid") == STREAM_TID and e.get("pid") == 0:
            continue
        if e["_ts_ns"] >= t_sync and e is not render:
            e["_ts_ns"] += gap
        elif e["_ts_ns"] + e["_dur_ns"] > t_sync:
            e["_dur_ns"] += gap
    new_events.append(
        {
            "ph": "X",
            "cat": "cuda_runtime",
            "name": "cudaDeviceSynchronize",
            "pid": run["pid"],
            "tid": run["tid"],
            "args": {"correlation": corr},
            "_ts_ns": t_sync,
            "_dur_ns": gap,
        }
    )
    for e in events:  # metadata and instant events keep their place on the new clock
        if "ts" in e and "_ts_ns" not in e and e.get("ph") != "X":
            e["ts"] = Decimal(_fmt(warp(_ns(e["ts"]))))  # written as a float

    doc["deviceProperties"] = [
        {"id": 0, "name": "derived: CPU run + A100 kernels (tests/gpu_splice.py)"}
    ]
    doc["farm_derived"] = (
        "tests/gpu_splice.py: Python frames and operators from a CPU run of tests/synthetic_loops; "
        "host durations, runtime calls and kernels of launching operators from "
        "tests/data/hta_a100_sampled (real A100-class GPU); kernel placement synthetic"
    )
    base = int(doc.get("baseTimeNanoseconds") or 0)
    (out_dir / "trace.json.gz").write_bytes(gzip.compress(_dump(doc, events + new_events), 3))
    _warp_sidecar(
        cpu_run / "trace.callsites.arrow",
        out_dir / "trace.callsites.arrow",
        base,
        warp,
        t_sync,
        gap,
    )
    capture = json.loads((cpu_run / "trace.capture.json").read_text())
    capture.update(device="cuda:0", method_note=doc["farm_derived"])
    (out_dir / "trace.capture.json").write_text(json.dumps(capture, indent=2))
    return Splice(out_dir / "trace.json.gz", launches, kernels_ns / 1000, gap / 1000)


def _warp_sidecar(src: Path, dst: Path, base: int, warp: _Warp, t_sync: int, gap: int) -> None:
    """The call-site sidecar with every start time on the new clock."""
    with pa.memory_map(str(src)) as fh:
        table = ipc.open_file(fh).read_all()
    starts = []
    for ns in table["start_ns"].to_pylist():
        t = warp(ns - base)
        starts.append(base + t + (gap if t >= t_sync else 0))
    table = table.set_column(
        table.schema.get_field_index("start_ns"), "start_ns", pa.array(starts, pa.int64())
    ).replace_schema_metadata(table.schema.metadata)
    with pa.OSFile(str(dst), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def copy_cpu_run(out_dir: Path, cpu_run: Path = CPU_RUN) -> Path:
    """The CPU run's files, unchanged, in ``out_dir`` (the CPU side of a comparison)."""
    out_dir = Path(out_dir)
    shutil.copytree(cpu_run, out_dir, dirs_exist_ok=True)
    return out_dir / "trace.json.gz"
