"""Faults and bad input on the query side, run for real (issue 12, items 3, 8, 11, 17, 18).

Damaged Parquet parts (magic bytes intact, footer or pages overwritten), SQL that would write
(EXPLAIN ANALYZE COPY onto a part, INSTALL, ...), a statement the parser let through on the
locked engine, the simulator CLI's flag arities and absent devices, the README's SQL examples
on a bundle with cold, warm and profiled rows, and the unit of ``farm parity``'s shells.
Each fault must give one clear line, the right exit code, and lose nothing else.
"""

from __future__ import annotations

import hashlib
import math
import re
import shlex
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import torch
from loop_bundles import SOURCE, TARGET, make_bundle
from typer.testing import CliRunner

import analysis.tables.catalog as catalog_module
from analysis.evidence import analyse_bundle
from analysis.parity import SHELL_SCALES, compare_images
from analysis.tables import RUNS
from analysis.tables.catalog import Catalog, CatalogError
from farm.cli import app
from simulator import parse_flags, resolve
from simulator.flags import FlagError, FlagSpec
from simulator.flags.table import SPECS
from simulator.reference.builtin import render_setup

ROOT = Path(__file__).resolve().parents[1]
STAMP = "20260103T000000Z"
BUNDLE = ("loops-test", "phase_b", STAMP)
runner = CliRunner()


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """One analysed bundle (cells good, bad, gpu); tests damage copies of it."""
    root = tmp_path_factory.mktemp("pristine")
    analyse_bundle(make_bundle(root, STAMP), {TARGET: SOURCE})
    return root


@pytest.fixture
def reports(pristine, tmp_path) -> Path:
    root = tmp_path / "reports"
    shutil.copytree(pristine, root)
    return root


def part(root: Path, table: str, cell: str = "good") -> Path:
    return root.joinpath(*BUNDLE, "tables", table, f"part-{cell}.parquet")


def damage(path: Path, where: str) -> None:
    """Overwrite ``path``'s footer, or every page, with 0xFF; the magic bytes stay intact."""
    data = bytearray(path.read_bytes())
    (footer,) = struct.unpack("<I", data[-8:-4])
    start, end = len(data) - 8 - footer, len(data) - 8
    if where == "pages":
        start, end = 4, start
    data[start:end] = b"\xff" * (end - start)
    path.write_bytes(bytes(data))


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def one_warning(stderr: str, path: Path, what: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("warning: skipping corrupt")]
    assert len(lines) == 1, stderr
    assert str(path) in lines[0] and what in lines[0], lines[0]


# -- item 3: a damaged part costs only itself ----------------------------------------------------


def test_damaged_footer_costs_only_its_own_rows(reports):
    bad = part(reports, "runs")
    damage(bad, "footer")
    r = run("sql", "SELECT count(*) AS n FROM runs", "--reports", str(reports), "--csv")
    assert r.exit_code == 0, r.output
    assert r.stdout == "n\n2\n"  # cells bad and gpu
    one_warning(r.stderr, bad, "DuckDB cannot decode its footer")
    # the other tables answer in full, as they did before the damage
    r = run("sql", "SELECT count(*) AS n FROM correlations", "--reports", str(reports), "--csv")
    assert r.exit_code == 0 and r.stdout == "n\n3\n", r.output


def test_damaged_pages_cost_only_their_own_rows(reports, pristine):
    bad = part(reports, "ops")
    damage(bad, "pages")
    intact = [pq.read_table(part(pristine, "ops", cell)) for cell in ("bad", "gpu")]
    expected = sum(pc.sum(t["dur_us"]).as_py() for t in intact)
    rows = sum(t.num_rows for t in intact)
    r = run("sql", "SELECT count(*) AS n, sum(dur_us) AS us FROM ops", "--reports", str(reports),
            "--csv")  # fmt: skip
    assert r.exit_code == 0, r.output
    n, us = r.stdout.splitlines()[1].split(",")
    assert int(n) == rows and float(us) == pytest.approx(expected)
    one_warning(r.stderr, bad, "DuckDB cannot decode its pages")


