"""The compiled trace scanner against hand-written JSON (what orjson would read)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.traces.scan import ScanError, scan_events


def _events(*events: dict) -> bytes:
    return json.dumps(list(events), indent=2).encode()


def test_reads_fields_and_skips_the_rest():
    data = _events(
        {"ph": "M", "name": "process_name", "pid": 1, "tid": 0, "args": {"name": "python"}},
        {
            "ph": "X",
            "cat": "kernel",
            "name": "k",
            "pid": 0,
            "tid": 7,
            "ts": 10.5,
            "dur": 2.25,
            "args": {"grid": [1, 2, 3], "nested": {"a": [{"b": "}"}]}, "correlation": 42},
        },
        {
            "ph": "X",
            "cat": "python_function",
            "name": 'a "quoted" \\ name \u00e9',
            "pid": 5,
            "tid": 5,
            "ts": 4878133437171.281,
            "dur": 0,
            "args": {"Python parent id": 1, "Python id": 9},
        },
        {"ph": "X", "name": "no category", "pid": 1, "tid": 1, "ts": 1, "dur": 1},
        {
            "ph": "X",
            "cat": "Trace",
            "name": "span",
            "pid": "Spans",
            "tid": "PyTorch Profiler",
            "ts": 3,
            "dur": 4.0001,
        },
        {"ph": "i", "s": "g", "name": "instant", "pid": "", "tid": "", "ts": 5},
    )
    got = scan_events(data)
    assert got.cat.to_pylist() == ["kernel", "python_function", "Trace"]
    assert got.name.to_pylist() == ["k", 'a "quoted" \\ name \u00e9', "span"]
    assert got.thread.to_pylist() == ["0/7", "5/5", '"Spans"/"PyTorch Profiler"']
    assert got.ts.tolist() == [10500, 4878133437171281, 3000]
    assert got.dur.tolist() == [2250, 0, 4000]
    assert got.py_id.tolist() == [-1, 9, -1]
    assert got.corr.tolist() == [42, -1, -1]


def test_compact_layout_and_empty_array():
    data = json.dumps(
        [
            {
                "ph": "X",
                "cat": "cpu_op",
                "name": "aten::add",
                "pid": 1,
                "tid": 1,
                "ts": 1.0,
                "dur": 1.0,
            }
        ],
        separators=(",", ":"),
    ).encode()
    assert scan_events(data).name.to_pylist() == ["aten::add"]
    assert len(scan_events(b"[]").ts) == 0


def test_many_events_grow_the_buffer():
    events = [
        {"ph": "X", "cat": "cpu_op", "name": f"op{i}", "pid": 1, "tid": 1, "ts": i, "dur": 1}
        for i in range(5000)
    ]
    got = scan_events(json.dumps(events, separators=(",", ":")).encode())
    assert len(got.ts) == 5000 and np.array_equal(got.ts, np.arange(5000) * 1000)


@pytest.mark.parametrize(
    "data",
    [
        b'{"traceEvents": []}',
        b'[{"ph": "X", "cat": "a", "ts": 1e3}]',  # exponents: the general parser's job
        b'[{"ph": "X", "cat": "a"',
        b"[1, 2]",
    ],
)
def test_unreadable_input_raises(data):
    with pytest.raises(ScanError):
        scan_events(data)
