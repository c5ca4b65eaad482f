"""``farm report``: write a bundle's report.html, or the index.html across stamps.

The work is done by :mod:`farm.html` (pages) over :mod:`analysis` (queries); this module
parses and prints. Exit codes: 0 written, 2 bad input (no such stamp or folder).
"""

from __future__ import annotations

from pathlib import Path

import typer

from farm.cli.app import app, reports_option


@app.command("report")
def report(
    stamp: str | None = typer.Argument(
        None, metavar="STAMP", help="Bundle stamp (default: the newest bundle)."
    ),
    history: bool = typer.Option(
        False, "--history", help="Write index.html across stamps instead of one report."
    ),
    campaign: str | None = typer.Option(
        None, "--campaign", metavar="NAME", help="With --history: only this campaign."
    ),
    phase: str | None = typer.Option(
        None, "--phase", metavar="NAME", help="With --history: only this phase."
    ),
    reports: Path = reports_option(),
) -> None:
    """Write report.html into a bundle (charts, rankings, parity, provenance; no network).

    With --history, index.html instead: every cell's time series across stamps with the
    change points of farm history marked (regressions, improvements, parity drops), a link
    to each bundle's report. It goes to reports/, or to the campaign's (and phase's) folder.

    Example:
        farm report 20260101T120000Z

        farm report --history --campaign nightly --phase grid
    """
    from farm.html.bundle_report import write_bundle_report
    from farm.html.history_index import phase_folders, write_history_index
    from farm.html.history_marks import change_point_marks
    from farm.html.locate import BundleNotFound, bundle_packages, find_bundle

    if history:
        if stamp is not None:
            raise _fail(
                "--history takes no STAMP (it covers every stamp; filter with --campaign/--phase)"
            )
        if not reports.is_dir():
            raise _fail(f"--reports {reports}: no such folder")
        folders = phase_folders(reports, campaign, phase)
        marks = change_point_marks(reports, folders, warn=lambda line: typer.echo(line, err=True))
        try:
            result = write_history_index(reports, campaign, phase, marks=marks)
        except FileNotFoundError as exc:
            raise _fail(str(exc)) from None
        typer.echo(
            f"wrote {result.path} ({result.bytes / 1e6:.2f} MB, {result.charts} charts, "
            f"{result.stamps} stamps, {result.seconds:.1f} s)"
        )
        typer.echo(f"open {result.path}")
        return
    if campaign is not None or phase is not None:
        raise _fail("--campaign and --phase go with --history")
    try:
        bundle = find_bundle(reports, stamp)
    except BundleNotFound as exc:
        raise _fail(str(exc)) from None
    packages, state = bundle_packages(bundle)
    result = write_bundle_report(bundle, packages, state=state)
    typer.echo(
        f"wrote {result.path} ({result.bytes / 1e6:.2f} MB, {result.charts} charts, "
        f"{result.seconds:.1f} s)"
    )
    typer.echo(f"open {result.path}")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)
