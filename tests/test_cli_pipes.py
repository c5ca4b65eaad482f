"""A reader that goes away (``farm inventory | head -3``) ends a command quietly, exit 0."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys

import pytest
import typer

from farm.cli.pipes import until_reader_leaves

FARM = [sys.executable, "-m", "farm"]


def _into_a_closed_pipe(argv: list[str], cwd) -> subprocess.CompletedProcess:
    """Run with stdout a pipe whose reader has already gone: the first write breaks."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(argv, stdout=write, stderr=subprocess.PIPE, text=True, cwd=cwd)
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [
        ["inventory", "simulator"],
        ["inventory", "simulator", "--csv"],
        ["--help"],
        ["rank", "--help"],
        ["sql", "SELECT range AS n FROM range(100000)", "--csv"],
    ],
    ids=["table", "csv", "farm-help", "command-help", "sql"],
)
def test_a_reader_that_went_away_is_no_error(args, tmp_path):
    if args[0] == "sql":
        args = [*args, "--reports", str(tmp_path)]
    out = _into_a_closed_pipe([*FARM, *args], cwd=os.getcwd())
    assert (out.returncode, out.stderr) == (0, "")


@pytest.mark.skipif(shutil.which("head") is None, reason="no head here")
def test_farm_piped_into_head(tmp_path):
    out = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{sys.executable} -m farm inventory --wide | head -3"],
        capture_output=True,
        text=True,
    )
    assert (out.returncode, out.stderr) == (0, "")
    assert len(out.stdout.splitlines()) == 3


class _GoneReader(io.StringIO):
    """stdout whose reader has gone: every flush breaks the pipe."""

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_status_already_chosen_is_kept(monkeypatch):
    monkeypatch.setattr(sys, "stdout", _GoneReader())

    def regression() -> None:
        print("REGRESSION cell: warm_s")
        raise typer.Exit(1)

    with pytest.raises(typer.Exit) as stopped:
        until_reader_leaves(regression)
    assert stopped.value.exit_code == 1  # compare's verdict, though nobody read it

    def long_table() -> None:
        sys.stdout.flush()

    with pytest.raises(typer.Exit) as stopped:
        until_reader_leaves(long_table)
    assert stopped.value.exit_code == 0


def test_simulator_help_into_a_closed_pipe(tmp_path):
    out = _into_a_closed_pipe([sys.executable, "-m", "simulator", "-help"], cwd=tmp_path)
    assert (out.returncode, out.stderr) == (0, "")
