"""analyse_bundle: loops and hot_loops parts, hot_loops.csv, cpu_vs_gpu.csv, backlog.md."""

from __future__ import annotations

import csv
import io

import pyarrow.parquet as pq
import pytest
from loop_bundles import SOURCE, TARGET, make_bundle

from analysis.evidence import analyse_bundle, estimate_gain
from analysis.tables import HOT_LOOPS, LOOPS

STAMP = "20260101T000000Z"


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    bundle = make_bundle(tmp_path_factory.mktemp("reports"), STAMP)
    sections = analyse_bundle(bundle, {TARGET: SOURCE})
    return bundle, sections


def test_tables_are_written(analysed):
    bundle, _ = analysed
    loops = pq.read_table(bundle / "tables" / "loops" / "part-inventory-synthetic_loops.parquet")
    assert loops.schema == LOOPS and loops.num_rows >= 7
    for cell in ("good", "bad", "gpu"):
        hot = pq.read_table(bundle / "tables" / "hot_loops" / f"part-{cell}.parquet")
        assert hot.schema == HOT_LOOPS and hot.num_rows >= 6
        assert set(hot["target"].to_pylist()) == {TARGET}


def test_hot_loops_csv(analysed):
    bundle, _ = analysed
    rows = list(csv.reader(io.StringIO((bundle / "hot_loops.csv").read_text())))
    assert rows[0] == ["module", "line", "loop_id", "%time", "call_count", "notes"]
    body = rows[1:]
    # evidence only: cpu float32 and cuda:0 float32; the failed float64 cell is not there
    assert {r[5].split(";")[0] for r in body} == {"cpu float32", "cuda:0 float32"}
    cpu = [r for r in body if r[5].startswith("cpu ")]
    assert float(cpu[0][3]) == max(float(r[3]) for r in cpu)  # ranked
    assert cpu[0][0] == "synthetic_loops/target.py" and int(cpu[0][4]) > 0


def test_cpu_vs_gpu_csv(analysed):
    bundle, _ = analysed
    rows = list(csv.DictReader(io.StringIO((bundle / "cpu_vs_gpu.csv").read_text())))
    assert rows and {"cpu_pct", "gpu_pct", "cpu_ops", "gpu_ops", "flag"} <= set(rows[0])
    assert rows[0]["flag"] == "hot on both"


def test_backlog_lists_refused_cells_and_gains(analysed):
    bundle, _ = analysed
    text = (bundle / "backlog.md").read_text()
    assert "Refused as evidence" in text
    assert "`bad` cpu float64 size 320: correlation 0.721000" in text
    assert "## 1. `synthetic_loops/target.py:" in text
    assert "est. gain" in text and "ms (" in text


def test_summary_sections(analysed):
    _, sections = analysed
    assert sections[0].startswith("## Residual Python loops: top by inclusive time")
    assert "### cpu float32" in sections[0] and "### cuda:0 float32" in sections[0]
    assert "synthetic_loops: " not in sections[0]  # package named in backticks
    assert "`synthetic_loops`: " in sections[0]
    assert sections[1].startswith("## Where the time goes: loops, lines and functions")
    assert sections[2].startswith("## Top-5 kernels by inclusive time")
    assert sections[3].startswith("## CPU vs GPU hotspots")
    assert "(–: side not measured)" in sections[3] and "NULL" not in sections[3]


def test_rerun_is_idempotent(analysed):
    bundle, _ = analysed
    before = (bundle / "hot_loops.csv").read_text()
    analyse_bundle(bundle, {TARGET: SOURCE})
    assert (bundle / "hot_loops.csv").read_text() == before
    assert len(list((bundle / "tables" / "hot_loops").glob("*.parquet"))) == 3


def test_corrupt_ops_part_is_skipped_with_a_note(tmp_path):
    bundle = make_bundle(tmp_path, STAMP, {"good": ("cpu", "float32", 320, "pass", 0.9999)})
    (bundle / "tables" / "ops" / "part-broken.parquet").write_bytes(b"PAR1 not parquet")
    sections = analyse_bundle(bundle, {TARGET: SOURCE})
    assert "skipped corrupt Parquet part" in sections[-1] and "part-broken.parquet" in sections[-1]


def test_empty_bundle(tmp_path):
    bundle = tmp_path / "c" / "p" / STAMP
    bundle.mkdir(parents=True)
    sections = analyse_bundle(bundle, {TARGET: SOURCE})
    assert "No evidence cells" in sections[0]
    assert (bundle / "hot_loops.csv").read_text().startswith("module,line,loop_id")


def test_gain_estimate():
    row = {
        "device": "cpu",
        "op_count": 100,
        "est_iterations": 50,
        "inclusive_us": 2000.0,
        "self_python_us": 300.0,
        "pct_of_run": 20.0,
        "cpu_us": 2000.0,
        "gpu_us": 0.0,
    }
    saved, share = estimate_gain(row)
    assert saved == pytest.approx(300 + 5 * 100 * (1 - 1 / 50))
    assert share == pytest.approx(saved / 10000)
    gpu = {**row, "device": "cuda:0", "cpu_us": 2000.0, "gpu_us": 100.0, "kernel_count": 100}
    assert estimate_gain(gpu)[0] == pytest.approx(1900.0)  # host time above the kernels
    # measured: the operators' fixed host cost in the trace, the run from the row
    measured = {**row, "host_fixed_us": 120.0, "run_us": 8000.0}
    saved, share = estimate_gain(measured)
    assert saved == pytest.approx(300 + 120 * (1 - 1 / 50))
    assert share == pytest.approx(saved / 8000)


def test_changed_source_is_reported(tmp_path):
    import json
    import shutil

    source = tmp_path / "src" / "synthetic_loops"
    shutil.copytree(SOURCE, source)
    bundle = make_bundle(
        tmp_path / "reports", STAMP, {"good": ("cpu", "float32", 320, "pass", 1.0)}
    )
    profile = bundle / "profile" / "device=cpu"
    profile.mkdir(parents=True)
    import hashlib

    sha = hashlib.sha1((source / "target.py").read_bytes()).hexdigest()
    (profile / "trace.capture.json").write_text(
        json.dumps({"sources": {"synthetic_loops/target.py": sha}})
    )
    assert "changed after" not in "".join(analyse_bundle(bundle, {TARGET: source}))
    (source / "target.py").write_text("# edited\n" + (source / "target.py").read_text())
    text = "".join(analyse_bundle(bundle, {TARGET: source}))
    assert "synthetic_loops/target.py changed after its trace was captured" in text
