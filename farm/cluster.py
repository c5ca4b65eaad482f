"""Ray for a sweep: connect (embedded, reused or joined), read resources, plan device slots.

* :func:`connect` joins ``address`` when given; otherwise ``ray.init()`` reuses a Ray already
  running on this machine (``ray start --head``) and else starts an embedded one.
* :func:`plan_slots` reads the cluster's resources *before* any actor exists and says which
  cells cannot be placed (a CUDA cell in a cluster without a GPU would wait forever), how many
  CPUs a CPU actor reserves and how many actors of each device fit.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from farm.grid import Cell, Grid


class ConnectError(RuntimeError):
    """Ray could not be reached or started; the message says where and why."""


@dataclass
class RayConnection:
    """How this process got to Ray, and what the cluster holds.

    Attributes:
        how: one line for commands.txt and summary.md.
        seconds: time to connect or start.
        reused: an already running Ray (joined, reused, or connected before).
        started_here: this process started it (and stops it at the end).
        cluster: ``ray.cluster_resources()``.
        nodes: hostname, address, alive and resources of every node.
    """

    how: str
    seconds: float
    reused: bool
    started_here: bool
    cluster: dict[str, float] = field(default_factory=dict)
    nodes: list[dict[str, Any]] = field(default_factory=list)

    def alive_resources(self) -> list[dict[str, float]]:
        """Resources of each alive node."""
        return [n["resources"] for n in self.nodes if n["alive"]]

    def short(self) -> str:
        """``CPU=2, GPU=0, memory=15.7GiB``."""
        return short_resources(self.cluster)

    def to_json(self) -> dict[str, Any]:
        """The ``ray`` object of env.json."""
        import ray

        return {
            "version": ray.__version__,
            "how": self.how,
            "connect_s": self.seconds,
            "cluster_resources": self.cluster,
            "nodes": self.nodes,
        }


def connect(address: str | None) -> RayConnection:
    """Connect to (or start) Ray; see the module docstring.

    Raises:
        ConnectError: nothing answers at ``address``, or ``ray.init`` fails.
    """
    import ray

    start = time.perf_counter()
    if ray.is_initialized():
        how, reused, started = "this process was already connected to Ray", True, False
    else:
        existing = existing_local_ray() if address is None else None
        if address:
            probe(address)
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
                configure_logging=True,
            )
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = address or existing or "a new local Ray"
            raise ConnectError(f"cannot connect to Ray ({where}): {short_error(exc)}") from exc
        reused = address is not None or existing is not None
        started = not reused
        if address:
            how = f"joined {address}"
        elif existing:
            how = f"reused the local Ray at {existing}"
        else:
            how = "started an embedded local Ray"
    nodes = [
        {
            "hostname": n.get("NodeManagerHostname"),
            "address": n.get("NodeManagerAddress"),
            "alive": n.get("Alive"),
            "resources": n.get("Resources", {}),
        }
        for n in ray.nodes()
    ]
    return RayConnection(
        how=how,
        seconds=time.perf_counter() - start,
        reused=reused,
        started_here=started,
        cluster=ray.cluster_resources(),
        nodes=nodes,
    )


def probe(address: str, timeout_s: float = 10.0) -> None:
    """Fail fast when nothing listens at a ``host:port`` address (Ray would retry for minutes).

    Raises:
        ConnectError: the address does not answer.
    """
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and other forms are left to ray.init
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConnectError(
            f"cannot connect to Ray at {address}: nothing answers ({exc.strerror or exc})"
        ) from None


def existing_local_ray() -> str | None:
    """Address of a running local Ray that ``ray.init()`` would join, or ``None``."""
    try:
        from ray._private.services import canonicalize_bootstrap_address

        return canonicalize_bootstrap_address(None)
    except Exception:  # private API, or no cluster recorded
        return None


@dataclass(frozen=True)
class SlotPlan:
    """Actors a sweep may start, and what each reserves.

    Attributes:
        cpus_per_actor: CPUs one CPU actor reserves.
        threads: torch threads of a CPU actor.
        cpu_slots: CPU actors that fit in the cluster.
        cuda_slots: CUDA actors that fit (one per GPU).
        max_node_cpus: CPUs of the largest node (reference tasks never ask for more).
        gpus: GPUs in the cluster.
    """

    cpus_per_actor: int
    threads: int
    cpu_slots: int
    cuda_slots: int
    max_node_cpus: int
    gpus: int
    resources: str = ""

    def skip_reason(self, cell: Cell) -> str | None:
        """Why ``cell`` cannot run in this cluster, or ``None``."""
        if cell.device == "cuda" and not self.gpus:
            return f"no GPU in the Ray cluster ({self.resources})"
        if cell.device == "cpu" and not self.cpu_slots:
            return (
                f"cpus_per_actor = {self.cpus_per_actor} but no node has that many free CPUs "
                f"({self.resources})"
            )
        return None


def plan_slots(conn: RayConnection, grid: Grid, cells: list[Cell]) -> SlotPlan:
    """Size the actors for ``cells`` from the cluster's alive nodes.

    A CPU actor reserves ``grid.cpus_per_actor`` CPUs, by default all the CPUs of the smallest
    node (so timings do not compete); a node keeps one CPU per GPU free for CUDA actors when
    the grid has CUDA cells.
    """
    nodes = conn.alive_resources()
    gpus = sum(int(r.get("GPU", 0)) for r in nodes)
    has_cuda = gpus > 0 and any(c.device == "cuda" for c in cells)
    free = [int(r.get("CPU", 0)) - (int(r.get("GPU", 0)) if has_cuda else 0) for r in nodes]
    free = [f for f in free if f > 0]
    cpus = grid.cpus_per_actor or (min(free) if free else 1)
    return SlotPlan(
        cpus_per_actor=cpus,
        threads=grid.threads or cpus,
        cpu_slots=sum(f // cpus for f in free),
        cuda_slots=gpus,
        max_node_cpus=max((int(r.get("CPU", 0)) for r in nodes), default=1),
        gpus=gpus,
        resources=conn.short(),
    )


def short_resources(res: dict[str, float]) -> str:
    """``CPU=2, GPU=0, memory=15.7GiB``."""
    cpu, gpu, mem = res.get("CPU", 0), res.get("GPU", 0), res.get("memory", 0)
    return f"CPU={cpu:g}, GPU={gpu:g}, memory={mem / 2**30:.1f}GiB"


def short_error(exc: BaseException) -> str:
    """An exception's message on one line, at most 300 characters."""
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")