def test_rank_survives_a_damaged_hot_loops_part(reports):
    bad = part(reports, "hot_loops")
    damage(bad, "pages")
    r = run("rank", "--reports", str(reports), "--csv")
    assert r.exit_code == 0, r.output
    devices = {line.split(",")[1] for line in r.stdout.splitlines()[1:]}
    assert devices == {"cuda:0"}  # the damaged cpu cell is gone, the gpu cell is ranked
    one_warning(r.stderr, bad, "its pages")


def test_every_damaged_part_is_found_and_the_rest_answers(reports):
    bad = [part(reports, "ops", "good"), part(reports, "ops", "gpu")]
    damage(bad[0], "pages")
    damage(bad[1], "footer")
    warnings: list[str] = []
    with Catalog(reports, warn=warnings.append) as cat:
        n = cat.query("SELECT count(DISTINCT cell_id) AS cells, min(cell_id) AS c FROM ops").rows
    assert n == [(1, "bad")]
    named = [re.match(r"warning: skipping corrupt Parquet part (\S+): ", w) for w in warnings]
    assert sorted(m.group(1) for m in named) == sorted(map(str, bad)), warnings


def test_a_footer_length_past_the_file_is_skipped_at_open(reports):
    bad = part(reports, "correlations")
    data = bytearray(bad.read_bytes())
    data[-8:-4] = struct.pack("<I", len(data) * 4)
    bad.write_bytes(bytes(data))
    with Catalog(reports) as cat:
        assert cat.query("SELECT count(*) FROM correlations").rows == [(2,)]
    assert len(cat.warnings) == 1 and "does not fit in a file of" in cat.warnings[0]


def test_a_bad_statement_blames_no_part(reports):
    with Catalog(reports) as cat:
        with pytest.raises(CatalogError, match="nope"):
            cat.query("SELECT nope FROM ops")
        with pytest.raises(CatalogError, match="Could not convert string"):
            cat.query("SELECT CAST(cell_id AS INTEGER) FROM runs")
    assert cat.warnings == []


# -- item 8: farm sql is read-only for real ------------------------------------------------------


def test_explain_analyze_copy_onto_a_part_is_refused_and_writes_nothing(reports):
    target = part(reports, "runs")
    before = tree_digest(reports)
    forged = (
        f"EXPLAIN ANALYZE COPY (SELECT * REPLACE ('forged' AS cell_tag) FROM runs) "
        f"TO '{target}' (FORMAT parquet)"
    )
    r = run("sql", forged, "--reports", str(reports))
    assert r.exit_code == 2
    assert r.stderr.startswith("error: farm sql is read-only: EXPLAIN ANALYZE COPY statements")
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""
    assert tree_digest(reports) == before


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("INSTALL httpfs", "INSTALL"),
        ("FORCE INSTALL httpfs", "FORCE INSTALL"),
        ("LOAD httpfs", "LOAD"),
        (
            "/* x */ EXPLAIN /* y */ ANALYZE (FORMAT json) INSERT INTO runs SELECT * FROM runs",
            "EXPLAIN ANALYZE INSERT",
        ),
        ("EXPLAIN COPY runs TO 'out.csv'", "EXPLAIN COPY"),
        ("WITH x AS (SELECT 1) DELETE FROM runs", "DELETE"),
        ("EXPORT DATABASE 'dump'", "EXPORT"),
        ("PIVOT runs ON device", "PIVOT"),
        ("SET enable_external_access = true", "SET"),
        ("CALL pragma_version()", "CALL"),
    ],
)
def test_writing_statements_are_refused_by_name(reports, sql, name):
    before = tree_digest(reports)
    r = run("sql", sql, "--reports", str(reports))
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"error: farm sql is read-only: {name} statements are refused")
    assert len(r.stderr.strip().splitlines()) == 1
    assert tree_digest(reports) == before


@pytest.mark.parametrize(
    "sql",
    [
        "EXPLAIN ANALYZE SELECT count(*) FROM runs",
        "EXPLAIN (SELECT 1)",
        "DESCRIBE hot_loops",
        "SUMMARIZE correlations",
        "FROM runs SELECT cell_id",
    ],
)
def test_reading_statements_run(reports, sql):
    r = run("sql", sql, "--reports", str(reports), "--csv")
    assert r.exit_code == 0, r.output


