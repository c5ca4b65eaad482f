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
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from farm.grid import Cell, Grid, GridError
from farm.reference import ReferenceKey, compute_reference
from farm.report import write_reports
from farm.store import remove_stale_temporaries, write_rows
from farm.targets import Target, resolve_target
from farm.worker import CellJob, CellResult, CellWorker

log = logging.getLogger(__name__)

POLL_S = 0.25


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
        cell_wall_s: per cell id, driver-side seconds from submission to its result.
        store_s: per cell id, seconds to write its rows and files (while the actor already
            runs the next cell).
        actor_start_s: seconds from creating each actor to its first answer.
        cell_run_s: per cell id, seconds the worker spent in the cell (inside the actor).
    """

    bundle: Bundle
    counts: dict[str, int]
    interrupted: bool
    wall_s: float
    ray_start_s: float
    ray_reused: bool
    cell_wall_s: dict[str, float] = field(default_factory=dict)
    actor_start_s: list[float] = field(default_factory=list)
    cell_run_s: dict[str, float] = field(default_factory=dict)
    store_s: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """130 after Ctrl-C, 1 when a cell failed, else 0."""
        if self.interrupted:
            return 130
        return 1 if self.counts.get("failed") else 0


ProgressFn = Callable[[SweepProgress], None]


@dataclass
class _Slot:
    """One actor on one device slot, and the cell it runs."""

    device: str
    actor: Any
    created: float
    ready_ref: Any = None
    info: dict[str, Any] | None = None
    ref: Any = None
    cell: Cell | None = None
    attempt: int = 0
    started: float = 0.0


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
        self.cell_wall: dict[str, float] = {}
        self.actor_start: list[float] = []
        self.cell_run: dict[str, float] = {}
        self.store_s: dict[str, float] = {}
        self.workers_info: list[dict[str, Any]] = []
        self.slots: list[_Slot] = []
        self.reference_meta: list[dict[str, Any]] = []
        self.reference_tasks: list[Any] = []
        self.ray_start_s = 0.0
        self.ray_reused = False
        self.ray_started_here = False
        self.git: dict[str, Any] = {"git_sha": "unknown"}
        self.tests: dict[str, Any] | None = None
        self.resources: dict[str, Any] = {}
        self.threads = 0
        self.cpus_per_actor = 0

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
        except _ConnectError as exc:
            fatal = GridError(self.grid.path, "--address", str(exc))
            bundle.log(f"# {exc}")
        except Exception as exc:  # a bug: still leave a valid bundle, then re-raise
            fatal = exc
            bundle.log(f"# sweep stopped by {type(exc).__name__}: {_short_error(exc)}")
        finally:
            self._stop_actors()
        wall = time.perf_counter() - start
        stopped = "interrupted by Ctrl-C" if interrupted else None
        if fatal is not None:
            stopped = (
                f"stopped: {fatal}"
                if isinstance(fatal, GridError)
                else (f"stopped by {type(fatal).__name__}: {_short_error(fatal)}")
            )
        rc = 130 if interrupted else 2 if isinstance(fatal, GridError) else 1 if fatal else None
        counts = self._finish(stopped, rc, wall)
        if self.ray_started_here:
            import ray

            ray.shutdown()
        if fatal is not None:
            raise fatal
        return SweepOutcome(
            bundle=bundle,
            counts=counts,
            interrupted=interrupted,
            wall_s=wall,
            ray_start_s=self.ray_start_s,
            ray_reused=self.ray_reused,
            cell_wall_s=self.cell_wall,
            actor_start_s=self.actor_start,
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
        import ray

        start = time.perf_counter()
        if ray.is_initialized():
            self.ray_reused = True
            how = "this process was already connected to Ray"
        else:
            existing = _existing_local_ray() if self.options.address is None else None
            if self.options.address:
                _probe(self.options.address)
            try:
                ray.init(
                    address=self.options.address,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    configure_logging=True,
                )
            except (ConnectionError, ValueError, RuntimeError) as exc:
                where = self.options.address or existing or "a new local Ray"
                raise _ConnectError(
                    f"cannot connect to Ray ({where}): {_short_error(exc)}"
                ) from exc
            self.ray_reused = self.options.address is not None or existing is not None
            self.ray_started_here = not self.ray_reused
            how = (
                f"joined {self.options.address}"
                if self.options.address
                else f"reused the local Ray at {existing}"
                if existing
                else "started an embedded local Ray"
            )
        self.ray_start_s = time.perf_counter() - start
        self.resources = {
            "cluster": ray.cluster_resources(),
            "available": ray.available_resources(),
            "nodes": [
                {
                    "hostname": n.get("NodeManagerHostname"),
                    "address": n.get("NodeManagerAddress"),
                    "alive": n.get("Alive"),
                    "resources": n.get("Resources", {}),
                }
                for n in ray.nodes()
            ],
            "how": how,
        }
        res = _short_res(self.resources["cluster"])
        self.bundle.log(f"# ray: {how} in {self.ray_start_s:.1f} s; resources {res}")

    def _alive_nodes(self) -> list[dict[str, float]]:
        return [n["resources"] for n in self.resources["nodes"] if n["alive"]]

    def _skip(self, cells: list[Cell], reason: Callable[[Cell], str | None]) -> list[Cell]:
        """Record cells with a reason as skipped; return the others."""
        keep = []
        for cell in cells:
            why = reason(cell)
            if why is None:
                keep.append(cell)
                continue
            result = CellResult(cell.cell_id, cell.tag, "skipped", error=why)
            result.runs.append(_bare_row(cell, self.git["git_sha"], "skipped", why))
            result.record = _bare_record(cell, "skipped", why)
            self._store(result)
        return keep

    def _skip_unplaceable(self, cells: list[Cell]) -> list[Cell]:
        """Skip at once what the cluster cannot place; settle actor sizes and threads."""
        nodes = self._alive_nodes()
        gpus = sum(int(r.get("GPU", 0)) for r in nodes)
        res = _short_res(self.resources["cluster"])
        cells = self._skip(
            cells,
            lambda c: (
                f"no GPU in the Ray cluster ({res})" if c.device == "cuda" and not gpus else None
            ),
        )
        has_cuda = any(c.device == "cuda" for c in cells)
        free = [int(r.get("CPU", 0)) - (int(r.get("GPU", 0)) if has_cuda else 0) for r in nodes]
        free = [f for f in free if f > 0]
        self.cpus_per_actor = self.grid.cpus_per_actor or (min(free) if free else 1)
        self.threads = self.grid.threads or self.cpus_per_actor
        self.cpu_slots = sum(f // self.cpus_per_actor for f in free)
        self.cuda_slots = gpus
        if not self.cpu_slots:
            why = (
                f"cpus_per_actor = {self.cpus_per_actor} but no node has that many free CPUs "
                f"({res})"
            )
            cells = self._skip(cells, lambda c: why if c.device == "cpu" else None)
        return cells

    # references -----------------------------------------------------------------------------

    def _references(self, cells: list[Cell]) -> dict[str, Any]:
        """Compute each distinct reference once; return cell id -> ObjectRef or outcome."""
        import ray

        engine = self.grid.reference
        out: dict[str, Any] = {}
        if engine == "none":
            for cell in cells:
                out[cell.cell_id] = None
            return out
        c_bin = self.options.c_bin or self.grid.c_bin or os.environ.get("NB_C_BIN") or None
        task = ray.remote(_reference_task).options(num_cpus=self.cpus_per_actor, num_returns=2)
        keys: dict[ReferenceKey, tuple[Any, Any]] = {}
        for cell in cells:
            key = ReferenceKey(engine, cell.full_flags)
            if key not in keys:
                keys[key] = task.remote(key, c_bin, self.grid.reference_timeout_s or None)
            out[cell.cell_id] = keys[key][1]
        self.progress.stage = f"references 0/{len(keys)}"
        self._emit()
        metas = {keys[k][0]: k for k in keys}
        self.reference_tasks = [ref for pair in keys.values() for ref in pair]
        waiting = list(metas)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1, timeout=POLL_S)
            for ref in done:
                meta = ray.get(ref)
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
        return out

    # cells ----------------------------------------------------------------------------------

    def _new_slot(self, device: str) -> _Slot:
        import ray

        remote = ray.remote(CellWorker)
        if device == "cuda":
            opts = {"num_gpus": 1, "num_cpus": 1}
            threads = self.grid.cuda_threads
        else:
            opts = {"num_cpus": self.cpus_per_actor}
            threads = self.threads
        actor = remote.options(
            max_restarts=0, max_task_retries=0, max_concurrency=1, **opts
        ).remote(device, threads)
        slot = _Slot(device=device, actor=actor, created=time.perf_counter())
        slot.ready_ref = actor.describe.remote()
        self.slots.append(slot)
        return slot

    def _run_cells(self, cells: list[Cell], references: dict[str, Any]) -> None:
        """Run ``cells`` on one actor per device slot until every cell has rows."""
        import ray
        from ray.exceptions import RayActorError, RayError

        queues: dict[str, deque[tuple[Cell, int]]] = {
            d: deque((c, 0) for c in cells if c.device == d) for d in ("cpu", "cuda")
        }
        limits = {"cpu": self.cpu_slots, "cuda": self.cuda_slots}
        for device, queue in queues.items():
            for _ in range(min(limits[device], len(queue))):
                self._new_slot(device)
        self.progress.stage = "cells"
        self._emit()

        def feed(slot: _Slot) -> None:
            """Give an idle, running actor the next cell of its device."""
            if slot.info is None or slot.ref is not None or not queues[slot.device]:
                return
            cell, attempt = queues[slot.device].popleft()
            job = CellJob(
                self.bundle.stamp,
                cell,
                self.target,
                self.grid.iterations,
                self.grid.profile,
                self.git["git_sha"],
            )
            slot.ref = slot.actor.run.remote(job, references.get(cell.cell_id))
            slot.cell, slot.attempt, slot.started = cell, attempt, time.perf_counter()

        def replace(slot: _Slot) -> None:
            """Kill an actor and start a fresh one in its slot if work is left."""
            ray.kill(slot.actor, no_restart=True)
            self.slots.remove(slot)
            if queues[slot.device]:
                self._new_slot(slot.device)

        def give_up(slot: _Slot, why: str) -> None:
            """An actor that never came up: fail its device's cells if it was the last."""
            with contextlib.suppress(Exception):
                ray.kill(slot.actor, no_restart=True)
            self.slots.remove(slot)
            if not any(s.device == slot.device for s in self.slots):
                self._fail_queue(queues[slot.device], why)

        while any(queues.values()) or any(s.ref is not None for s in self.slots):
            for slot in list(self.slots):
                feed(slot)
                age = time.perf_counter() - slot.created
                if slot.info is None and age > self.options.actor_start_timeout_s:
                    give_up(
                        slot,
                        f"no {slot.device} actor started within "
                        f"{self.options.actor_start_timeout_s:.0f} s (resources: "
                        f"{_short_res(self.resources['cluster'])})",
                    )
            self.progress.running = sum(1 for s in self.slots if s.ref is not None)
            self._emit()

            waiting = {s.ready_ref: s for s in self.slots if s.info is None}
            waiting.update({s.ref: s for s in self.slots if s.ref is not None})
            if not waiting:
                break
            done, _ = ray.wait(list(waiting), num_returns=1, timeout=POLL_S)
            for ref in done:
                slot = waiting[ref]
                if slot.info is None:  # an actor came up (or failed to)
                    try:
                        slot.info = ray.get(ref)
                    except RayError as exc:
                        give_up(slot, f"{slot.device} actor failed to start: {_short_error(exc)}")
                        continue
                    self.workers_info.append(slot.info)
                    self.actor_start.append(time.perf_counter() - slot.created)
                    continue
                cell, attempt, started = slot.cell, slot.attempt, slot.started
                assert cell is not None
                slot.ref, slot.cell = None, None
                try:
                    result: CellResult = ray.get(ref)
                except RayActorError as exc:
                    if attempt == 0:
                        queues[slot.device].appendleft((cell, 1))
                        self.bundle.log(
                            f"# cell {cell.tag}: actor died, retrying once: {_short_error(exc)}"
                        )
                    else:
                        why = f"actor died twice running the cell: {_short_error(exc)}"
                        self._store_failure(cell, why, slot.info)
                    replace(slot)
                    continue
                except RayError as exc:
                    self._store_failure(cell, f"worker error: {_short_error(exc)}", slot.info)
                    continue
                self.cell_wall[cell.cell_id] = time.perf_counter() - started
                feed(slot)  # the actor works on the next cell while this one is written
                self._store(result)
            if self.grid.cell_timeout_s:
                self._enforce_timeout(replace)
            # actors with nothing left to do give their resources back
            for slot in list(self.slots):
                if slot.ref is None and slot.info is not None and not queues[slot.device]:
                    ray.kill(slot.actor, no_restart=True)
                    self.slots.remove(slot)

    def _enforce_timeout(self, replace: Callable[[_Slot], None]) -> None:
        """Fail cells that run past ``cell_timeout_s`` and replace their actors."""
        now = time.perf_counter()
        for slot in list(self.slots):
            if slot.ref is not None and now - slot.started > self.grid.cell_timeout_s:
                cell = slot.cell
                assert cell is not None
                slot.ref, slot.cell = None, None
                why = f"timed out after {self.grid.cell_timeout_s:g} s"
                self._store_failure(cell, why, slot.info)
                replace(slot)

    def _fail_queue(self, queue: deque[tuple[Cell, int]], why: str) -> None:
        while queue:
            cell, _ = queue.popleft()
            self._store_failure(cell, why, None)

    def _stop_actors(self) -> None:
        """Kill every actor and cancel unfinished reference tasks (after Ctrl-C too)."""
        if not self.slots and not self.reference_tasks:
            return
        import ray

        for ref in self.reference_tasks:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self.reference_tasks = []
        for slot in self.slots:
            with contextlib.suppress(Exception):
                ray.kill(slot.actor, no_restart=True)
        self.slots.clear()

    # storing --------------------------------------------------------------------------------

    def _store_failure(self, cell: Cell, why: str, info: dict[str, Any] | None) -> None:
        """Record a cell that produced no result (lost actor, timeout, no actor)."""
        result = CellResult(cell.cell_id, cell.tag, "failed", error=why)
        row = _bare_row(cell, self.git["git_sha"], "failed", why)
        if info:
            row["node"] = info.get("node")
            row["device_name"] = info.get("device_name")
        result.runs.append(row)
        result.record = _bare_record(cell, "failed", why)
        self._store(result)

    def _store(self, result: CellResult) -> None:
        """Write a finished cell: traces, ops, correlation, record, then runs (the marker)."""
        start = time.perf_counter()
        b, stamp, cid = self.bundle, self.bundle.stamp, result.cell_id
        if result.trace_files:
            b.write_trace_files(result.tag, result.trace_files)
        if result.ops is not None:
            try:
                write_rows(b.path, "ops", cid, result.ops, stamp=stamp)
            except Exception as exc:  # a malformed ops table costs the ops part only
                result.notes.append(f"ops part not written: {_short_error(exc)}")
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
                "ray": _ray_info(self.resources, self.ray_start_s),
                "threads": {
                    "grid_threads": self.grid.threads,
                    "cpus_per_actor": self.cpus_per_actor,
                    "cpu_actor_torch_threads": self.threads,
                    "cuda_actor_torch_threads": self.grid.cuda_threads,
                },
                "workers": self.workers_info,
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
            ray_start_s=self.ray_start_s if self.resources else None,
            ray_how=self.resources.get("how"),
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


