"""Where CPU actors go on a multi-node cluster, and what each node ran.

Ray's default scheduler packs actors onto the nodes it likes best; a sweep wants the
reverse: one CPU actor per *node slot* (``CPUs of the node // cpus_per_actor``), so every
node of the cluster measures cells and no two actors share a slot. :class:`NodeSlots`
assigns each new CPU actor to the alive node with the most free slots and pins it there
with a soft ``NodeAffinitySchedulingStrategy`` (soft: if that node dies before the actor
starts, Ray places it elsewhere). A node that dies is dropped from the plan: its cell is
retried on the nodes left (see :mod:`farm.driver.actor_pool`).

:func:`node_report` is env.json's ``nodes``: every node of the cluster, alive or lost, with
the cells that ran on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class NodeSlots:
    """CPU slots per alive node, and which are taken.

    Attributes:
        capacity: node id -> CPU actors the node can hold.
        used: node id -> CPU actors placed on it now.
        lost: node ids seen dead during the sweep.
    """

    capacity: dict[str, int] = field(default_factory=dict)
    used: Counter = field(default_factory=Counter)
    lost: set[str] = field(default_factory=set)

    @classmethod
    def plan(cls, nodes: Iterable[Mapping[str, Any]], cpus_per_actor: int, keep_per_gpu: bool):
        """Slots of the alive nodes (``RayConnection.nodes``); a CPU per GPU kept if asked."""
        capacity = {}
        for n in nodes:
            if not n.get("alive") or not n.get("node_id"):
                continue
            res = n.get("resources", {})
            free = int(res.get("CPU", 0)) - (int(res.get("GPU", 0)) if keep_per_gpu else 0)
            if free >= cpus_per_actor > 0:
                capacity[str(n["node_id"])] = free // cpus_per_actor
        return cls(capacity)

    @property
    def total(self) -> int:
        """Slots on the nodes still alive."""
        return sum(c for n, c in self.capacity.items() if n not in self.lost)

    def take(self) -> str | None:
        """The alive node with the most free slots (taken), or None when all are full."""
        free = [(c - self.used[n], n) for n, c in self.capacity.items() if n not in self.lost]
        free = [f for f in free if f[0] > 0]
        if not free:
            return None
        node = max(free, key=lambda f: (f[0], f[1]))[1]
        self.used[node] += 1
        return node

    def release(self, node: str | None) -> None:
        """An actor on ``node`` is gone."""
        if node is not None and self.used[node] > 0:
            self.used[node] -= 1

    def mark_lost(self, node: str | None) -> None:
        """``node`` died: no actor goes there any more."""
        if node is not None:
            self.lost.add(node)


def affinity(node_id: str | None) -> dict[str, Any]:
    """Actor options that pin it (softly) to ``node_id``; none without a node."""
    if node_id is None:
        return {}
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=True)}


def alive_node_ids() -> set[str]:
    """Ids of the nodes Ray reports alive now."""
    import ray

    return {n["NodeID"] for n in ray.nodes() if n.get("Alive")}


def node_report(
    nodes: Iterable[Mapping[str, Any]], runs: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Every node with the cells it ran: env.json's ``nodes``.

    Args:
        nodes: ``RayConnection.nodes`` (node_id, hostname, address, alive, resources),
            refreshed at the end of the sweep so lost nodes read ``alive: false``.
        runs: rows of table ``runs`` (``node_id``, ``node_ip``, ``node``, ``cell_tag``).
    """
    ran: dict[str, set[str]] = {}
    for r in runs:
        key = r.get("node_id") or r.get("node")
        if key and r.get("cell_tag") and r.get("status") != "skipped":
            ran.setdefault(str(key), set()).add(str(r["cell_tag"]))
    out = []
    seen = set()
    for n in nodes:
        nid = str(n.get("node_id") or "")
        seen.add(nid)
        cells = sorted(ran.get(nid, set()))
        out.append({**dict(n), "cells": cells, "cell_count": len(cells)})
    for key, cells in sorted(ran.items()):  # nodes Ray no longer lists, or no node ids
        if key not in seen:
            out.append(
                {"node_id": key, "alive": None, "cells": sorted(cells), "cell_count": len(cells)}
            )
    return out