def test_the_locked_engine_stops_a_statement_the_parser_let_through(reports, monkeypatch, tmp_path):
    """As if the parser had missed a statement: the engine itself refuses to write or read."""
    monkeypatch.setattr(catalog_module, "check_read_only", lambda sql: None)
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    before = tree_digest(reports)
    forged = reports.joinpath(*BUNDLE, "tables", "runs", "part-forged.parquet")
    with Catalog(reports) as cat:
        for sql, message in [
            (f"COPY (SELECT * FROM runs) TO '{forged}' (FORMAT parquet)", "Cannot access"),
            (f"EXPORT DATABASE '{tmp_path / 'dump'}'", "Cannot access"),
            (f"ATTACH '{reports / 'x.duckdb'}' AS x", "Cannot access"),
            ("INSTALL httpfs", "Cannot access"),
            (f"SELECT * FROM read_csv('{outside}')", "farm sql opens only the parts"),
            ("SET enable_external_access = true", "configuration has been locked"),
            ("SET allowed_directories = ['/']", "configuration has been locked"),
        ]:
            with pytest.raises(CatalogError, match=message):
                cat.query(sql)
        assert cat.query("SELECT count(*) FROM runs").rows == [(3,)]  # it still reads its parts
    assert tree_digest(reports) == before and not (tmp_path / "dump").exists()


