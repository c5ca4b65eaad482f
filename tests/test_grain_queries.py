"""``farm rank --by`` and ``farm hotspots --by`` over analysed bundles of a real trace."""

from __future__ import annotations

import csv
import io
import json

import pytest
from loop_bundles import SOURCE, TARGET, make_bundle
from typer.testing import CliRunner

from analysis.evidence import analyse_bundle
from farm.cli import app

STAMP = "20260103T000000Z"
runner = CliRunner()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    analyse_bundle(make_bundle(root, STAMP), {TARGET: SOURCE})
    return root


def run(*args: str):
    return runner.invoke(app, list(args))


def _json(reports, *args: str) -> list[dict]:
    r = run("rank", *args, "--reports", str(reports), "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_rank_by_line_is_exclusive_with_a_running_explained_share(reports):
    rows = _json(reports, "--by", "line", "--top", "50")
    assert {(r["device"], r["dtype"]) for r in rows} == {("cpu", "float32"), ("cuda:0", "float32")}
    cpu = [r for r in rows if r["device"] == "cpu"]
    assert [r["rank"] for r in cpu] == list(range(1, len(cpu) + 1))
    running = 0.0
    for r in cpu:
        running += r["pct_of_run"]
        assert r["explained_pct"] == pytest.approx(running, abs=0.02)
    assert 90.0 <= cpu[-1]["explained_pct"] <= 100.5  # all lines of the package
    assert all(r["module"] == "synthetic_loops/target.py" and r["line"] for r in cpu)


def test_rank_by_function_and_by_op(reports):
    functions = _json(reports, "--by", "function", "--device", "cpu")
    assert functions[0]["function"] == "factory.render" and functions[0]["pct_of_run"] > 90
    assert "explained_pct" not in functions[0]  # inclusive shares nest
    ops = _json(reports, "--by", "op", "--device", "cpu", "--top", "5")
    assert len(ops) == 5 and ops[0]["kind"] == "cpu_op"
    assert ops[0]["pct_of_run"] >= ops[-1]["pct_of_run"]
    assert {"self_pct", "calls", "min_call_us", "call_line"} <= set(ops[0])
    assert ops[-1]["explained_pct"] == pytest.approx(sum(r["self_pct"] for r in ops), abs=0.05)


def test_rank_by_refuses_non_evidence_and_unknown_grains(reports):
    r = run("rank", "--by", "line", "--reports", str(reports), "--csv")
    # the reason wraps in a narrow terminal (COLUMNS=80): compare words
    assert r.exit_code == 0 and "failed the parity gate" in " ".join(r.stderr.split())
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert "float64" not in {x["dtype"] for x in rows}
    r = run("rank", "--by", "lines", "--reports", str(reports))
    assert r.exit_code == 2
    assert r.stderr.strip() == (
        "error: --by: unknown grain 'lines' (known: loop, line, function, op)"
    )
    r = run("rank", "20990101T000000Z", "--by", "op", "--reports", str(reports))
    assert r.exit_code == 2 and "no op data for stamp" in r.stderr


@pytest.mark.parametrize(("by", "table"), [("line", "hot_lines"), ("op", "hot_ops")])
def test_show_sql_names_the_grain_table(by, table):
    r = run("rank", "--by", by, "--show-sql")
    assert r.exit_code == 0
    assert f"FROM {table} WHERE stamp = $stamp" in r.stdout
    assert f"SELECT max(stamp) AS stamp FROM {table}" in r.stdout
    assert "-- $unrepresentative = 1.5" in r.stdout
    r = run("hotspots", "--by", by, "--show-sql", "--hot", "3")
    assert r.exit_code == 0 and "-- $hot = 3.0" in r.stdout and f"FROM {table}" in r.stdout


def test_hotspots_by_line_compares_cpu_and_gpu(reports):
    r = run("hotspots", "--by", "line", "--reports", str(reports), "--csv", "--top", "3")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 3 and {"module", "line", "cpu_pct", "gpu_pct", "flag"} <= set(rows[0])
    assert rows[0]["flag"] == "hot on both"  # the same target's lines on both sides


def test_gpu_cell_kernels_land_on_the_lines_that_launched_them(reports):
    """The gpu cell's A100 kernels (tests/gpu_splice.py): rows of kind kernel, GPU time."""
    ops = _json(reports, "--by", "op", "--device", "cuda", "--top", "100")
    kernels = [r for r in ops if r["kind"] == "kernel"]
    assert kernels and {r["op_device"] for r in kernels} == {"cuda"}
    assert all(r["call_module"] == "synthetic_loops/target.py" for r in kernels)
    lines = _json(reports, "--by", "line", "--device", "cuda", "--top", "100")
    assert sum(r["gpu_pct"] or 0 for r in lines) > 0
    assert sum(r["pct_of_run"] for r in lines) <= 100.5  # host shares still add up
