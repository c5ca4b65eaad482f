"""The sweep driver: the stages of one run of a grid, each handed to the module that owns it.

:func:`run_sweep` runs a validated grid and returns a :class:`~farm.driver.progress.SweepOutcome`:

1. open the bundle (a new stamp, or the one given to ``--resume``) and log the context
   (:mod:`farm.bundle.folder`, :mod:`farm.bundle.provenance`);
2. connect to Ray: join ``address`` when given; otherwise ``ray.init()``, which reuses a
   running local Ray (``ray start --head``) and else starts an embedded one
   (:mod:`farm.driver.ray_connection`);
3. read the cluster's resources: CUDA cells without a GPU in the cluster are recorded as
   skipped at once, with the reason (an actor asking for a missing GPU would wait forever)
   (:mod:`farm.driver.slot_plan`);
4. compute each distinct reference (engine, flags incl. size) once, as a Ray task, and share
   it with every cell through the object store (:mod:`farm.references`);
5. run the cells on one actor per device slot, writing each finished cell's rows at once;
   a failing cell is recorded and the sweep goes on; a cell whose actor dies is retried once
   on a fresh actor (:mod:`farm.driver.actor_pool`, :mod:`farm.bundle.cell_writer`);
6. finish the bundle (env.json, benchmark_results.json, correlation.txt, analysis,
   summary.md), also after Ctrl-C or an error, so the bundle is valid and ``--resume``
   completes it (:mod:`farm.bundle.provenance`, :mod:`farm.bundle.reports`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.tables.parts import read_table, remove_stale_temporaries
from farm.actors.messages import CellJob, CellResult
from farm.actors.targets import Target, resolve_target
from farm.bundle.cell_writer import write_cell_result
from farm.bundle.folder import Bundle, create_bundle, open_bundle
from farm.bundle.provenance import SweepSession, collect_tests, git_context, write_sweep_env
from farm.bundle.reports import write_reports
from farm.driver.actor_pool import POLL_S, ActorPool, PoolStats
from farm.driver.placement import node_report
from farm.driver.progress import SweepOutcome, SweepProgress
from farm.driver.ray_connection import ConnectError, RayConnection, connect, list_nodes
from farm.driver.slot_plan import SlotPlan, plan_slots
from farm.error_text import short_error
from farm.grid import Cell, Grid, GridError
from farm.references import SharedReferences


@dataclass
class SweepOptions:
    """How to run a grid (everything that is not in the grid file).

    Attributes:
        reports: the reports root (bundles go to ``<reports>/<campaign>/<phase>/<STAMP>``).
        address: Ray address to join; ``None`` reuses a local Ray or starts one.
        resume: the stamp of a bundle to complete.
        c_bin: nanoBragg C binary (overrides the grid's ``c_bin`` and ``NB_C_BIN``).
        argv: the command line, for commands.txt.
        project_root: where git and pytest run.
        actor_start_timeout_s: give up on an actor that is not running after this long.
    """

    reports: Path = Path("reports")
    address: str | None = None
    resume: str | None = None
    c_bin: str | None = None
    argv: list[str] = field(default_factory=lambda: ["farm", *sys.argv[1:]])
    project_root: Path = field(default_factory=Path.cwd)
    actor_start_timeout_s: float = 300.0


ProgressFn = Callable[[SweepProgress], None]


def run_sweep(
    grid: Grid, options: SweepOptions, on_progress: ProgressFn | None = None
) -> SweepOutcome:
    """Run ``grid`` and write its bundle (see the module docstring).

    Raises:
        GridError: bad input found before anything ran (target, --resume).
    """
    return _Sweep(grid, options, on_progress or (lambda p: None)).run()


class _Sweep:
    """State of one :func:`run_sweep` call."""

    def __init__(self, grid: Grid, options: SweepOptions, on_progress: ProgressFn) -> None:
        self.grid = grid
        self.options = options
        self.on_progress = on_progress
        self.cells = grid.cells()
        self.target: Target = resolve_target(grid.target)
        self.progress = SweepProgress("setup", len(self.cells))
        self.cell_run: dict[str, float] = {}
        self.store_s: dict[str, float] = {}
        self.pool: ActorPool | None = None
        self.references = SharedReferences()
        self.ray: RayConnection | None = None
        self.plan: SlotPlan | None = None
        self.git: dict[str, Any] = {"git_sha": "unknown"}
        self.tests: dict[str, Any] | None = None

    # ----------------------------------------------------------------------------------------

    def run(self) -> SweepOutcome:
        """Open the bundle, run what is pending, always finish the bundle."""
        missing = self.target.missing()
        if missing and not self.target.optional:
            raise GridError(self.grid.path, "target", f"{self.grid.target}: {missing}")
        self.bundle = bundle = self._open_bundle()
        start = time.perf_counter()
        self._log_start()
        interrupted = False
        fatal: Exception | None = None
        try:
            self._run_pending(missing)
        except KeyboardInterrupt:
            interrupted = True
            bundle.log("# interrupted by Ctrl-C: the bundle is partial; --resume completes it")
        except ConnectError as exc:
            fatal = GridError(self.grid.path, "--address", str(exc))
            bundle.log(f"# {exc}")
        except Exception as exc:  # a bug: still leave a valid bundle, then re-raise
            fatal = exc
            bundle.log(f"# sweep stopped by {type(exc).__name__}: {short_error(exc)}")
        finally:
            self._stop_actors()
        wall = time.perf_counter() - start
        rc = 130 if interrupted else 2 if isinstance(fatal, GridError) else 1 if fatal else None
        counts = self._finish(interrupted, _stopped(interrupted, fatal), rc, wall)
        if self.ray is not None and self.ray.started_here:
            import ray

            ray.shutdown()
        if fatal is not None:
            raise fatal
        return SweepOutcome(
            bundle=bundle,
            counts=counts,
            interrupted=interrupted,
            wall_s=wall,
            ray_start_s=self.ray.seconds if self.ray else 0.0,
            ray_reused=self.ray.reused if self.ray else False,
            stats=self.pool.stats if self.pool else PoolStats(),
            cell_run_s=self.cell_run,
            store_s=self.store_s,
        )

    def _open_bundle(self) -> Bundle:
        """The bundle given to ``--resume`` (stale temporaries removed), or a new stamp."""
        reports = Path(self.options.reports)
        if self.options.resume:
            bundle = open_bundle(self.grid, reports, self.options.resume)
            remove_stale_temporaries(bundle.path)
            return bundle
        bundle = create_bundle(self.grid.bundle_parent(reports))
        (bundle.path / "grid.toml").write_text(self.grid.text, encoding="utf-8")
        return bundle

    def _log_start(self) -> None:
        bundle = self.bundle
        bundle.log(
            f"# {'resumed' if self.options.resume else 'started'} "
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}  stamp {bundle.stamp}  "
            f"grid {self.grid.path}"
        )
        bundle.log(f"$ {' '.join(self.options.argv)}")
        if not self.options.resume:
            bundle.log_command(["mkdir", str(bundle.path)], 0, note="the stamp folder, atomically")

    def _run_pending(self, missing: str | None) -> None:
        """Context, then the cells without rows: skip, connect, place, references, actors."""
        bundle = self.bundle
        self.git = git_context(bundle, self.options.project_root)
        if self.grid.collect_tests and not (
            self.options.resume and bundle.file("pytest_collect.log").exists()
        ):
            self.tests = collect_tests(bundle, self.options.project_root)
        done = bundle.done_cells()
        pending = [c for c in self.cells if c.cell_id not in done]
        self.progress.done = len(self.cells) - len(pending)
        self._count_existing()
        if missing:  # optional target (nanobrag_torch) not installed: skip cleanly
            pending = self._skip(pending, lambda c: f"target {self.grid.target}: {missing}")
        if not pending:
            return
        self._connect()
        pending = self._skip_unplaceable(pending)
        if pending:
            references = self._references(pending)
            self._run_cells(pending, references)

    def _emit(self) -> None:
        self.on_progress(self.progress)

    def _count_existing(self) -> None:
        for rec in self.bundle.cell_records(self.cells):
            if rec.get("status") == "failed":
                self.progress.failed += 1
            elif rec.get("status") == "skipped":
                self.progress.skipped += 1
        self._emit()

    # ray ------------------------------------------------------------------------------------

    def _connect(self) -> None:
        self.ray = connect(self.options.address)
        self.bundle.log(
            f"# ray: {self.ray.how} in {self.ray.seconds:.1f} s; resources {self.ray.short()}"
        )

    def _skip(self, cells: list[Cell], reason: Callable[[Cell], str | None]) -> list[Cell]:
        """Record cells with a reason as skipped; return the others."""
        keep = []
        for cell in cells:
            why = reason(cell)
            if why is None:
                keep.append(cell)
                continue
            self._store(CellResult.unmeasured(cell, "skipped", why, self.git["git_sha"]))
        return keep

    def _skip_unplaceable(self, cells: list[Cell]) -> list[Cell]:
        """Size the actors; skip at once the cells the cluster cannot place."""
        self.plan = plan_slots(self.ray, self.grid, cells)
        return self._skip(cells, self.plan.skip_reason)

    # references -----------------------------------------------------------------------------

    def _references(self, cells: list[Cell]) -> dict[str, Any]:
        """Compute each distinct reference once; return cell id -> ObjectRef, outcome or None.

        The tasks reserve as many CPUs as a CPU actor (so a reference's own wall time is not
        shared with another's) and run before any actor starts.
        """
        assert self.plan is not None

        def stage(text: str) -> None:
            self.progress.stage = text
            self._emit()

        return self.references.compute(
            self.grid.reference,
            cells,
            c_bin=self.options.c_bin or self.grid.c_bin or os.environ.get("NB_C_BIN") or None,
            timeout_s=self.grid.reference_timeout_s or None,
            cpus=max(1, min(self.plan.cpus_per_actor, self.plan.max_node_cpus)),
            poll_s=POLL_S,
            log_command=self.bundle.log_command,
            on_stage=stage,
        )

    # cells ----------------------------------------------------------------------------------

    def _run_cells(self, cells: list[Cell], references: dict[str, Any]) -> None:
        """Run ``cells`` on the actor pool; each finished cell is stored at once."""
        assert self.plan is not None

        def make_job(cell: Cell) -> CellJob:
            return CellJob(
                self.bundle.stamp,
                cell,
                self.target,
                self.grid.iterations,
                self.grid.profile,
                self.git["git_sha"],
                self.grid.isolation,
            )

        def running(n: int) -> None:
            self.progress.running = n
            self._emit()

        self.pool = ActorPool(
            self.plan,
            make_job=make_job,
            references=references,
            sink=self._store,
            fail=self._store_failure,
            log=self.bundle.log,
            on_running=running,
            cuda_threads=self.grid.cuda_threads,
            cell_timeout_s=self.grid.cell_timeout_s,
            isolation=self.grid.isolation,
            start_timeout_s=self.options.actor_start_timeout_s,
        )
        self.progress.stage = "cells"
        self._emit()
        self.pool.run(cells)

    def _stop_actors(self) -> None:
        """Kill every actor and cancel unfinished reference tasks (after Ctrl-C too)."""
        if self.pool is not None:
            self.pool.stop()
        self.references.cancel()

    # storing --------------------------------------------------------------------------------

    def _store_failure(self, cell: Cell, why: str, info: dict[str, Any] | None) -> None:
        """Record a cell that produced no result (lost actor, timeout, no actor)."""
        self._store(CellResult.unmeasured(cell, "failed", why, self.git["git_sha"], info))

    def _store(self, result: CellResult) -> None:
        """Write a finished cell (see :func:`write_cell_result`); count it for the progress."""
        start = time.perf_counter()
        cid = result.cell_id
        write_cell_result(self.bundle, result)
        self.store_s[cid] = time.perf_counter() - start
        if "run_s" in result.worker:
            self.cell_run[cid] = result.worker["run_s"]
        self.progress.done += 1
        if result.status == "failed":
            self.progress.failed += 1
        elif result.status == "skipped":
            self.progress.skipped += 1
        self.progress.last = f"{result.tag}: {result.status}"
        self._emit()

    # finishing ------------------------------------------------------------------------------

    def _finish(
        self, interrupted: bool, stopped: str | None, rc: int | None, wall: float
    ) -> dict[str, int]:
        """Write env.json and the reports; log the exit code (``rc`` when it is forced)."""
        bundle = self.bundle
        write_sweep_env(
            bundle,
            self.grid,
            git=self.git,
            ray=self.ray.to_json() if self.ray else None,
            cpus_per_actor=self.plan.cpus_per_actor if self.plan else None,
            cpu_actor_threads=self.plan.threads if self.plan else None,
            workers=self.pool.stats.workers if self.pool else [],
            nodes=node_report(
                list_nodes() if self.ray else [], read_table(bundle.path, "runs").to_pylist()
            ),
            node_losses=self.pool.stats.node_losses if self.pool else [],
            session=SweepSession(
                argv=self.options.argv,
                resumed=bool(self.options.resume),
                interrupted=interrupted,
                stopped=stopped,
                wall_s=wall,
            ),
        )
        packages = {}
        pkg_dir = self.target.package_dir()
        if pkg_dir is not None:
            packages[self.grid.target] = pkg_dir
        counts = write_reports(
            bundle,
            self.grid,
            self.cells,
            packages=packages,
            stopped=stopped,
            wall_s=wall,
            ray_start_s=self.ray.seconds if self.ray else None,
            ray_how=self.ray.how if self.ray else None,
            tests=self.tests,
            references=self.references.meta,
        )
        if rc is None:
            rc = 1 if counts.get("failed") else 0
        bundle.log(
            f"-> exit {rc} ({wall:.1f} s; {counts.get('ok', 0)} ok, {counts.get('failed', 0)} "
            f"failed, {counts.get('skipped', 0)} skipped, {counts.get('pending', 0)} pending)"
        )
        return counts


def _stopped(interrupted: bool, fatal: Exception | None) -> str | None:
    """Why the run ended early, for summary.md and env.json (``None`` when it did not)."""
    if fatal is not None:
        if isinstance(fatal, GridError):
            return f"stopped: {fatal}"
        return f"stopped by {type(fatal).__name__}: {short_error(fatal)}"
    return "interrupted by Ctrl-C" if interrupted else None
