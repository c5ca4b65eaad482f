"""The Ray driver of a sweep: resources, references, actors, results, the bundle.

:func:`run_sweep` runs a validated grid and returns a :class:`SweepOutcome`:

1. open the bundle (a new stamp, or the one given to ``--resume``) and log the context;
2. connect to Ray: join ``address`` when given; otherwise ``ray.init()``, which reuses a
   running local Ray (``ray start --head``) and else starts an embedded one;
3. read the cluster's resources: CUDA cells without a GPU in the cluster are recorded as
   skipped at once, with the reason (an actor asking for a missing GPU would wait forever);
4. compute each distinct reference (engine, flags incl. size) once, as a Ray task, and share
   it with every cell through the object store;
5. run the cells on one actor per device slot, writing each finished cell's rows at once;
   a failing cell is recorded and the sweep goes on; a cell whose actor dies is retried once
   on a fresh actor;
6. finish the bundle (env.json, benchmark_results.json, correlation.txt, analysis,
   summary.md), also after Ctrl-C, so the bundle is valid and ``--resume`` completes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.tables.parts import remove_stale_temporaries, write_rows
from farm.actors import POLL_S, ActorPool, PoolStats
from farm.bundle import (
    Bundle,
    cell_nodes,
    collect_tests,
    create_bundle,
    driver_env,
    git_context,
    open_bundle,
    write_env,
)
from farm.cluster import (
    ConnectError,
    RayConnection,
    SlotPlan,
    connect,
    plan_slots,
    short_error,
)
from farm.grid import Cell, Grid, GridError
from farm.reference import ReferenceKey, ReferenceOutcome, reference_task
from farm.report import write_reports
from farm.results import CellJob, CellResult, ops_table
from farm.targets import Target, resolve_target

log = logging.getLogger(__name__)


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
        self.reference_meta: list[dict[str, Any]] = []
        self.reference_tasks: list[Any] = []
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
        reports = Path(self.options.reports)
        if self.options.resume:
            bundle = open_bundle(self.grid, reports, self.options.resume)
            remove_stale_temporaries(bundle.path)
        else:
            bundle = create_bundle(self.grid.bundle_parent(reports))
            (bundle.path / "grid.toml").write_text(self.grid.text, encoding="utf-8")
        self.bundle = bundle
        start = time.perf_counter()
        bundle.log(
            f"# {'resumed' if self.options.resume else 'started'} "
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}  stamp {bundle.stamp}  "
            f"grid {self.grid.path}"
        )
        bundle.log(f"$ {' '.join(self.options.argv)}")
        if not self.options.resume:
            bundle.log_command(["mkdir", str(bundle.path)], 0, note="the stamp folder, atomically")
        interrupted = False
        fatal: Exception | None = None
        try:
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
            if pending:
                self._connect()
                pending = self._skip_unplaceable(pending)
                if pending:
                    references = self._references(pending)
                    self._run_cells(pending, references)
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
        stopped = "interrupted by Ctrl-C" if interrupted else None
        if fatal is not None:
            stopped = (
                f"stopped: {fatal}"
                if isinstance(fatal, GridError)
                else (f"stopped by {type(fatal).__name__}: {short_error(fatal)}")
            )
        rc = 130 if interrupted else 2 if isinstance(fatal, GridError) else 1 if fatal else None
        counts = self._finish(stopped, rc, wall)
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
        import ray
        from ray.exceptions import RayError

        engine = self.grid.reference
        if engine == "none":
            return {cell.cell_id: None for cell in cells}
        c_bin = self.options.c_bin or self.grid.c_bin or os.environ.get("NB_C_BIN") or None
        cpus = max(1, min(self.plan.cpus_per_actor, self.plan.max_node_cpus))
        task = ray.remote(reference_task).options(num_cpus=cpus, num_returns=2)
        keys: dict[ReferenceKey, tuple[Any, Any]] = {}
        for cell in cells:
            key = ReferenceKey(engine, cell.full_flags)
            if key not in keys:
                keys[key] = task.remote(key, c_bin, self.grid.reference_timeout_s or None)
        shared: dict[ReferenceKey, Any] = {key: pair[1] for key, pair in keys.items()}
        self.progress.stage = f"references 0/{len(keys)}"
        self._emit()
        metas = {pair[0]: key for key, pair in keys.items()}
        self.reference_tasks = [ref for pair in keys.values() for ref in pair]
        waiting = list(metas)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1, timeout=POLL_S)
            for ref in done:
                key = metas[ref]
                try:
                    meta = ray.get(ref)
                except RayError as exc:  # the task's process died (out of memory, ...)
                    lost = ReferenceOutcome(
                        key, "no_reference", error=f"reference task failed: {short_error(exc)}"
                    )
                    shared[key] = lost
                    meta = lost.meta()
                self.reference_meta.append(meta)
                note = f"{meta['engine']} reference, {meta['status']}"
                if meta["wall_s"] is not None:
                    note += f", {meta['wall_s']:.2f} s"
                if meta["error"]:
                    note += f": {meta['error']}"
                argv = meta["command"] or f"<{meta['engine']} reference> {meta['flags']}"
                self.bundle.log_command(argv, 0 if meta["status"] == "ok" else 1, note=note)
            self.progress.stage = f"references {len(metas) - len(waiting)}/{len(metas)}"
            self._emit()
        self.reference_tasks = []
        return {cell.cell_id: shared[ReferenceKey(engine, cell.full_flags)] for cell in cells}

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
            start_timeout_s=self.options.actor_start_timeout_s,
        )
        self.progress.stage = "cells"
        self._emit()
        self.pool.run(cells)

    def _stop_actors(self) -> None:
        """Kill every actor and cancel unfinished reference tasks (after Ctrl-C too)."""
        if self.pool is not None:
            self.pool.stop()
        if not self.reference_tasks:
            return
        import ray

        for ref in self.reference_tasks:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self.reference_tasks = []

    # storing --------------------------------------------------------------------------------

    def _store_failure(self, cell: Cell, why: str, info: dict[str, Any] | None) -> None:
        """Record a cell that produced no result (lost actor, timeout, no actor)."""
        self._store(CellResult.unmeasured(cell, "failed", why, self.git["git_sha"], info))

    def _store(self, result: CellResult) -> None:
        """Write a finished cell: traces, ops, correlation, record, then runs (the marker)."""
        start = time.perf_counter()
        b, stamp, cid = self.bundle, self.bundle.stamp, result.cell_id
        if result.trace_files:
            b.write_trace_files(result.tag, result.trace_files)
        if result.ops_ipc is not None:
            try:
                write_rows(b.path, "ops", cid, ops_table(result), stamp=stamp)
            except Exception as exc:  # a malformed ops table costs the ops part only
                result.notes.append(f"ops part not written: {short_error(exc)}")
        if result.correlation is not None:
            write_rows(b.path, "correlations", cid, [result.correlation], stamp=stamp)
        result.record.setdefault("notes", [])
        for note in result.notes:
            if note not in result.record["notes"]:
                result.record["notes"].append(note)
        b.write_cell_record(cid, result.record)
        write_rows(b.path, "runs", cid, result.runs, stamp=stamp)
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

    def _finish(self, stopped: str | None, rc: int | None, wall: float) -> dict[str, int]:
        """Write env.json and the reports; log the exit code (``rc`` when it is forced)."""
        bundle = self.bundle
        env = driver_env()
        env.update(
            {
                "stamp": bundle.stamp,
                "grid": str(self.grid.path),
                "target": self.grid.target,
                "schema_version": _schema_version(),
                "git_sha": self.git.get("git_sha"),
                "git_dirty": self.git.get("git_dirty"),
                "uname": self.git.get("uname"),
                "ray": self.ray.to_json() if self.ray else {"how": "not connected"},
                "threads": {
                    "grid_threads": self.grid.threads,
                    "cpus_per_actor": self.plan.cpus_per_actor if self.plan else None,
                    "cpu_actor_torch_threads": self.plan.threads if self.plan else None,
                    "cuda_actor_torch_threads": self.grid.cuda_threads,
                },
                "workers": self.pool.stats.workers if self.pool else [],
                "cell_nodes": cell_nodes(bundle),
                "sessions": [
                    {
                        "argv": self.options.argv,
                        "resumed": bool(self.options.resume),
                        "interrupted": stopped is not None,
                        "stopped": stopped,
                        "wall_s": wall,
                    }
                ],
            }
        )
        write_env(bundle, env)
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
            references=self.reference_meta,
        )
        if rc is None:
            rc = 1 if counts.get("failed") else 0
        bundle.log(
            f"-> exit {rc} ({wall:.1f} s; {counts.get('ok', 0)} ok, {counts.get('failed', 0)} "
            f"failed, {counts.get('skipped', 0)} skipped, {counts.get('pending', 0)} pending)"
        )
        return counts


def _schema_version() -> int:
    from analysis.tables.schema import SCHEMA_VERSION

    return SCHEMA_VERSION
