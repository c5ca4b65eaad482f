"""nanoBragg flags that change nothing in the image: accepted, never refused.

Each is read with the values the C program reads for it and checked the way the C program
checks it (``-stol FILE`` must be readable: nanoBragg stops when it is not). What the port
prints for each is :func:`noop_notes`: the C program's own line where it prints one, else
a one-line note saying why nothing is printed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.flags.table import FlagError, FlagSpec, State


@dataclass(frozen=True)
class NoOp:
    """A flag with no effect on the image: its spellings, values and what to print."""

    names: tuple[str, ...]
    values: str  # "" (a switch), "file", "number", "pixel" (two integers)
    note: str  # printed after the flag; "{value}" is the first value
    help: str


NOOPS: tuple[NoOp, ...] = (
    NoOp(
        ("-coherent",),
        "",
        "note: -coherent: nanoBragg reads it and never uses it; the image is unchanged",
        "coherent sources",
    ),
    NoOp(
        ("-printout",),
        "",
        "note: -printout: the port prints no per-pixel trace (nanoBragg prints one per pixel)",
        "print a trace of every pixel",
    ),
    NoOp(
        ("-printout_pixel",),
        "pixel",
        "note: -printout_pixel: the port prints no per-pixel trace of pixel {value}",
        "fpixel spixel: the one pixel -printout traces",
    ),
    NoOp(
        ("-trace_pixel", "-dump_pixel"),
        "pixel",
        "note: {flag}: the port prints no per-pixel trace of pixel {value}",
        "spixel fpixel: trace one pixel (instrumented builds)",
    ),
    NoOp(
        ("-stol", "-4stol", "-Q"),
        "file",
        "reading {value}",
        "F(stol) table of an amorphous background: read, unused",
    ),
    NoOp(
        ("-stolout",),
        "file",
        "note: -stolout: nanoBragg never writes this file, nor does the port",
        "stol table to write: never written",
    ),
    NoOp(
        ("-dump",),
        "file",
        "note: -dump: the port writes no Fdump file (nanoBragg writes its HKL grid there)",
        "file for the HKL grid cache",
    ),
    NoOp(
        ("-density", "-sample_den*"),
        "number",
        "note: {flag}: nanoBragg overwrites it before use; the image is unchanged",
        "sample density, g/cm³",
    ),
    NoOp(
        ("-MW", "-molec*"),
        "number",
        "note: {flag}: nanoBragg overwrites it before use; the image is unchanged",
        "molecular weight",
    ),
    NoOp(
        ("-source_dist*",),
        "number",
        "note: {flag}: nanoBragg ignores it (sources are 10 m away); the image is unchanged",
        "source distance, mm",
    ),
)

_NARGS = {"": 0, "file": 1, "number": 1, "pixel": 2}


def _check(noop: NoOp):
    def apply(state: State, flag: str, args: list[str]) -> None:
        if noop.values == "number":
            try:
                value = float(args[0])
            except ValueError:
                raise FlagError(f"{flag}: expected a number, got {args[0]!r}") from None
            if math.isnan(value):
                raise FlagError(f"{flag}: expected a number, got {args[0]!r}")
        elif noop.values == "pixel":
            for token in args:
                try:
                    int(token)
                except ValueError:
                    raise FlagError(f"{flag}: expected two pixel indices, got {token!r}") from None
        elif noop.values == "file" and flag in ("-stol", "-4stol", "-Q"):
            _readable_table(flag, args[0])

    return apply


def _readable_table(flag: str, path: str) -> None:
    """nanoBragg stops when a ``-stol`` table is missing or holds no numbers."""
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError as exc:
        raise FlagError(f"{flag}: cannot read {path}: {exc.strerror}") from None
    for line in text.splitlines():
        fields = line.split()
        try:
            if fields and float(fields[0]) == float(fields[0]):
                return
        except ValueError:
            continue
    raise FlagError(f"{flag} {path}: no data in the file")


NOOP_SPECS: tuple[FlagSpec, ...] = tuple(
    FlagSpec(n.names, _NARGS[n.values], _check(n), f"{n.help}: no effect on the image")
    for n in NOOPS
)


def _matches(flag: str, names: Sequence[str]) -> bool:
    return any(flag.startswith(n[:-1]) if n.endswith("*") else flag == n for n in names)


def noop_notes(tokens: Sequence[str]) -> list[str]:
    """What the port prints for the no-op flags among ``tokens`` (parsed flags), in order."""
    lines = []
    i = 0
    while i < len(tokens):
        flag = tokens[i]
        for noop in NOOPS:
            if _matches(flag, noop.names):
                values = list(tokens[i + 1 : i + 1 + _NARGS[noop.values]])
                value = " ".join(values)
                lines.append(noop.note.format(flag=flag, value=value))
                i += len(values)
                break
        i += 1
    return lines


def noop_names() -> list[str]:
    """Every spelling of a flag that changes nothing in the image (``*``: a prefix family)."""
    return [name for noop in NOOPS for name in noop.names]
