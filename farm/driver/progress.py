"""What a sweep reports: progress snapshots while it runs, its outcome at the end."""

from __future__ import annotations

from dataclasses import dataclass, field

from farm.bundle.folder import Bundle
from farm.driver.actor_pool import PoolStats


@dataclass
class SweepProgress:
    """A snapshot for progress bars.

    Attributes:
        stage: ``references`` or ``cells``.
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
        interrupted: whether Ctrl-C stopped it.
        wall_s: wall time of this run.
        ray_start_s: time to connect to / start Ray.
        ray_reused: whether an already running Ray was used.
        stats: what the actor pool measured (actor start-up, per-cell round trips).
        cell_run_s: per cell id, seconds the worker spent in the cell (inside the actor).
        store_s: per cell id, seconds to write its rows and files (before the actor gets its
            next cell).
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

    @property
    def exit_code(self) -> int:
        """130 after Ctrl-C, 1 when a cell failed, else 0."""
        if self.interrupted:
            return 130
        return 1 if self.counts.get("failed") else 0
