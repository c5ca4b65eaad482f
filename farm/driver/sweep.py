"""The sweep driver: the stages of one run of a grid, each handed to the module that owns it.

:func:`run_sweep` runs a validated grid and returns a :class:`~farm.driver.progress.SweepOutcome`:

1. check, before anything starts, what would fail later: the target, the reports root, every
   distinct flag set, the nanoBragg binary, a ``--resume`` stamp (:mod:`farm.driver.preflight`);
   bad input raises and leaves no bundle;
2. register on this host's list of sweeps (:mod:`farm.driver.host_sweeps`), then connect to
   Ray: join ``address`` when given; otherwise ``ray.init()``, which reuses a running local
   Ray (``ray start --head``) and else starts an embedded one (:mod:`farm.driver.ray_connection`);
3. only now create the bundle (a new stamp, or the one given to ``--resume``) and log the
   context (:mod:`farm.bundle.folder`, :mod:`farm.bundle.provenance`);
4. read the cluster's resources: CUDA cells without a GPU in the cluster are recorded as
   skipped at once, with the reason (an actor asking for a missing GPU would wait forever)
   (:mod:`farm.driver.slot_plan`);
5. compute each distinct reference (engine, flags incl. size) once, as a Ray task, and share
   it with every cell through the object store (:mod:`farm.references`);
6. run the cells on one actor per device slot, writing each finished cell's rows at once;
   a failing cell is recorded and the sweep goes on; a cell whose actor dies is retried once
   on a fresh actor (:mod:`farm.driver.actor_pool`, :mod:`farm.bundle.cell_writer`);
7. finish the bundle (env.json, benchmark_results.json, correlation.txt, analysis,
   summary.md, report.html), also after Ctrl-C, SIGTERM, a write error (the disk full) or a
   bug, so the bundle is valid and ``--resume`` completes it (:mod:`farm.bundle.provenance`,
   :mod:`farm.bundle.reports`, :mod:`farm.html.bundle_report`).
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis.tables.parts import (
    WriteError,
    read_table,
    write_text_atomic,
)
from farm.actors.messages import CellJob, CellResult
from farm.actors.targets import Target, resolve_target
from farm.bundle.cell_writer import write_cell_result
from farm.bundle.folder import Bundle, create_bundle, resume_command
from farm.bundle.provenance import SweepSession, collect_tests, git_context, write_sweep_env
from farm.bundle.reports import count_cells, write_reports
from farm.bundle.run_log import RunLog, warnings_into
from farm.bundle.torch_env import TorchEnv
from farm.driver import interrupts, preflight
from farm.driver.actor_pool import POLL_S, ActorPool, PoolStats
from farm.driver.host_sweeps import HostSweeps, describe_overlap
from farm.driver.options import SweepOptions
from farm.driver.placement import node_report
from farm.driver.progress import SweepOutcome, SweepProgress, stop_exit_code, stop_reason
from farm.driver.ray_connection import RayConnection, connect, list_nodes
from farm.driver.slot_plan import SlotPlan, plan_slots
from farm.error_text import short_error
from farm.grid import Cell, Grid, GridError
from farm.html.bundle_report import write_sweep_report
from farm.references import SharedReferences

ProgressFn = Callable[[SweepProgress], None]


def run_sweep(
    grid: Grid,
    options: SweepOptions,
    on_progress: ProgressFn | None = None,
    run_log: RunLog | None = None,
) -> SweepOutcome:
    """Run ``grid`` and write its bundle (see the module docstring).

    ``run_log`` keeps the console stream for ``profile/run.log``: a caller that prints lines
    after the sweep (the CLI's last lines) passes its own, says them into it, and closes it;
    without one the sweep keeps its progress, warnings and errors in a log of its own.

    Raises:
        GridError: bad input found before anything ran (target, flags, reference, --resume).
        StartError: the reports root cannot hold a bundle, or Ray cannot be reached or
            started (:class:`~farm.driver.ray_connection.ConnectError`); no bundle is made.
        KeyboardInterrupt: Ctrl-C or SIGTERM before the bundle existed.
    """
    log = run_log or RunLog()
    try:
        with interrupts.sigterm_as_interrupt() as latch, warnings_into(log):
            return _Sweep(grid, options, on_progress or (lambda p: None), latch, log).run()
    finally:
        if run_log is None:
            log.close()


class _Sweep:
    """State of one :func:`run_sweep` call."""

    def __init__(
        self,
        grid: Grid,
        options: SweepOptions,
        on_progress: ProgressFn,
        latch: interrupts.SignalLatch,
        run_log: RunLog,
    ) -> None:
        self.grid = grid
        self.run_log = run_log
        self.latch = latch
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
        self.c_bin: str | None = None
        self.host = HostSweeps()

    # ----------------------------------------------------------------------------------------

    def run(self) -> SweepOutcome:
        """Check, connect, open the bundle, run what is pending, always finish the bundle."""
        missing = self.target.missing()
        if missing and not self.target.optional:
            raise GridError(self.grid.path, "target", f"{self.grid.target}: {missing}")
        c_bin = self.options.c_bin or self.grid.c_bin or os.environ.get("NB_C_BIN") or None
        resumed, self.c_bin = preflight.check_sweep(
            self.grid, Path(self.options.reports), self.options.resume, c_bin
        )
        done = resumed.done_cells() if resumed else set()
        pending = [c for c in self.cells if c.cell_id not in done]
        self.host.register(grid=str(self.grid.path), stamp=self.options.resume)
        try:
            if pending and not missing:
                self._connect()
            self.bundle = bundle = resumed or self._new_bundle()
        except KeyboardInterrupt as exc:  # before the bundle existed: nothing to finish
            self._release()
            raise self.latch.classify(exc) from None
        except BaseException:
            self._release()
            raise
        self.host.update(stamp=bundle.stamp, bundle=str(bundle.path))
        bundle.make_folders()  # a bundle resumed from before profile/ and notes/ existed
        self.run_log.attach(bundle.path, resumed=bool(self.options.resume))
        start = time.perf_counter()
        stop: BaseException | None = None
        try:
            self._log_start()
            self._run_pending(pending, missing)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (interrupts.Terminated)
            stop = self.latch.classify(exc)
            self._log_quietly(
                f"# interrupted by {interrupts.describe(stop)}: the bundle is partial; "
                "--resume completes it"
            )
        except WriteError as exc:  # the disk is full, the folder went read-only
            stop = exc
        except Exception as exc:  # a bug: still leave a valid bundle, then re-raise
            stop = exc
            self._log_quietly(f"# sweep stopped by {type(exc).__name__}: {short_error(exc)}")
            self.run_log.say(traceback.format_exc())
        finally:
            self._stop_actors()
        wall = time.perf_counter() - start
        outcome = self._finish(stop, wall)
        self._release()
        if stop is not None and not isinstance(stop, (KeyboardInterrupt, WriteError)):
            raise stop
        return outcome

    def _new_bundle(self) -> Bundle:
        """A new stamp folder with the grid it runs (Ray is up by now)."""
        parent = self.grid.bundle_parent(Path(self.options.reports))
        try:
            bundle = create_bundle(parent)
        except OSError as exc:
            raise preflight.StartError(
                f"--reports: cannot create a bundle in {parent}: {exc.strerror or exc}"
            ) from None
        write_text_atomic(bundle.path / "grid.toml", self.grid.text)
        return bundle

    def _release(self) -> None:
        """Stop an embedded Ray (its helpers with it) and leave the host's list of sweeps."""
        if self.ray is not None:
            self.ray.shutdown()
        self.host.close()

    def _log_quietly(self, text: str) -> None:
        """A line in commands.txt, unless the disk refuses it (the stop is reported anyway)."""
        with contextlib.suppress(WriteError):
            self.bundle.log(text)

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
        if self.ray is not None:
            bundle.log(self.ray.commands_text())

    def _run_pending(self, pending: list[Cell], missing: str | None) -> None:
        """Context, then the cells without rows: skip, place, references, actors."""
        bundle = self.bundle
        self.git = git_context(bundle, self.options.project_root)
        if self.grid.collect_tests and not (
            self.options.resume and bundle.file("pytest_collect.log").exists()
        ):
            self.tests = collect_tests(bundle, self.options.project_root)
        self.progress.done = len(self.cells) - len(pending)
        self._count_existing()
        if missing:  # optional target (nanobrag_torch) not installed: skip cleanly
            pending = self._skip(pending, lambda c: f"target {self.grid.target}: {missing}")
        if not pending:
            return
        pending = self._skip_unplaceable(pending)
        if pending:
            references = self._references(pending)
            self._run_cells(pending, references)

    def _emit(self) -> None:
        self.run_log.progress(self.progress)
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
        self.host.update(ray=self.ray.how, ray_address=self.ray.address)

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
            c_bin=self.c_bin,
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
            return CellJob.of(self.grid, self.bundle.stamp, cell, self.target, self.git["git_sha"])

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
            fresh=self.grid.cold == "process",
            env=self.grid.env,
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

    def _finish(self, stop: BaseException | None, wall: float) -> SweepOutcome:
        """Write env.json and the reports, as far as the disk allows; log the exit code."""
        bundle = self.bundle
        stopped = stop_reason(stop)
        resume = resume_command(self.options.argv, bundle.stamp)
        overlap = self.host.overlapping()
        concurrent = describe_overlap(overlap)
        errors = [stop] if isinstance(stop, WriteError) else []
        torch_env = TorchEnv(bundle.path)
        torch_env.start()  # in the background while the bundle is finished (no cell runs)
        try:
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
                target=self.target.provenance() if not self.target.missing() else None,
                session=SweepSession(
                    argv=self.options.argv,
                    resumed=bool(self.options.resume),
                    interrupted=isinstance(stop, KeyboardInterrupt),
                    stopped=stopped,
                    wall_s=wall,
                    concurrent_sweeps=overlap,
                    concurrency_check=self.host.problem,
                ),
            )
        except WriteError as exc:
            errors.append(exc)
        packages = {}
        pkg_dir = self.target.package_dir()
        if pkg_dir is not None:
            packages[self.grid.target] = pkg_dir
        try:
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
                resume=resume,
                concurrent=concurrent,
                torch_env_pending=torch_env.running,
            )
        except WriteError as exc:
            errors.append(exc)
            counts = count_cells(bundle, self.cells)
        try:
            if line := torch_env.finish():
                self._log_quietly(line)
        except WriteError as exc:
            errors.append(exc)
        finally:
            torch_env.cancel()
        self.progress.stage, self.progress.running = "report.html", 0
        self._emit()
        report = write_sweep_report(
            bundle.path, packages, counts, stopped, resume, self._log_quietly
        )
        self.progress.stage = "partial" if counts.get("pending") or stop else "done"
        self.progress.last = "report.html written" if report else "no report.html"
        self._emit()
        rc = stop_exit_code(stop, errors, counts)
        self._log_quietly(
            f"-> exit {rc} ({wall:.1f} s; {counts.get('ok', 0)} ok, {counts.get('failed', 0)} "
            f"failed, {counts.get('skipped', 0)} skipped, {counts.get('pending', 0)} pending)"
        )
        return SweepOutcome(
            bundle=bundle,
            counts=counts,
            interrupted=isinstance(stop, KeyboardInterrupt),
            wall_s=wall,
            ray_start_s=self.ray.seconds if self.ray else 0.0,
            ray_reused=self.ray.reused if self.ray else False,
            stats=self.pool.stats if self.pool else PoolStats(),
            cell_run_s=self.cell_run,
            store_s=self.store_s,
            stop_code=rc if stop is not None or errors else None,
            stopped=stopped,
            error=str(errors[0]) if errors else None,
            resume=resume,
            concurrent=concurrent,
            report=report,
        )
