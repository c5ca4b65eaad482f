"""What a sweep reports: progress snapshots while it runs, its outcome and exit code at the end."""

from __future__ import annotations

from dataclasses import dataclass, field

from analysis.tables.parts import WriteError
from farm.bundle.folder import Bundle
from farm.driver import interrupts
from farm.driver.actor_pool import PoolStats
from farm.error_text import short_error
from farm.html.bundle_report import ReportResult


@dataclass
class SweepProgress:
    """A snapshot for progress bars.

    Attributes:
        stage: ``setup``, ``references i/n``, ``cells``, ``report.html``, then ``done`` (or
            ``partial`` when cells are left); ``running`` is 0 from ``report.html`` on.
        total: cells in the grid.
        done: cells with rows (ok, failed or skipped), resumed ones included.
        running: cells on an actor now.
        failed: failed cells.
        skipped: skipped cells.
        last: tag and status of the cell that finished last.
    """

    stage: str
    total: int
    done: int = 0
    running: int = 0
    failed: int = 0
    skipped: int = 0
    last: str = ""


@dataclass
class SweepOutcome:
    """What a sweep did.

    Attributes:
        bundle: the bundle written.
        counts: cells by status this bundle holds (ok, failed, skipped) and pending.
        interrupted: whether Ctrl-C or SIGTERM stopped it.
        wall_s: wall time of this run.
        ray_start_s: time to connect to / start Ray.
        ray_reused: whether an already running Ray was used.
        stats: what the actor pool measured (actor start-up, per-cell round trips).
        cell_run_s: per cell id, seconds the worker spent in the cell (inside the actor).
        store_s: per cell id, seconds to write its rows and files (before the actor gets its
            next cell).
        stop_code: the exit code an early stop forces (130 Ctrl-C, 143 SIGTERM, 1 or 2 after
            a write error), ``None`` when the sweep ran to its end.
        stopped: why it stopped early, one line (``None`` when it did not).
        error: a write error that stopped it, one line (which file, and why).
        resume: the exact command that completes the bundle.
        concurrent: the warning about other sweeps on this host, if any overlapped.
        report: report.html as written at the end (None when it could not be written).
    """

    bundle: Bundle
    counts: dict[str, int]
    interrupted: bool
    wall_s: float
    ray_start_s: float
    ray_reused: bool
    stats: PoolStats = field(default_factory=PoolStats)
    cell_run_s: dict[str, float] = field(default_factory=dict)
    store_s: dict[str, float] = field(default_factory=dict)
    stop_code: int | None = None
    stopped: str | None = None
    error: str | None = None
    resume: str = ""
    concurrent: str | None = None
    report: ReportResult | None = None

    @property
    def exit_code(self) -> int:
        """The forced code of an early stop; else 1 when a cell failed, else 0."""
        if self.stop_code is not None:
            return self.stop_code
        if self.interrupted:
            return 130
        return 1 if self.counts.get("failed") else 0


def stop_exit_code(
    stop: BaseException | None, errors: list[WriteError], counts: dict[str, int]
) -> int:
    """128 + signal after an interruption; after a write error 1 when cells had run, else 2."""
    if isinstance(stop, KeyboardInterrupt):
        return interrupts.exit_code(stop)
    if errors:
        return 1 if counts.get("ok", 0) + counts.get("failed", 0) + counts.get("skipped", 0) else 2
    if stop is not None:
        return 1
    return 1 if counts.get("failed") else 0


def stop_reason(stop: BaseException | None) -> str | None:
    """Why the run ended early, for summary.md and env.json (``None`` when it did not)."""
    if stop is None:
        return None
    if isinstance(stop, KeyboardInterrupt):
        return f"interrupted by {interrupts.describe(stop)}"
    if isinstance(stop, WriteError):
        return f"stopped: {stop}"
    return f"stopped by {type(stop).__name__}: {short_error(stop)}"
