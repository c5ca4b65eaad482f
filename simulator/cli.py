"""``python -m simulator <nanoBragg flags>``: render and write the requested files.

Besides nanoBragg's flags it takes ``--device`` and ``--dtype``. Errors (unknown flag,
missing value, unreadable file, no structure factors) print one line and exit with 2.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Sequence

from simulator.devices import as_device
from simulator.engine import Simulation, as_dtype
from simulator.flags import (
    FlagError,
    cross_match_notes,
    help_entry,
    noop_notes,
    parse_flags,
    usage,
)
from simulator.malloc_tuning import keep_freed_memory
from simulator.outputs import check_output_paths, write_outputs
from simulator.resolve import SetupError, resolve
from simulator.setup_report import interpolation_warning, setup_report

EXIT_USAGE = 2
ENGINE_OPTIONS = (
    ("--device DEVICE", "torch device: cpu (default), cuda, cuda:N"),
    ("--dtype DTYPE", "float32 (default) | float64"),
)


def _usage(width: int | None = None) -> str:
    """nanoBragg's flags, then this port's own engine options, fitted to ``width``.

    ``width`` defaults to the terminal's (``COLUMNS``, else the terminal, else 80).
    """
    if width is None:
        width = shutil.get_terminal_size((80, 24)).columns
    lines = [usage(width), "", "engine options (this port's own):"]
    for name, text in ENGINE_OPTIONS:
        lines += help_entry([name], text, width)
    return "\n".join(lines)


def _say(line: str) -> None:
    """Print one line now (a later failure must not hide what was already done)."""
    print(line, flush=True)


def _print_help() -> None:
    """Print the usage; a reader that stops early (``| head``) is no error."""
    try:
        print(_usage(), flush=True)
    except BrokenPipeError:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())  # the interpreter's last flush then says nothing
        os.close(null)


def _split_engine_options(argv: list[str]) -> tuple[list[str], str, str]:
    flags, device, dtype = [], "cpu", "float32"
    i = 0
    while i < len(argv):
        if argv[i] in ("--device", "--dtype"):
            if i + 1 >= len(argv):
                raise FlagError(f"{argv[i]}: missing value")
            if argv[i] == "--device":
                device = argv[i + 1]
            else:
                dtype = argv[i + 1]
            i += 2
            continue
        flags.append(argv[i])
        i += 1
    return flags, device, dtype


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "-help", "--help"):
        _print_help()
        return 0 if args else EXIT_USAGE
    try:
        flags, device, dtype = _split_engine_options(args)
        as_dtype(dtype)
        as_device(device)  # an absent GPU is bad input: say so before any work
        cfg = parse_flags(flags)
        check_output_paths(cfg.output)  # a file that cannot be written: say so before rendering
        for line in [*noop_notes(cfg.flags), *cross_match_notes(cfg.flags)]:
            print(line)
        setup = resolve(cfg)
        print("\n".join(setup_report(setup)))
        keep_freed_memory()  # one render, then exit: reuse freed blocks, fault no page twice
        start = time.perf_counter()
        simulation = Simulation(setup, device=device, dtype=dtype)
        image = simulation.render().cpu().numpy()
        if simulation.interpolation_stop is not None:
            print("\n".join(interpolation_warning(simulation.interpolation_stop.hkl)))
        print(
            f"rendered {setup.fpixels}x{setup.spixels} pixels on {device} ({dtype}) "
            f"in {time.perf_counter() - start:.3f} s"
        )
        write_outputs(image, setup, cfg.output, cfg.beam.wavelength_A, say=_say)
    except OSError as exc:  # an input or output file; the name and the reason, in words
        text = f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else exc
        print(f"error: {text}", file=sys.stderr)
        return EXIT_USAGE
    except (FlagError, SetupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as exc:  # torch: unknown or absent device, out of memory
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0
