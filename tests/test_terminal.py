"""The terminal: tables that fit 80 columns (and --wide), Ray's warnings kept off the console,
a progress bar that ends in a final state.
"""

from __future__ import annotations

import logging

import pytest
from typer.testing import CliRunner

from analysis.plurals import counted
from farm.cli import app
from farm.cli.fit import fit
from farm.cli.rows import table_texts
from farm.driver.ray_log import ray_log


def _run(argv: list[str], columns: int = 80):
    result = CliRunner().invoke(app, argv, env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("command", ["rank", "hotspots", "inventory", "sql"])
def test_tables_fit_80_columns_and_wide_shows_everything(report_sweep, command):
    reports = str(report_sweep["reports"])
    argv = {
        "rank": ["rank", report_sweep["bundle"].name, "--reports", reports],
        "hotspots": ["hotspots", report_sweep["bundle"].name, "--reports", reports],
        "inventory": ["inventory", "simulator"],
        "sql": ["sql", "SELECT * FROM runs", "--reports", reports],
    }[command]
    out = _run(argv)
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "--wide shows every column" in " ".join(out.split())
    wide = _run([*argv, "--wide"])
    assert "--wide" not in wide
    assert max(len(line) for line in wide.splitlines()) > 80
    assert ("loop_id" in wide) or command == "sql"


def test_rank_keeps_what_tells_rows_apart(report_sweep):
    out = _run(["rank", report_sweep["bundle"].name, "--reports", str(report_sweep["reports"])])
    header = next(line for line in out.splitlines() if line.startswith("rank"))
    assert header.split()[:4] == ["rank", "device", "dtype", "pct_of_run"] or all(
        c in header for c in ("rank", "device", "dtype", "pct_of_run", "module", "line")
    )
    assert "(module: paths below tests/)" in out  # a shared folder said once, not per row
    assert "refused as evidence (1 cell):" in out


def test_fit_keeps_the_most_important_columns_in_display_order():
    columns = ["a", "long", "b", "c"]
    rows = [["1", "x" * 60, "2", "3"]]
    f = fit(columns, rows, 33, importance=["c", "a", "long", "b"])
    assert f.columns == ["a", "long", "c"]  # kept in display order; b no longer fits
    assert f.notes == ["hidden to fit 33 columns: b (--wide shows every column)"]
    squeezed = fit(columns, rows, 20, importance=["c", "a", "b", "long"])
    assert squeezed.columns == columns  # the first that does not fit takes what is left
    paths = fit(["module"], [["pkg/sub/a.py"], ["pkg/sub/b.py"]], 80, importance=["module"])
    assert paths.rows == [["a.py"], ["b.py"]] and paths.notes == ["module: paths below pkg/sub/"]
    wide = fit(columns, rows, 40, importance=["c"], wide=True)
    assert wide.columns == columns and wide.width > 40 and wide.notes == []


def test_ray_warnings_go_to_the_bundle_log_not_the_console(capsys):
    with ray_log() as captured:
        logging.getLogger("ray").handlers = []  # what ray.init does to Ray's console handler
        logging.getLogger("ray._private.authentication").warning(
            "Token authentication is enabled for this Ray cluster."
        )
        logging.getLogger("somebody.else").warning("not Ray's")  # not kept: passed on
    lines = captured.take()
    assert lines == [
        "warning: Token authentication is enabled for this Ray cluster. "
        "(ray._private.authentication)"
    ]
    assert "Token authentication" not in capsys.readouterr().err


def test_the_progress_ends_in_a_final_state(report_sweep):
    last = report_sweep["progress"][-1]
    assert last["stage"] == "done" and last["running"] == 0
    assert last["done"] == last["total"] == 8 and last["last"] == "report.html written"
    stages = [p["stage"] for p in report_sweep["progress"]]
    assert stages.index("cells") < stages.index("report.html") < stages.index("done")


def test_numbers_take_one_format_per_column():
    rows = [(1, 95.3, "a", None, 1e-5), (2, 93.02, "b", 2.5, 3.0), (3, None, "c", 1.25, 7.0)]
    assert table_texts(rows) == [
        ["1", "95.30", "a", "", "1.000e-05"],
        ["2", "93.02", "b", "2.50", "3.000e+00"],
        ["3", "", "c", "1.25", "7.000e+00"],
    ]


def test_counts_are_said_in_the_singular_or_the_plural():
    assert [counted(n, "cell") for n in (0, 1, 2)] == ["0 cells", "1 cell", "2 cells"]
    assert counted(1, "other sweep") == "1 other sweep"
    assert counted(3, "series", "series") == "3 series"
