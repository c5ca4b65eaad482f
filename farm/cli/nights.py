"""``farm compare``, ``farm history``, ``farm nightly``: parse, call analysis.nights, print.

Exit codes: compare and nightly 0 no regression, 1 regression, 2 not comparable or bad
input; history 0, or 2 for bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from farm.cli.app import app, invoked_as, reports_option

THRESHOLD_HELP = "Slowdown that matters (0.10: 10 %)."
ALPHA_HELP = "Significance level of the test."
FLOOR_HELP = "Noise floor: a warm time (or a new hot spot's time) that grew by less never counts."
#: analysis.nights.compare.MIN_DELTA_S in ms (not imported: it would load duckdb at start)
FLOOR_MS = 1.0


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _warn(line: str) -> None:
    typer.echo(line, err=True)


def _check_rule(threshold: float, alpha: float, min_delta_ms: float) -> None:
    if not 0 < threshold < 10:
        raise _fail(f"--threshold {threshold}: give a fraction such as 0.10 (10 %)")
    if not 0 < alpha < 1:
        raise _fail(f"--alpha {alpha}: must lie between 0 and 1")
    if not 0 <= min_delta_ms < 1e6:
        raise _fail(f"--min-delta-ms {min_delta_ms}: give milliseconds, 0 or more (0: no floor)")


@app.command("compare")
def compare(
    base: str | None = typer.Argument(
        None, metavar="BASE", help="Base night: a stamp or a bundle path."
    ),
    new: str | None = typer.Argument(
        None, metavar="NEW", help="New night: a stamp or a bundle path."
    ),
    reports: Path = reports_option(),
    threshold: float = typer.Option(0.10, "--threshold", metavar="FRACTION", help=THRESHOLD_HELP),
    alpha: float = typer.Option(0.05, "--alpha", metavar="LEVEL", help=ALPHA_HELP),
    min_delta_ms: float = typer.Option(FLOOR_MS, "--min-delta-ms", metavar="MS", help=FLOOR_HELP),
    force: bool = typer.Option(False, "--force", help="Compare nights whose metadata differ."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compare two nights cell by cell: warm time, peak memory, parity, hot spots.

    With no argument: the two newest bundles of the newest bundle's campaign and phase.
    Exit codes: 0 no regression, 1 regression (each cell and metric named), 2 not
    comparable (different grids; torch, device, threads, nodes or commit differ without
    --force) or bad input.

    Example:
        farm compare

        farm compare 20260101T020000Z 20260102T020000Z --threshold 0.05 --json
    """
    from analysis.nights.bundles import NightsError, newest_pair, resolve_bundle
    from analysis.nights.compare import CompareOptions, compare_bundles
    from analysis.nights.render import comparison_markdown

    _check_rule(threshold, alpha, min_delta_ms)
    if (base is None) != (new is None):
        raise _fail("give two nights (BASE NEW), or none for the two newest")
    try:
        if base is None:
            b, n = newest_pair(reports)
        else:
            b, n = resolve_bundle(reports, base), resolve_bundle(reports, new or "")
        options = CompareOptions(
            threshold=threshold, alpha=alpha, min_delta_s=min_delta_ms / 1e3, force=force
        )
        result = compare_bundles(b, n, options, warn=_warn)
    except NightsError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, default=str))
    else:
        typer.echo(comparison_markdown(result), nl=False)
    raise typer.Exit(result.exit_code)


