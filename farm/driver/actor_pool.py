"""The actor pool: one CellWorker actor per device slot, fed one cell at a time.

It runs until every cell has a result or a recorded failure. Rules it keeps:

* an actor gets its next cell only after the previous cell's rows are written (the sink
  returns): writing while it measures would disturb timings that use every core of a node;
* CPU actors are spread over the nodes, one per node slot (:mod:`farm.driver.placement`);
* a cell whose actor dies is retried once on a fresh actor (the retry joins the cell's notes
  and its record's ``retries``), then recorded as failed;
* a cell whose *node* dies is retried on the nodes left (up to ``NODE_RETRIES`` times, not
  counted against the cell), and the loss is written to commands.txt and the cell's notes;
* a cell past ``cell_timeout_s`` is failed and its actor replaced;
* an actor that does not start within ``start_timeout_s`` is given up; when it was the last
  of its device, that device's queued cells are failed with the reason;
* actors with nothing left to do are killed at once, giving their resources back;
* with ``isolation = "node"`` (the default) a CPU cell does not start on a host while a CUDA
  cell runs there, nor the reverse: a CUDA cell's timings are dominated by host-side
  dispatch, which a CPU actor using every other core disturbs (memory bandwidth, caches,
  clock boost, the scheduler). Idle actors are fed longest-idle first, so CPU and CUDA
  cells of a host take turns. ``"shared"`` lets both measure at once;
* with ``fresh`` (the grid's ``cold = "process"``) an actor runs one cell only: it is made
  for that cell (the cell is reserved for it, its ``env`` set from the process's start, so
  a target reading a variable at import time sees it) and killed once the cell is stored,
  so every cell's cold run is the first of its process. Otherwise actors are reused and
  get the grid's ``env`` at start (a cell's own ``env`` axis value is set while it runs).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from farm.actors.messages import CellJob, CellResult
from farm.actors.worker import CellWorker
from farm.driver.placement import NodeSlots, affinity, alive_node_ids
from farm.driver.slot_plan import SlotPlan
from farm.error_text import short_error
from farm.grid import Cell

POLL_S = 0.25

#: Times one cell is retried because the node running it died.
NODE_RETRIES = 3

#: ``(cell, why, actor info or None)``: record a cell that produced no result.
FailFn = Callable[[Cell, str, dict[str, Any] | None], None]


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
    submitted_wall: float = 0.0
    idle_since: float = 0.0

    @property
    def node(self) -> str | None:
        """The Ray node (id, else hostname) the actor runs on; None until it answers."""
        info = self.info or {}
        return info.get("node_id") or info.get("node")

    node_id: str | None = None  # the node it was placed on (CPU actors)
    reserved: tuple[Cell, int] | None = None  # the one cell a fresh actor was made for


@dataclass
class PoolStats:
    """What the pool measured about itself (for the overhead benchmark and env.json).

    Attributes:
        workers: ``describe()`` of every actor that started.
        actor_start_s: seconds from creating each actor to its first answer.
        cell_wall_s: per cell id, seconds from submitting the cell to its result.
        latency_s: per cell id, (submission -> actor starts it, actor returns -> driver has
            it), from wall clocks (meaningful where driver and actor share a host).
        node_losses: one entry per cell caught on a node that died (node, cell, retried).
    """

    workers: list[dict[str, Any]] = field(default_factory=list)
    actor_start_s: list[float] = field(default_factory=list)
    cell_wall_s: dict[str, float] = field(default_factory=dict)
    latency_s: dict[str, tuple[float, float]] = field(default_factory=dict)
    node_losses: list[dict[str, Any]] = field(default_factory=list)


class ActorPool:
    """Runs cells on Ray actors sized by a :class:`farm.driver.slot_plan.SlotPlan`.

    Args:
        plan: actor sizes and how many fit.
        make_job: builds the :class:`CellJob` of a cell.
        references: cell id -> reference (ObjectRef, outcome or None) passed to the actor.
        sink: called with each finished cell's result (writes its rows).
        fail: called for a cell that produced no result.
        log: appends a line to commands.txt.
        on_running: called with the number of cells running, after each change.
        cuda_threads: torch threads of a CUDA actor.
        cell_timeout_s: fail a cell running longer (0: never).
        start_timeout_s: give up on an actor not started after this long.
        isolation: ``node`` or ``shared`` (see the module docstring).
        worker_cls: the actor class (tests substitute a stand-in).
        fresh: one fresh actor process per cell (``cold = "process"``).
        env: environment variables of every actor process (the grid's ``env``).
    """

    def __init__(
        self,
        plan: SlotPlan,
        *,
        make_job: Callable[[Cell], CellJob],
        references: dict[str, Any],
        sink: Callable[[CellResult], None],
        fail: FailFn,
        log: Callable[[str], None],
        on_running: Callable[[int], None],
        cuda_threads: int = 1,
        cell_timeout_s: float = 0.0,
        start_timeout_s: float = 300.0,
        isolation: str = "node",
        worker_cls: type = CellWorker,
        fresh: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.plan = plan
        self.make_job = make_job
        self.references = references
        self.sink = sink
        self.fail = fail
        self.log = log
        self.on_running = on_running
        self.cuda_threads = cuda_threads
        self.cell_timeout_s = cell_timeout_s
        self.start_timeout_s = start_timeout_s
        self.isolation = isolation
        self.worker_cls = worker_cls
        self.fresh = fresh
        self.env = dict(env or {})
        self.slots: list[_Slot] = []
        self.queues: dict[str, deque[tuple[Cell, int]]] = {"cpu": deque(), "cuda": deque()}
        self.retried: dict[str, str] = {}  # cell id -> why its first attempt was lost
        self.stats = PoolStats()
        self.placement = NodeSlots.plan(plan.nodes, plan.cpus_per_actor, plan.keep_gpu_cpus)
        self.node_notes: dict[str, list[str]] = {}  # cell id -> node losses it survived

    # actors ---------------------------------------------------------------------------------

    def actor_options(self, device: str) -> tuple[dict[str, Any], int]:
        """Ray options and torch threads of an actor for ``device``."""
        if device == "cuda":
            return {"num_gpus": 1, "num_cpus": 1}, self.cuda_threads
        return {"num_cpus": self.plan.cpus_per_actor}, self.plan.threads

    def _new_slot(self, device: str) -> None:
        import ray

        if self.fresh and not self.queues[device]:
            return
        opts, threads = self.actor_options(device)
        node = None
        if device != "cuda" and self.placement.capacity:
            node = self.placement.take()
            if node is None:
                return  # every alive node's slots are taken
            opts.update(affinity(node))
        env = dict(self.env)
        reserved = self.queues[device].popleft() if self.fresh else None
        if reserved is not None:
            env.update(reserved[0].env)
        if threads != opts["num_cpus"]:
            # Ray sets OMP_NUM_THREADS to the actor's CPUs at process start; keep OpenMP and
            # MKL in step with the torch threads asked for
            env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
        if env:
            opts["runtime_env"] = {"env_vars": env}
        actor = (
            ray.remote(self.worker_cls)
            .options(max_restarts=0, max_task_retries=0, max_concurrency=1, **opts)
            .remote(device, threads)
        )
        now = time.perf_counter()
        slot = _Slot(
            device=device,
            actor=actor,
            created=now,
            idle_since=now,
            node_id=node,
            reserved=reserved,
        )
        slot.ready_ref = actor.describe.remote()
        self.slots.append(slot)

    def _kill(self, slot: _Slot) -> None:
        import ray

        with contextlib.suppress(Exception):
            ray.kill(slot.actor, no_restart=True)
        self.placement.release(slot.node_id)
        self.slots.remove(slot)

    def _replace(self, slot: _Slot) -> None:
        """Kill an actor and start a fresh one in its slot if work is left."""
        self._kill(slot)
        if self.queues[slot.device]:
            self._new_slot(slot.device)

    def _give_up(self, slot: _Slot, why: str) -> None:
        """An actor that never came up: fail its device's cells if it was the last."""
        self._kill(slot)
        if slot.reserved is not None:
            self.queues[slot.device].appendleft(slot.reserved)
        if not any(s.device == slot.device for s in self.slots):
            queue = self.queues[slot.device]
            while queue:
                self.fail(queue.popleft()[0], why, None)

    def stop(self) -> None:
        """Kill every actor (also after Ctrl-C)."""
        for slot in list(self.slots):
            self._kill(slot)

    # cells ----------------------------------------------------------------------------------

    def _blocked(self, slot: _Slot) -> bool:
        """Whether isolation keeps ``slot`` waiting: its host measures the other device."""
        if self.isolation != "node":
            return False
        return any(
            s.ref is not None and s.device != slot.device and s.node == slot.node
            for s in self.slots
        )

    def _feed(self, slot: _Slot) -> None:
        """Give an idle, running actor the next cell of its device."""
        queue = self.queues[slot.device]
        if slot.info is None or slot.ref is not None or self._blocked(slot):
            return
        if slot.reserved is not None:
            (cell, attempt), slot.reserved = slot.reserved, None
        elif self.fresh or not queue:
            return
        else:
            cell, attempt = queue.popleft()
        slot.ref = slot.actor.run.remote(self.make_job(cell), self.references.get(cell.cell_id))
        slot.cell, slot.attempt, slot.started = cell, attempt, time.perf_counter()
        slot.submitted_wall = time.time()

    def run(self, cells: list[Cell]) -> None:
        """Run ``cells`` until each has a result or a recorded failure."""
        import ray

        for cell in cells:
            self.queues[cell.device].append((cell, 0))
        limits = {"cpu": self.plan.cpu_slots, "cuda": self.plan.cuda_slots}
        for device, queue in self.queues.items():
            for _ in range(min(limits[device], len(queue))):
                self._new_slot(device)

        while any(self.queues.values()) or any(
            s.ref is not None or s.reserved is not None for s in self.slots
        ):
            for slot in sorted(self.slots, key=lambda s: s.idle_since):
                self._feed(slot)
                if slot.info is None and time.perf_counter() - slot.created > self.start_timeout_s:
                    why = (
                        f"no {slot.device} actor started within {self.start_timeout_s:.0f} s "
                        f"({self.plan.resources})"
                    )
                    self._give_up(slot, why)
            self.on_running(sum(1 for s in self.slots if s.ref is not None))

            waiting = {s.ready_ref: s for s in self.slots if s.info is None}
            waiting.update({s.ref: s for s in self.slots if s.ref is not None})
            if not waiting:
                break
            done, _ = ray.wait(list(waiting), num_returns=1, timeout=POLL_S)
            for ref in done:
                slot = waiting[ref]
                if slot.info is None:
                    self._started(slot, ref)
                else:
                    self._finished(slot, ref)
            if self.cell_timeout_s:
                self._enforce_timeout()
            for slot in list(self.slots):  # nothing left to do: give the resources back
                idle = slot.ref is None and slot.info is not None and slot.reserved is None
                if idle and (self.fresh or not self.queues[slot.device]):
                    self._kill(slot)
                    if self.fresh:
                        self._new_slot(slot.device)
        for device, queue in self.queues.items():  # every actor of the device is gone
            lost = f" (nodes lost: {', '.join(sorted(self.placement.lost))})"
            while queue:
                why = f"no {device} actor left to run the cell"
                self.fail(queue.popleft()[0], why + (lost if self.placement.lost else ""), None)

    def _started(self, slot: _Slot, ref: Any) -> None:
        """An actor answered its first call (or failed to start)."""
        import ray
        from ray.exceptions import RayError

        try:
            slot.info = ray.get(ref)
        except RayError as exc:
            self._give_up(slot, f"{slot.device} actor failed to start: {short_error(exc)}")
            return
        self.stats.workers.append(slot.info)
        self.stats.actor_start_s.append(time.perf_counter() - slot.created)

    def _finished(self, slot: _Slot, ref: Any) -> None:
        """A cell came back: store it, or retry/record a lost actor."""
        import ray
        from ray.exceptions import RayActorError, RayError

        cell, attempt, started = slot.cell, slot.attempt, slot.started
        assert cell is not None
        slot.ref, slot.cell = None, None
        slot.idle_since = time.perf_counter()
        try:
            result: CellResult = ray.get(ref)
        except RayActorError as exc:
            if self._node_lost(slot, cell, attempt, exc):
                self._replace(slot)
                return
            if attempt == 0:
                self.queues[slot.device].appendleft((cell, 1))
                self.retried[cell.cell_id] = (
                    f"its actor died on the first attempt ({short_error(exc)}); "
                    "retried once on a fresh actor"
                )
                self.log(f"# cell {cell.tag}: actor died, retrying once: {short_error(exc)}")
            else:
                self.retried.pop(cell.cell_id, None)
                why = f"actor died twice running the cell: {short_error(exc)}"
                self.fail(cell, why, slot.info)
            self._replace(slot)
            return
        except RayError as exc:
            self.fail(cell, f"worker error: {short_error(exc)}", slot.info)
            if self.fresh:
                self._replace(slot)
            return
        self.stats.cell_wall_s[cell.cell_id] = time.perf_counter() - started
        w = result.worker
        if "t_start" in w and "t_end" in w:
            self.stats.latency_s[cell.cell_id] = (
                w["t_start"] - slot.submitted_wall,
                time.time() - w["t_end"],
            )
        result.notes += self.node_notes.pop(cell.cell_id, [])  # the cell writer records them
        retry = self.retried.pop(cell.cell_id, None)
        if retry is not None:  # summary.md lists it; the cell's notes keep it
            result.notes.append(retry)
            result.record.setdefault("retries", []).append(retry)
        self.sink(result)  # before this actor gets its next cell (see the module docstring)
        if self.fresh:  # its process has run the target: the next cell gets a fresh one
            self._replace(slot)

    def _node_lost(self, slot: _Slot, cell: Cell, attempt: int, exc: BaseException) -> bool:
        """If the actor died with its node: requeue the cell for the nodes left; True then."""
        info = slot.info or {}
        node = info.get("node_id") or slot.node_id
        if node is None or node in alive_node_ids():
            return False
        self.placement.mark_lost(node)
        losses = sum(1 for n in self.stats.node_losses if n["cell"] == cell.tag)
        retried = losses < NODE_RETRIES
        where = f"node {node} ({info.get('node_ip') or 'ip unknown'})"
        self.stats.node_losses.append(
            {"node_id": node, "node_ip": info.get("node_ip"), "cell": cell.tag, "retried": retried}
        )
        if not retried:
            self.fail(cell, f"{where} lost {losses + 1} times running the cell", info)
            return True
        note = f"{where} was lost while running this cell; retried on another node"
        self.node_notes.setdefault(cell.cell_id, []).append(note)
        self.log(f"# cell {cell.tag}: {note}: {short_error(exc)}")
        self.queues[slot.device].appendleft((cell, attempt))
        return True

    def _enforce_timeout(self) -> None:
        """Fail cells that run past ``cell_timeout_s`` and replace their actors."""
        now = time.perf_counter()
        for slot in list(self.slots):
            if slot.ref is not None and now - slot.started > self.cell_timeout_s:
                cell = slot.cell
                assert cell is not None
                slot.ref, slot.cell = None, None
                self.fail(cell, f"timed out after {self.cell_timeout_s:g} s", slot.info)
                self._replace(slot)
