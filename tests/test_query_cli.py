"""The query commands through the CLI: farm sql, farm rank, farm hotspots, farm inventory."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from loop_bundles import SOURCE, TARGET, make_bundle
from typer.testing import CliRunner

from analysis.evidence import analyse_bundle
from farm.cli import app

OLD, NEW = "20260101T000000Z", "20260102T000000Z"
runner = CliRunner()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Two analysed bundles; the older one's hot_loops part is written in schema 1."""
    root = tmp_path_factory.mktemp("reports")
    for stamp in (OLD, NEW):
        analyse_bundle(make_bundle(root, stamp), {TARGET: SOURCE})
    # rewrite one old part without the columns schema 2 added
    part = root / "loops-test" / "phase_b" / OLD / "tables" / "hot_loops" / "part-good.parquet"
    v2_only = {"target", "function", "kind", "kernel_count", "instr_us", "callsite_method"}
    table = pq.read_table(part)
    pq.write_table(table.drop_columns(sorted(v2_only)), part)
    return root


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin)


def test_sql_csv(reports):
    r = run(
        "sql",
        "SELECT stamp, count(*) AS n FROM runs GROUP BY stamp ORDER BY stamp",
        "--reports",
        str(reports),
        "--csv",
    )
    assert r.exit_code == 0, r.output
    assert r.stdout == f"stamp,n\n{OLD},3\n{NEW},3\n"


def test_sql_json_from_stdin(reports):
    r = run(
        "sql",
        "--reports",
        str(reports),
        "--json",
        stdin="SELECT cell_id, verdict FROM correlations WHERE stamp = '20260102T000000Z' "
        "ORDER BY cell_id",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [
        {"cell_id": "bad", "verdict": "fail"},
        {"cell_id": "good", "verdict": "pass"},
        {"cell_id": "gpu", "verdict": "pass"},
    ]


def test_sql_table(reports):
    r = run("sql", "SELECT count(*) AS loops FROM loops", "--reports", str(reports))
    assert r.exit_code == 0, r.output
    assert "loops" in r.stdout and "(1 row)" in r.stdout


def test_views_union_old_and_new_schemas(reports):
    r = run(
        "sql",
        "SELECT stamp, count(*) AS n, count(kernel_count) AS with_kernels "
        "FROM hot_loops WHERE cell_id = 'good' GROUP BY stamp ORDER BY stamp",
        "--reports",
        str(reports),
        "--csv",
    )
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    old, new = lines[1].split(","), lines[2].split(",")
    assert old[0] == OLD and int(old[2]) == 0 < int(old[1])  # NULL in the old part
    assert new[0] == NEW and int(new[2]) == int(new[1])


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DROP VIEW runs", "read-only: DROP statements are refused"),
        ("INSERT INTO runs (stamp) VALUES ('x')", "read-only: INSERT statements are refused"),
        ("COPY runs TO 'out.csv'", "read-only: COPY statements are refused"),
        ("ATTACH 'other.db'", "read-only: ATTACH statements are refused"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
        ("SELECT nope FROM runs", "nope"),
        ("SELEKT 1", "syntax error"),
        ("", "no SQL given"),
    ],
)
def test_sql_bad_input_is_one_clear_error(reports, sql, message):
    r = run("sql", sql, "--reports", str(reports))
    assert r.exit_code == 2
    assert r.stderr.startswith("error: ") and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""


def test_missing_reports_folder(tmp_path):
    r = run("sql", "SELECT 1", "--reports", str(tmp_path / "nope"))
    assert r.exit_code == 2 and "no such folder" in r.stderr


def test_corrupt_part_is_skipped_with_a_warning(reports, tmp_path):
    import shutil

    root = tmp_path / "r"
    shutil.copytree(reports, root)
    bad = root / "loops-test" / "phase_b" / NEW / "tables" / "runs" / "part-zzz.parquet"
    bad.write_bytes(b"PAR1 this is not parquet PAR1")
    r = run("sql", "SELECT count(*) AS n FROM runs", "--reports", str(root), "--csv")
    assert r.exit_code == 0, r.output
    assert r.stdout == "n\n6\n"
    assert "skipping corrupt Parquet part" in r.stderr and "part-zzz.parquet" in r.stderr


