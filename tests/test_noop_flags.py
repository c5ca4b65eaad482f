"""Flags that change nothing in nanoBragg's image: accepted, noted, never refused."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from simulator.flags import FlagError, noop_names, parse_flags, usage

BASE = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 24"

NOOP_USES = [
    ("-coherent", "note: -coherent:"),
    ("-printout", "note: -printout:"),
    (
        "-printout_pixel 3 4",
        "note: -printout_pixel: the port prints no per-pixel trace of pixel 3 4",
    ),
    ("-trace_pixel 5 6", "note: -trace_pixel: the port prints no per-pixel trace of pixel 5 6"),
    ("-dump_pixel 5 6", "note: -dump_pixel:"),
    ("-stol {stol}", "reading {stol}"),
    ("-4stol {stol}", "reading {stol}"),
    ("-Q {stol}", "reading {stol}"),
    ("-stolout out.stol", "note: -stolout:"),
    ("-dump my.bin", "note: -dump:"),
    ("-density 1.2", "note: -density:"),
    ("-sample_density 1.2", "note: -sample_density:"),
    ("-MW 20000", "note: -MW:"),
    ("-molecules 3", "note: -molecules:"),
    ("-source_distance 100", "note: -source_distance:"),
]


@pytest.fixture
def stol(tmp_path):
    path = tmp_path / "water.stol"
    path.write_text("0.1 2.57\n0.2 2.3\n0.3 1.9\n")
    return path


@pytest.mark.parametrize("use, note", NOOP_USES, ids=[u.split()[0] for u, _ in NOOP_USES])
def test_noop_flag_leaves_the_configuration_unchanged(use, note, stol):
    plain = parse_flags(BASE)
    cfg = parse_flags(f"{BASE} {use.format(stol=stol)}")
    assert dataclasses.replace(cfg, flags=()) == dataclasses.replace(plain, flags=())


def test_command_line_prints_one_line_per_noop_flag_and_renders(tmp_path, stol):
    uses = " ".join(u for u, _ in NOOP_USES).format(stol=stol)
    out = subprocess.run(
        [sys.executable, "-m", "simulator", *f"{BASE} {uses} -floatfile f.bin".split()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    for _, note in NOOP_USES:
        assert note.format(stol=stol) in out.stdout
    assert (tmp_path / "f.bin").stat().st_size == 24 * 24 * 4
    assert not (tmp_path / "out.stol").exists() and not (tmp_path / "my.bin").exists()


def _entries(text: str) -> list[str]:
    """Each flag's help entry (its lines joined): the flag, its description, ``also:`` names."""
    entries: list[str] = []
    for line in text.splitlines():
        if line.startswith("  -"):
            entries.append(line)
        elif line.startswith("    ") and entries:
            entries[-1] += " " + line.strip()
    return entries


def test_help_lists_every_noop_flag_as_such():
    text = usage(80)
    head, noops = text.split("flags that change nothing in the image")
    for name in noop_names():
        entry = next(e for e in _entries(noops) if name in e.replace(",", " ").split())
        assert "no effect on the image" in entry, entry
        assert name not in head.replace(",", " ").split()
    assert "-nointerpolate" in head and "-nointerpolate" not in noops


def test_an_unreadable_stol_table_is_refused_as_nanoBragg_does(tmp_path):
    with pytest.raises(FlagError, match=r"^-stol: cannot read .*nope.stol"):
        parse_flags(f"{BASE} -stol {tmp_path / 'nope.stol'}")
    empty = tmp_path / "empty.stol"
    empty.write_text("# nothing\n")
    with pytest.raises(FlagError, match="no data"):
        parse_flags(f"{BASE} -4stol {empty}")


@pytest.mark.parametrize(
    "use, message",
    [
        ("-printout_pixel 3", "-printout_pixel: expected 2 values"),
        ("-trace_pixel 3 x", "expected two pixel indices"),
        ("-density heavy", "expected a number"),
    ],
)
def test_malformed_values_of_noop_flags_are_one_line_errors(use, message):
    with pytest.raises(FlagError, match=message):
        parse_flags(f"{BASE} {use}")