class _ConnectError(RuntimeError):
    """Ray could not be reached or started (bad ``--address``)."""


def _probe(address: str, timeout_s: float = 10.0) -> None:
    """Fail fast when nothing listens at a ``host:port`` address (Ray would retry for minutes).

    Raises:
        _ConnectError: the address does not answer.
    """
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or address == "auto":
        return  # "auto" and other forms are left to ray.init
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise _ConnectError(
            f"cannot connect to Ray at {address}: nothing answers ({exc.strerror or exc})"
        ) from None


def _reference_task(key: ReferenceKey, c_bin: str | None, timeout_s: float | None):
    """Ray task body: the reference's metadata (small) and the outcome (with its image)."""
    outcome = compute_reference(key, c_bin=c_bin, timeout_s=timeout_s)
    return outcome.meta(), outcome


def _bare_row(cell: Cell, git_sha: str, status: str, why: str) -> dict[str, Any]:
    """A ``runs`` row for a cell that produced no measurement (skipped, lost actor)."""
    return {
        "cell_tag": cell.tag,
        "target": cell.target,
        "device": cell.device,
        "dtype": cell.dtype,
        "size": cell.size,
        "pixels": cell.pixels,
        "params": cell.params_json(),
        "iteration": 0,
        "phase": None,
        "status": status,
        "error": why,
        "git_sha": git_sha,
    }


