"""Grid key ``isolation``: with "node" no CPU cell measures on a host while its CUDA cell runs.

The session Ray has no GPU, so the CUDA slot here is a stand-in: the pool runs on real Ray
actors of :class:`fake_workers.HoldingWorker` (a "cuda" one holds its cells on the CPU),
placed without a GPU resource. What is under test is the real pool's scheduling.
"""

from __future__ import annotations

import pytest
from fake_workers import HoldingWorker

from farm.actors.messages import CellJob
from farm.actors.targets import resolve_target
from farm.driver.actor_pool import ActorPool
from farm.driver.slot_plan import SlotPlan
from farm.grid import GridError, parse_grid

GRID = """
campaign = "iso"
phase = "p"
{extra}
[axes]
device = ["cpu", "cuda"]
size = [8, 16, 32]
"""


class StandInGpuPool(ActorPool):
    """The real pool, with actors that need no GPU (the test Ray has none)."""

    def actor_options(self, device: str) -> tuple[dict, int]:
        return {"num_cpus": 0}, 1


def _run(isolation: str) -> list[tuple[str, float, float]]:
    """(device, start, end) of every cell, run by the pool under ``isolation``."""
    grid = parse_grid(GRID.format(extra=f'isolation = "{isolation}"'))
    target = resolve_target("simulator")
    plan = SlotPlan(cpus_per_actor=1, threads=1, cpu_slots=1, cuda_slots=1, max_node_cpus=2, gpus=1)
    results, failures = [], []
    pool = StandInGpuPool(
        plan,
        make_job=lambda cell: CellJob("S", cell, target, 1, False),
        references={},
        sink=results.append,
        fail=lambda cell, why, info: failures.append((cell.tag, why)),
        log=lambda line: None,
        on_running=lambda n: None,
        isolation=grid.isolation,
        worker_cls=HoldingWorker,
    )
    pool.run(grid.cells())
    assert not failures and len(results) == 6
    return sorted((r.worker["device"], r.worker["t_start"], r.worker["t_end"]) for r in results)


def _overlaps(cells: list[tuple[str, float, float]]) -> int:
    cpu = [c for c in cells if c[0] == "cpu"]
    cuda = [c for c in cells if c[0] == "cuda"]
    return sum(1 for a in cpu for b in cuda if a[1] < b[2] and b[1] < a[2])


def _take_turns(order: list[str]) -> bool:
    """Longest-idle first: once both actors are up, the devices alternate while both have
    cells left (an actor that starts late lets the other run alone until it is up)."""
    both_up = False
    for (j, a), b in zip(enumerate(order), order[1:], strict=False):
        both_up |= b != order[0]
        if both_up and a == b and ({"cpu", "cuda"} - {a}) & set(order[j + 1 :]):
            return False
    return True


def test_node_isolation_never_measures_cpu_and_cuda_cells_of_a_host_at_once(ray_local):
    cells = _run("node")
    assert _overlaps(cells) == 0
    order = [device for device, _, _ in sorted(cells, key=lambda c: c[1])]
    assert order.count("cpu") == order.count("cuda") == 3
    assert _take_turns(order), order


def test_shared_measures_them_at_once(ray_local):
    assert _overlaps(_run("shared")) > 0  # the check above can fail: here it would


def test_isolation_is_checked_and_node_is_the_default():
    assert parse_grid(GRID.format(extra="")).isolation == "node"
    with pytest.raises(GridError, match="isolation: 'nodes' is not one of node, shared"):
        parse_grid(GRID.format(extra='isolation = "nodes"'))