@app.command("history")
def history(
    reports: Path = reports_option(),
    campaign: str | None = typer.Option(
        None, "--campaign", metavar="NAME", help="Default: the newest bundle's."
    ),
    phase: str | None = typer.Option(
        None, "--phase", metavar="NAME", help="Default: the newest bundle's."
    ),
    cell: str | None = typer.Option(
        None, "--cell", metavar="TAG", help="A cell tag (or part of it), or id."
    ),
    metric: str = typer.Option(
        "warm_s", "--metric", metavar="METRIC", help="warm_s | peak_mem_mb | corr | pct_of_run."
    ),
    grain: str = typer.Option(
        "loop", "--grain", metavar="GRAIN", help="For pct_of_run: loop | line | function."
    ),
    points: bool = typer.Option(False, "--points", help="Print every night's value too."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    r"""Follow each cell over the nights; find the change points (stamp, commit, step).

    Example:
        farm history --metric warm_s

        farm history --campaign nightly --phase grid \
            --cell dtype=float32,size=4096 --json

        farm history --metric pct_of_run --grain loop
    """
    from analysis.nights.bundles import NightsError
    from analysis.nights.history import history as find_history
    from analysis.nights.render import history_text

    if grain not in ("loop", "line", "function"):
        raise _fail(f"--grain {grain}: one of loop, line, function")
    try:
        hist = find_history(
            reports,
            campaign=campaign,
            phase=phase,
            cell=cell,
            metric=metric,
            grain=grain,
            warn=_warn,
        )
    except NightsError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(hist.to_json(), indent=2, default=str))
    else:
        typer.echo(history_text(hist, points=points), nl=False)


@app.command("nightly")
def nightly(
    ctx: typer.Context,
    grid: Path = typer.Option(
        ..., "--grid", "-g", metavar="FILE", help="Grid TOML file.", show_default=False
    ),
    address: str | None = typer.Option(
        None, "--address", metavar="ADDRESS", help="Ray cluster to join ('auto')."
    ),
    baseline: str = typer.Option(
        "last-good", "--baseline", metavar="NIGHT", help="last-good, or a stamp or bundle path."
    ),
    reports: Path = reports_option(),
    threshold: float = typer.Option(0.10, "--threshold", metavar="FRACTION", help=THRESHOLD_HELP),
    alpha: float = typer.Option(0.05, "--alpha", metavar="LEVEL", help=ALPHA_HELP),
    min_delta_ms: float = typer.Option(FLOOR_MS, "--min-delta-ms", metavar="MS", help=FLOOR_HELP),
    force: bool = typer.Option(False, "--force", help="Compare even if metadata differ."),
) -> None:
    """Sweep a grid, compare it with the baseline, write regressions.md/.json in the bundle.

    A clean night becomes the new last-good (<reports>/<campaign>/<phase>/LAST_GOOD).
    Exit codes: compare's (0, 1 regression, 2 not comparable or bad input); 1 when cells
    failed; 130 interrupted.

    Example:
        farm nightly --grid configs/nightly.toml --address auto

        farm nightly --grid configs/nightly.toml --baseline 20260101T020000Z
    """
    from analysis.nights.bundles import NightsError
    from analysis.nights.compare import CompareOptions
    from farm.bundle import git_root
    from farm.driver import SweepOptions
    from farm.driver.nightly import run_nightly
    from farm.grid import GridError, load_grid

    _check_rule(threshold, alpha, min_delta_ms)
    argv = [*invoked_as(ctx), "nightly", "--grid", str(grid), "--baseline", baseline]
    argv += ["--address", address] if address else []
    argv += ["--reports", str(reports)] if reports != Path("reports") else []
    try:
        spec = load_grid(grid)
        options = SweepOptions(reports=reports, address=address, argv=argv, project_root=git_root())
        cmp = CompareOptions(
            threshold=threshold,
            alpha=alpha,
            min_delta_s=min_delta_ms / 1e3,
            force=force,
            allow_commit=True,
        )
        night = run_nightly(spec, options, baseline=baseline, compare=cmp)
    except (GridError, NightsError) as exc:
        raise _fail(str(exc)) from None
    bundle = night.sweep.bundle.path
    typer.echo(f"bundle: {bundle}")
    typer.echo(f"baseline: {night.baseline.path if night.baseline else 'none (first night)'}")
    if night.refused:
        typer.echo(f"not compared: {night.refused}", err=True)
    elif night.comparison is not None:
        for tag, metric in night.comparison.regressions:
            typer.echo(f"REGRESSION {tag}: {metric}")
    typer.echo(f"verdict: {bundle / 'regressions.md'}" + (" (new last-good)" * night.promoted))
    raise typer.Exit(night.exit_code)