def test_rank(reports):
    r = run("rank", "--reports", str(reports), "--csv", "--top", "3")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    header = lines[0].split(",")
    assert header[:3] == ["rank", "device", "dtype"]
    rows = [dict(zip(header, ln.split(","), strict=True)) for ln in lines[1:]]
    assert {(x["device"], x["dtype"]) for x in rows} == {("cpu", "float32"), ("cuda:0", "float32")}
    assert [x["rank"] for x in rows if x["device"] == "cpu"] == ["1", "2", "3"]
    pcts = [float(x["pct_of_run"]) for x in rows if x["device"] == "cpu"]
    assert pcts == sorted(pcts, reverse=True)
    assert all(x["module"] == "synthetic_loops/target.py" for x in rows)
    # the failed cell is refused with its reason (stderr: CSV stays clean)
    assert "refused as evidence (1 cell)" in r.stderr
    assert re.search(r"bad cpu float64 size 320: correlation 0\.721000", r.stderr)


def test_rank_device_and_stamp(reports):
    r = run("rank", OLD, "--device", "cuda", "--reports", str(reports), "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows and {x["device"] for x in rows} == {"cuda:0"}
    r = run("rank", "20990101T000000Z", "--reports", str(reports))
    assert r.exit_code == 2 and "no loop data for stamp" in r.stderr


def test_rank_names_the_filter_that_emptied_it(reports):
    r = run("rank", OLD, "--device", "cuda", "--dtype", "float64", "--reports", str(reports))
    assert r.exit_code == 2
    assert r.stderr.strip() == (
        f"error: stamp {OLD} has loop data, but none for --device cuda --dtype float64 (it "
        "has: cpu float32, cpu float64, cuda:0 float32)"
    )
    r = run("rank", OLD, "--device", "tpu", "--reports", str(reports))
    assert r.exit_code == 2 and "but none for --device tpu (it has: " in r.stderr


def test_rank_table_lists_refused_cells(reports):
    r = run("rank", "--reports", str(reports), "--top", "1")
    assert r.exit_code == 0, r.output
    assert "Residual Python loops" in r.stdout
    words = " ".join(r.stdout.split())  # the reason wraps in a narrow terminal (COLUMNS=80)
    assert "refused as evidence" in words and "failed the parity gate" in words


def test_rank_show_sql(reports):
    r = run("rank", "--show-sql", "--device", "cpu")
    assert r.exit_code == 0
    assert "-- $device = 'cpu'" in r.stdout and "WITH stamp_rows AS" in r.stdout
    assert "no stamp given: farm binds the newest" in r.stdout
    assert "QUALIFY rank <= $top" in r.stdout and "refused as evidence" in r.stdout


def test_rank_bad_top(reports):
    r = run("rank", "--top", "0", "--reports", str(reports))
    assert r.exit_code == 2


def test_hotspots(reports):
    r = run("hotspots", "--reports", str(reports), "--csv", "--top", "4")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    header = lines[0].split(",")
    assert {"cpu_pct", "gpu_pct", "cpu_ops", "gpu_ops", "gpu_kernels", "flag"} <= set(header)
    assert len(lines) == 5
    first = dict(zip(header, lines[1].split(","), strict=True))
    assert first["flag"] == "hot on both" and float(first["cpu_pct"]) > 50
    r = run("hotspots", "--show-sql", "--hot", "2")
    assert r.exit_code == 0 and "-- $hot = 2.0" in r.stdout and "hot on GPU only" in r.stdout


def test_inventory_command():
    r = run("inventory", str(SOURCE), "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert {x["kind"] for x in rows} == {"for", "while", "comprehension"}
    assert all(x["module"].startswith("synthetic_loops/") for x in rows)
    r = run("inventory", "no_such_package_xyz")
    assert r.exit_code == 2 and "not found" in r.stderr


@pytest.mark.parametrize("command", ["sql", "rank", "hotspots", "inventory"])
def test_every_command_is_documented_with_an_example(command):
    r = run(command, "--help")
    assert r.exit_code == 0
    assert "Example" in r.stdout and f"farm {command}" in r.stdout


def test_sql_help_names_every_view_and_no_python_type():
    from analysis.tables.schema import TABLES

    r = run("sql", "--help")
    words = " ".join(r.stdout.replace("│", " ").split())
    assert all(name in words for name in TABLES), words
    assert "--read DIR" in words and "list[" not in words


def test_views_exist_when_empty(tmp_path):
    r = run("sql", "SELECT count(*) AS n FROM hot_loops", "--reports", str(tmp_path), "--csv")
    assert r.exit_code == 0 and r.stdout == "n\n0\n"


def test_catalog_tables_keep_schema_columns():
    from analysis.tables.catalog import Catalog

    with Catalog(None, tables={"runs": pa.table({"stamp": ["s"], "cell_id": ["c"]})}) as cat:
        result = cat.query("SELECT stamp, target FROM runs")
    assert result.rows == [("s", None)]
