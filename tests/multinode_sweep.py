"""Run a sweep on a 3-node Ray cluster made with Ray's own ``ray.cluster_utils.Cluster``.

    python tests/multinode_sweep.py GRID REPORTS OUT_JSON

Head plus 2 worker nodes, 1 CPU each, all on this machine. While the sweep runs, a watcher
removes the first worker node that has finished a cell (its actor is then running its next
one), so the sweep loses a node mid-cell. Writes the outcome as JSON. A separate process
because a process holds one Ray connection and the test session already has one.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq


def watch_and_remove(cluster, bundle_parent: Path, done: threading.Event, out: dict) -> None:
    """Remove the first worker node seen in a finished cell's runs part."""
    workers = {n.node_id: n for n in cluster.worker_nodes}
    while not done.is_set():
        for part in bundle_parent.glob("*/tables/runs/part-*.parquet"):
            try:
                nodes = set(pq.read_table(part, columns=["node_id"])["node_id"].to_pylist())
            except Exception:  # a part being renamed into place
                continue
            hit = sorted(nodes & set(workers))
            if hit:
                cluster.remove_node(workers[hit[0]])
                out["removed"] = hit[0]
                out["removed_after_s"] = time.perf_counter() - out["t0"]
                return
        time.sleep(0.05)


def main() -> int:
    grid_path, reports, out_json = (Path(a) for a in sys.argv[1:4])
    import ray._private.utils
    from ray.cluster_utils import Cluster

    from farm.driver import SweepOptions, run_sweep
    from farm.grid import load_grid

    # Cluster records its address as "the local Ray" of this machine, so that any other
    # ray.init() here (another sweep, another test run) would join it: keep it to ourselves
    ray._private.utils.write_ray_address = lambda *a, **k: None
    out: dict = {"t0": time.perf_counter()}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    cluster.connect()
    out["cluster_s"] = time.perf_counter() - out["t0"]
    grid = load_grid(grid_path)
    done = threading.Event()
    watcher = threading.Thread(
        target=watch_and_remove, args=(cluster, grid.bundle_parent(reports), done, out)
    )
    watcher.start()
    try:
        outcome = run_sweep(grid, SweepOptions(reports=reports, argv=["farm", "sweep"]))
    finally:
        done.set()
        watcher.join()
    out.update(
        bundle=str(outcome.bundle.path),
        counts=outcome.counts,
        exit_code=outcome.exit_code,
        wall_s=outcome.wall_s,
    )
    del out["t0"]
    Path(out_json).write_text(json.dumps(out, indent=2))
    import ray

    ray.shutdown()
    cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