def _bare_record(cell: Cell, status: str, why: str) -> dict[str, Any]:
    return {
        "size": cell.size,
        "pixels": cell.pixels,
        "device": cell.device,
        "dtype": cell.dtype,
        "target": cell.target,
        "cell_id": cell.cell_id,
        "tag": cell.tag,
        "status": status,
        "error": why,
    }


def _existing_local_ray() -> str | None:
    """Address of a running local Ray that ``ray.init()`` would join, or ``None``."""
    try:
        from ray._private.services import canonicalize_bootstrap_address

        return canonicalize_bootstrap_address(None)
    except Exception:  # private API, or no cluster recorded
        return None


def _short_res(res: dict[str, float]) -> str:
    keys = ("CPU", "GPU", "memory")
    parts = []
    for k in keys:
        v = res.get(k, 0)
        parts.append(f"{k}={v / 2**30:.1f}GiB" if k == "memory" else f"{k}={v:g}")
    return ", ".join(parts)


def _short_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")


def _ray_info(resources: dict[str, Any], start_s: float) -> dict[str, Any]:
    info: dict[str, Any] = {}
    try:
        import ray

        info["version"] = ray.__version__
    except ImportError:
        return info
    info.update(
        {
            "connect_s": start_s,
            "how": resources.get("how"),
            "cluster_resources": resources.get("cluster"),
            "nodes": resources.get("nodes"),
        }
    )
    return info


def _schema_version() -> int:
    from farm.schema import SCHEMA_VERSION

    return SCHEMA_VERSION


def git_root(start: Path | None = None) -> Path:
    """The git work tree containing ``start`` (or the cwd), else ``start`` itself."""
    start = Path(start or Path.cwd())
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=start,
            capture_output=True,
            text=True,
            check=False,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return start
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else start
