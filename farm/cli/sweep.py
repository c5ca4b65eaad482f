"""``farm sweep``: run a grid on Ray and write one evidence bundle (parsing and printing only)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from farm.cli.app import app, invoked_as, reports_option


@app.command("sweep")
def sweep(
    ctx: typer.Context,
    grid: Path = typer.Option(
        ...,
        "--grid",
        "-g",
        metavar="FILE",
        help="Grid TOML file (see README: Sweeps).",
        show_default=False,
    ),
    address: str | None = typer.Option(
        None,
        "--address",
        metavar="ADDRESS",
        help="Ray cluster to join ('auto', 'host:6379', 'ray://host:10001'). "
        "Default: reuse a running local Ray, else start one.",
    ),
    resume: str | None = typer.Option(
        None, "--resume", metavar="STAMP", help="Complete this bundle: run only cells without rows."
    ),
    reports: Path = reports_option(),
    c_bin: str | None = typer.Option(
        None,
        "--c-bin",
        metavar="FILE",
        help="nanoBragg C binary for reference = 'nanobragg' (else NB_C_BIN).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Run every cell of a grid and write reports/<campaign>/<phase>/<STAMP>/.

    Exit codes: 0 all cells ok or skipped, 1 a cell failed (or a file could not be written
    after cells had run), 2 bad input (nothing runs, no bundle is made), 130 Ctrl-C,
    143 SIGTERM.

    Example:
        farm sweep --grid configs/smoke.toml

        farm sweep --grid configs/nightly.toml --address auto
    """
    from farm.bundle import git_root
    from farm.bundle.run_log import RunLog
    from farm.driver import StartError, SweepOptions, run_sweep
    from farm.driver.interrupts import describe, exit_code
    from farm.grid import GridError, load_grid

    try:
        spec = load_grid(grid)
    except GridError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    options = SweepOptions(
        reports=reports,
        address=address,
        resume=resume,
        c_bin=c_bin,
        argv=[*invoked_as(ctx), *_argv(grid, address, resume, reports, c_bin)],
        project_root=git_root(),
    )
    log = RunLog()  # profile/run.log: what this command shows, as plain lines

    def say(line: str, err: bool = False) -> None:
        typer.echo(line, err=err)
        log.say(line)

    try:
        with _ProgressBar(enabled=progress) as bar:
            outcome = run_sweep(spec, options, on_progress=bar.update, run_log=log)
    except (GridError, StartError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt as exc:  # before the bundle existed: nothing to resume
        typer.echo(f"interrupted by {describe(exc)} before the bundle was created", err=True)
        raise typer.Exit(exit_code(exc)) from None

    c = outcome.counts
    say(f"bundle: {outcome.bundle.path}")
    say(
        f"cells: {c['ok']} ok, {c['failed']} failed, {c['skipped']} skipped, "
        f"{c['pending']} pending; {outcome.wall_s:.1f} s "
        f"(Ray {'reused' if outcome.ray_reused else 'start-up'} {outcome.ray_start_s:.1f} s)"
    )
    if outcome.concurrent:
        say(f"warning: {outcome.concurrent}", err=True)
    if outcome.error:
        say(f"error: {outcome.error}; resume with {outcome.resume}", err=True)
    elif outcome.interrupted:
        say(f"{outcome.stopped}: resume with {outcome.resume}", err=True)
    for line in next_steps(outcome, reports):
        say(line)
    log.close()
    raise typer.Exit(outcome.exit_code)


def next_steps(outcome: Any, reports: Path) -> list[str]:
    """What to look at once the sweep is done: the report, the ranking."""
    stamp = outcome.bundle.stamp
    where = "" if reports == Path("reports") else f" --reports {reports}"
    lines = ["next:"]
    if outcome.report is not None:
        lines.append(f"  open {outcome.report.path}")
    else:
        lines.append(f"  farm report {stamp}{where}    (report.html was not written)")
    lines.append(f"  farm rank {stamp}{where}")
    return lines


def _argv(
    grid: Path, address: str | None, resume: str | None, reports: Path, c_bin: str | None
) -> list[str]:
    """The command's words after the program's (``sweep --grid ...``), for commands.txt."""
    argv = ["sweep", "--grid", str(grid)]
    if address:
        argv += ["--address", address]
    if resume:
        argv += ["--resume", resume]
    if reports != Path("reports"):
        argv += ["--reports", str(reports)]
    if c_bin:
        argv += ["--c-bin", c_bin]
    return argv


class _ProgressBar:
    """A rich progress bar: cells done of total, with running, failed and skipped counts."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TextColumn("running {task.fields[running]}"),
                TextColumn("[red]failed {task.fields[failed]}"),
                TextColumn("[yellow]skipped {task.fields[skipped]}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[last]}"),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(
                "setup", total=None, running=0, failed=0, skipped=0, last=""
            )
        return self

    def update(self, p: Any) -> None:
        """Show a :class:`farm.driver.SweepProgress` snapshot."""
        if self._progress is None:
            return
        self._progress.update(
            self._task,
            description=p.stage,
            total=p.total,
            completed=p.done,
            running=p.running,
            failed=p.failed,
            skipped=p.skipped,
            last=p.last,
        )

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