def test_read_folders_are_the_only_other_files_sql_may_read(reports, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.csv").write_text("cell_id,note\ngood,checked by hand\n")
    sql = (
        f"SELECT r.cell_id, n.note FROM runs r JOIN read_csv('{mine / 'notes.csv'}') n "
        "USING (cell_id)"
    )
    r = run("sql", sql, "--reports", str(reports), "--csv")
    assert r.exit_code == 2 and "farm sql opens only the parts under --reports" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run("sql", sql, "--reports", str(reports), "--csv", "--read", str(mine))
    assert r.exit_code == 0, r.output
    assert r.stdout == "cell_id,note\ngood,checked by hand\n"
    r = run("sql", "SELECT 1", "--reports", str(reports), "--read", str(tmp_path / "none"))
    assert r.exit_code == 2 and "--read" in r.stderr and "not a folder" in r.stderr


# -- item 11: the simulator's flags take exactly their values -----------------------------------

BASE = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 24"
MULTI = [spec for spec in SPECS if spec.counts not in ((0,), (1,))]


def test_every_flag_declares_an_exact_arity():
    assert {spec.names[0] for spec in MULTI} >= {"-cell", "-misset", "-roi", "-fdet_vector"}
    with pytest.raises(ValueError, match="nargs must be counts"):
        FlagSpec(("-x",), -1, lambda state, flag, args: None, "")


@pytest.mark.parametrize("spec", MULTI, ids=lambda spec: spec.names[0])
def test_multi_value_flags_refuse_a_value_too_few_or_too_many(spec):
    flag = spec.names[0].rstrip("*")
    for n in sorted({max(spec.counts) + 1, *(k - 1 for k in spec.counts if k > 1)}):
        if n in spec.counts:
            continue
        values = " ".join(["1"] * n)
        with pytest.raises(FlagError) as err:
            parse_flags(f"{BASE} {flag} {values} -nopolar")
        text = str(err.value)
        assert text.startswith(f"{flag}: expected ") and f"got {n}: " in text, text
        assert "\n" not in text


def _simulator(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.mark.parametrize("cell", ["100 100 100 90 90", "100 100"])
def test_simulator_cli_refuses_a_short_cell(tmp_path, cell):
    flags = BASE.replace("-cell 100 100 100 90 90 90", f"-cell {cell}")
    out = _simulator(*shlex.split(flags), "-floatfile", "f.bin", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"error: -cell: expected 6 or 3 values (a b c alpha beta gamma (Å, deg), or a b c at 90°), "
        f"got {len(cell.split())}: {cell}"
    )
    assert list(tmp_path.iterdir()) == []  # nothing rendered, nothing written


def test_three_cell_lengths_keep_the_c_programs_right_angles():
    from simulator import parse_flags

    short = parse_flags(BASE.replace("-cell 100 100 100 90 90 90", "-cell 100 100 100"))
    assert short.crystal.cell == (100.0, 100.0, 100.0, 90.0, 90.0, 90.0)
    assert short == parse_flags(BASE).replace(flags=short.flags)


def test_simulator_cli_absent_device_is_one_line_exit_2(tmp_path):
    absent = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"
    out = _simulator(*shlex.split(BASE), "--device", absent, "-floatfile", "f.bin", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"error: device '{absent}': ") and out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr and list(tmp_path.iterdir()) == []


def test_simulator_help_lists_the_engine_options(tmp_path):
    out = _simulator("-help", cwd=tmp_path)
    assert out.returncode == 0
    assert re.search(r"^\s+--device DEVICE\s+torch device", out.stdout, re.M)
    assert re.search(r"^\s+--dtype DTYPE\s+float32", out.stdout, re.M)


# -- item 17: the README's SQL examples, on a bundle with cold, warm and profiled rows ----------


def _readme_sql() -> list[tuple[list[str], str]]:
    """(farm sql options, SQL) of every `farm sql` example in the README."""
    text = (ROOT / "README.md").read_text()
    out = []
    for line in text.splitlines():
        if m := re.match(r'^farm sql ((?:--\w+ \S+ |--\w+ )*)"(.+?)"', line):
            out.append((m.group(1).split(), m.group(2)))
        elif m := re.match(r'^echo "(.+?)" \| farm sql ?(.*)$', line):
            out.append((m.group(2).split(), m.group(1)))
    return out


def test_readme_sql_examples_answer_what_they_say(reports, tmp_path):
    # as a sweep writes them: one runs row per render (cold, three warm, profiled) per cell
    for cell in ("good", "bad", "gpu"):
        path = part(reports, "runs", cell)
        row = pq.read_table(path).to_pylist()[0]
        renders = [("cold", 0), ("warm", 0), ("warm", 1), ("warm", 2), ("profiled", 0)]
        rows = [{**row, "phase": p, "iteration": i} for p, i in renders]
        pq.write_table(pa.Table.from_pylist(rows, schema=RUNS), path)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "cells.csv").write_text("cell_id,note\ngood,ok\n")
    examples = _readme_sql()
    assert len(examples) >= 6, examples
    for options, sql in examples:
        options = [str(notes) if o == "~/notes" else o for o in options]
        sql = sql.replace("~/notes", str(notes))
        r = run("sql", sql, *options, "--reports", str(reports))
        if sql.startswith("DELETE"):
            assert r.exit_code == 2 and "DELETE statements are refused" in r.stderr
            continue
        assert r.exit_code == 0, (sql, r.output)
        if "AS cells" in sql:  # three cells, not fifteen rows
            r = run("sql", sql, "--reports", str(reports), "--csv")
            lines = r.stdout.splitlines()
            assert lines[0] == "stamp,device,cells"
            assert sorted(lines[1:]) == [f"{STAMP},cpu,2", f"{STAMP},cuda:0,1"]


# -- item 18: farm parity's shells say the unit they print --------------------------------------


def test_parity_shells_are_headed_by_the_unit_they_print():
    flags = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 48"
    r = runner.invoke(app, ["parity", "--dtype", "float64", "--", *flags.split()])
    assert r.exit_code == 0, r.output
    assert "twotheta_rad" not in r.output and "of 2θ (deg)" in r.output
    setup = resolve(parse_flags(flags))
    image = render_setup(setup)
    report = compare_images(image, image, setup=setup)
    first = report.shells[0]
    shown = f"{math.degrees(first.inner):.2f}-{math.degrees(first.outer):.2f}"
    assert SHELL_SCALES[report.shell_unit].span(first) == shown
    assert shown in r.output and first.outer < 0.1  # radians stored, degrees shown
