"""``farm parity``: render an image and a reference for one flag set, print where they differ.

The library does the work (:mod:`simulator.reference`, :mod:`analysis.parity.metrics`); this module
only parses arguments and prints. Exit status: 0 when the verdict passes, 1 when it fails,
2 when an image could not be made (bad flags, missing binary, ...).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from analysis.parity import (
    GATE,
    SHELL_SCALES,
    STRICT,
    ParityReport,
    compare_images,
    write_diff_png,
)
from farm.cli.app import app

# The simulator (and with it torch, ~3 s to import here) is imported by the command itself,
# not when the farm's command line starts: farm sql, compare and history never need it.
ENGINES = ("builtin", "nanobragg")  # simulator.reference.ENGINES (checked by a test)

EXAMPLE = (
    "farm parity --reference nanobragg --c-bin ~/nanoBragg -- "
    "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 256"
)
UNDER_TEST = ("simulator", *ENGINES)
#: The example as the help shows it: a literal block, one shell line continued.
EXAMPLE_BLOCK = (
    "    farm parity --reference nanobragg --c-bin ~/nanoBragg -- \\\n"
    "        -default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 \\\n"
    "        -distance 100 -detpixels 256"
)


class ParityError(Exception):
    """An image could not be produced; the message is one line for the user."""


def _render_under_test(engine: str, cfg: Any, device: str, dtype: str, c_bin: Any, timeout):
    """The image under test as float64 numpy, its wall time, and the Setup it came from."""
    if engine == "simulator":
        import torch

        from simulator import Simulation

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ParityError(f"--device {device}: no CUDA device is available here")
        sim = Simulation(cfg, device=device, dtype=dtype)
        t0 = time.perf_counter()
        img = sim.render()
        if img.device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        return img.detach().cpu().double().numpy(), wall, sim.setup
    from simulator.reference import render_reference

    ref = render_reference(engine, cfg, c_bin=c_bin, timeout_s=timeout)
    return ref.image, ref.wall_s, None


def _fmt(x: float, spec: str = ".6f") -> str:
    return "nan" if not math.isfinite(x) else format(x, spec)


def print_report(console: Console, report: ParityReport, title: str) -> None:
    """Print the metrics, the worst tiles, the peak match and the radial shells."""
    m = Table(title=title, show_header=False)
    m.add_row("Pearson r", _fmt(report.corr, ".8f"))
    m.add_row("sum ratio", _fmt(report.sum_ratio, ".6f"))
    m.add_row("max abs err", _fmt(report.max_abs_err, ".4g"))
    m.add_row("RMSE", _fmt(report.rmse, ".4g"))
    m.add_row(f"pixels over rtol {report.rtol:g}", _fmt(report.frac_over_rtol, ".4%"))
    m.add_row("tile min r", _fmt(report.tile_min_corr, ".6f"))
    pk = report.peaks
    m.add_row(
        "peaks matched",
        f"{pk.n_matched}/{pk.n_reference}, mean offset {_fmt(pk.offset_px, '.3f')} px",
    )
    m.add_row("strict (r >= 0.9999)", "yes" if report.passes_strict else "no")
    console.print(m)

    t = Table(title="worst tiles")
    for col in ("tile", "slow", "fast", "r", "sum ratio"):
        t.add_column(col)
    for tile in report.worst_tiles:
        t.add_row(
            f"({tile.row},{tile.col})",
            f"{tile.slow[0]}:{tile.slow[1]}",
            f"{tile.fast[0]}:{tile.fast[1]}",
            _fmt(tile.corr),
            _fmt(tile.sum_ratio),
        )
    console.print(t)

    scale = SHELL_SCALES[report.shell_unit]
    s = Table(title=f"sum ratio per shell of {scale.heading}")
    for col in (f"shell, {scale.unit}", "pixels", "sum ratio"):
        s.add_column(col)
    for sh in report.shells:
        s.add_row(scale.span(sh), str(sh.n_pixels), _fmt(sh.sum_ratio))
    console.print(s)
    verdict = report.verdict.upper()
    why = "; ".join(report.reasons)
    line = f"verdict: {verdict} [{report.thresholds.name}]" + (f" - {why}" if why else "")
    console.print(line, markup=False, highlight=False)


@app.command(
    "parity",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    help=(
        "Render an image and a reference for one set of nanoBragg flags; print parity metrics "
        "and where they diverge. Exit 1 when the verdict fails.\n\n"
        f"Example:\n{EXAMPLE_BLOCK}"
    ),
)
def parity(
    ctx: typer.Context,
    reference: str = typer.Option(
        "builtin", "--reference", metavar="ENGINE", help="builtin | nanobragg"
    ),
    engine: str = typer.Option(
        "simulator",
        "--engine",
        metavar="ENGINE",
        help="image under test: simulator | builtin | nanobragg",
    ),
    device: str = typer.Option(
        "cpu", "--device", metavar="DEVICE", help="torch device of the simulator"
    ),
    dtype: str = typer.Option("float32", "--dtype", metavar="DTYPE", help="float32 | float64"),
    c_bin: Path | None = typer.Option(
        None, "--c-bin", metavar="FILE", help="nanoBragg binary (default $NB_C_BIN)"
    ),
    diff_png: Path | None = typer.Option(
        None, "--diff-png", metavar="FILE", help="write image - reference here (PNG)"
    ),
    strict: bool = typer.Option(False, "--strict", help="verdict against r >= 0.9999"),
    tiles: int = typer.Option(
        16, "--tiles", min=1, metavar="N", help="tiles per side of the tile map"
    ),
    top_peaks: int = typer.Option(
        50, "--top-peaks", min=1, metavar="N", help="reference peaks to match"
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", metavar="SECONDS", help="seconds for the binary"
    ),
) -> None:
    """Typer entry point (see the help text above)."""
    console = Console()
    flags = list(ctx.args)
    if flags and flags[0] == "--":
        flags = flags[1:]
    if not flags:
        raise _fail(console, f"give nanoBragg flags after the options, e.g. {EXAMPLE}")
    if reference not in ENGINES:
        raise _fail(
            console, f"--reference: expected one of {', '.join(ENGINES)}, got {reference!r}"
        )
    if engine not in UNDER_TEST:
        raise _fail(console, f"--engine: expected one of {', '.join(UNDER_TEST)}, got {engine!r}")
    if dtype not in ("float32", "float64"):
        raise _fail(console, f"--dtype: expected float32 or float64, got {dtype!r}")
    from simulator import ConfigError, FlagError, SetupError, parse_flags
    from simulator.reference import ReferenceFailure, render_reference

    try:
        cfg = parse_flags(flags)
        image, image_s, setup = _render_under_test(engine, cfg, device, dtype, c_bin, timeout)
        ref = render_reference(reference, cfg, c_bin=c_bin, timeout_s=timeout)
        if setup is None:
            from simulator import resolve

            setup = resolve(cfg)
    except (FlagError, ConfigError, SetupError, ReferenceFailure, ParityError) as exc:
        raise _fail(console, str(exc)) from exc
    try:
        report = compare_images(
            image,
            ref.image,
            tiles=tiles,
            top_peaks=top_peaks,
            thresholds=STRICT if strict else GATE,
            setup=setup if setup.shape_pixels == ref.image.shape else None,
        )
    except ValueError as exc:  # the two images differ in shape
        raise _fail(console, f"{engine} vs {reference}: {exc}") from exc
    label = engine if engine != "simulator" else f"simulator {device} {dtype}"
    print_report(
        console,
        report,
        f"{label} ({image_s:.3f} s) vs {reference} ({ref.wall_s:.3f} s), "
        f"{image.shape[0]}x{image.shape[1]} px",
    )
    if diff_png is not None:
        write_diff_png(diff_png, image, ref.image)
        console.print(f"difference map: {diff_png}")
    if report.verdict != "pass":
        raise typer.Exit(1)


def _fail(console: Console, message: str) -> typer.Exit:
    """Print ``error: message`` and return the exit (status 2) to raise."""
    console.print(f"error: {message}", style="red", markup=False, highlight=False)
    return typer.Exit(2)


__all__ = ["parity", "print_report"]
