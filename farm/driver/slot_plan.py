"""The slot plan of a sweep: how large a CPU actor is, and how many actors of each device fit.

:func:`plan_slots` reads the cluster's resources *before* any actor exists and says which
cells cannot be placed (a CUDA cell in a cluster without a GPU would wait forever), how many
CPUs a CPU actor reserves and how many actors of each device fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from farm.driver.ray_connection import RayConnection
from farm.grid import Cell, Grid


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
        resources: the cluster's resources, one line.
        nodes: the nodes when planned (``RayConnection.nodes``): CPU actors are spread
            over them, one per node slot (:mod:`farm.driver.placement`).
        keep_gpu_cpus: a node keeps one CPU per GPU for CUDA actors.
    """

    cpus_per_actor: int
    threads: int
    cpu_slots: int
    cuda_slots: int
    max_node_cpus: int
    gpus: int
    resources: str = ""
    nodes: tuple[dict[str, Any], ...] = ()
    keep_gpu_cpus: bool = False

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
        nodes=tuple(conn.nodes),
        keep_gpu_cpus=has_cuda,
    )
