"""Every command's help at 80 and 120 columns: it fits, prose is filled, examples stay whole,
no flag shows a type (``--csv <bool>``); ``python -m simulator -help`` fits the terminal too.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys

import pytest
import typer.main
from typer.testing import CliRunner

from farm.cli import app
from farm.cli.help_format import reflow
from simulator.flags import usage

COMMANDS = sorted(typer.main.get_command(app).commands)
#: A type as typer shows it: ``<bool>``, ``<path>``, ``<int range>``, ``<list[Path]>``...
TYPE = re.compile(r"<(?:bool|str|int|float|path|file|dir|uuid|choice|datetime|list\[.*?\])")
TYPE_RANGE = re.compile(r"<(?:int|float) range>")


def _help(argv: list[str], width: int) -> str:
    result = CliRunner().invoke(app, [*argv, "--help"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout


def _description(text: str) -> list[str]:
    """The help text above the first panel, without its one-space margin."""
    lines = text.splitlines()
    end = next((i for i, line in enumerate(lines) if line.startswith("╭")), len(lines))
    return [line[1:].rstrip() for line in lines[:end]]


def _literal_lines(argv: list[str]) -> list[str]:
    """The indented lines (examples) of a command's help text, as written."""
    group = typer.main.get_command(app)
    command = group if not argv else group.commands[argv[0]]
    return [line.strip() for line in (command.help or "").splitlines() if line[:1].isspace()]


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_fits_is_filled_and_shows_no_flag_type(command, width):
    argv = [command] if command else []
    text = _help(argv, width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert not TYPE.search(text) and not TYPE_RANGE.search(text), text
    # prose is filled: no line ends where the next line's first word would still have fitted
    lines = _description(text)
    room = width - 2  # rich's margin, one column each side
    for line, after in itertools.pairwise(lines):
        if line and after and not line.startswith(" ") and not after.startswith(" "):
            if line.startswith("Usage:"):
                continue
            assert len(line) + 1 + len(after.split()[0]) > room, f"ragged:\n{line}\n{after}"
    # examples are literal: each one a whole line of its own, never joined or wrapped
    shown = [line.strip() for line in lines]
    for literal in _literal_lines(argv):
        assert literal in shown, f"{literal!r} not kept whole in:\n{text}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_an_example(command):
    assert any(line.startswith("farm ") for line in _literal_lines([command])), command


def test_value_options_name_their_value():
    words = " ".join(_help(["rank"], 120).replace("│", " ").split())
    for option in ("--reports DIR", "--top N", "--by GRAIN", "--device DEVICE", "--dtype DTYPE"):
        assert option in words, option
    assert "--csv Print CSV." in words and "[STAMP]" in words  # a flag takes no value
    assert "--progress --no-progress Show a progress bar." in " ".join(
        _help(["sweep"], 120).replace("│", " ").split()
    )


def test_reflow_joins_prose_and_keeps_examples():
    doc = """Summary line.

    A paragraph wrapped
    at some width, then more.

    Example:
        farm a --x 1
        farm b \\
            --y 2
    """
    first, _, rest = reflow(doc).partition("\n\n\n")
    assert first == "Summary line."
    assert rest.split("\n\n") == [
        "A paragraph wrapped at some width, then more.",
        "Example:\n    farm a --x 1\n    farm b \\\n        --y 2",
    ]
    assert reflow("Only a summary\nin two lines.") == "Only a summary in two lines."


@pytest.mark.parametrize("width", [80, 120])
def test_simulator_help_fits_the_terminal(width):
    text = usage(width)
    assert max(len(line) for line in text.splitlines()) <= width
    # a flag's synonyms follow it on their own line; its description keeps its column
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.split()[:1] == ["-xtalsize"])
    assert lines[i + 1].split() == ["also:", "-xtal_size,", "-samplesize,", "-sample_size"]
    assert lines[i].index("crystal size") == lines[i + 1].index("also:")


def test_simulator_help_reads_the_terminal_width(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "simulator", "-help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert out.returncode == 0, out.stderr
    assert max(len(line) for line in out.stdout.splitlines()) <= 80
    assert "--device DEVICE" in out.stdout and "-oversample_omega" in out.stdout
