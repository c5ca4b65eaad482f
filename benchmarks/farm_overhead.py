"""What the farm costs per cell: the smoke grid through `farm sweep` vs the same cells in one
plain process.

    python benchmarks/farm_overhead.py                      # configs/smoke.toml, 1 repeat
    python benchmarks/farm_overhead.py --grid configs/smoke.toml --repeat 3

The plain side runs, in a fresh Python process, exactly the measurement the farm's actors run
(farm.worker.CellWorker.run: cold, warm, profiled, correlation) with the same torch threads,
and nothing else. The farm side runs the grid with farm.driver.run_sweep on an embedded local
Ray: per cell, the driver-side time from submitting the cell to its rows being on disk.
Ray's start-up and the actors' start-up are one-off costs and are printed separately.
Target: <= 5 % overhead per cell beyond Ray start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def plain(grid_path: Path, threads: int) -> dict[str, float]:
    """Run every cell in this process; return cell id -> seconds of CellWorker.run."""
    from farm.grid import load_grid
    from farm.reference import ReferenceKey, compute_reference
    from farm.targets import resolve_target
    from farm.worker import CellJob, CellWorker

    grid = load_grid(grid_path)
    target = resolve_target(grid.target)
    worker = CellWorker("cpu", threads)
    refs = {}
    out = {}
    for cell in grid.cells():
        if cell.device != "cpu":
            continue
        ref = None
        if grid.reference != "none":
            key = ReferenceKey(grid.reference, cell.full_flags)
            if key not in refs:  # computed once per (size, flags), outside the cell's time
                refs[key] = compute_reference(key, grid.c_bin or None)
            ref = refs[key]
        job = CellJob("plain", cell, target, grid.iterations, grid.profile)
        start = time.perf_counter()
        result = worker.run(job, ref)
        out[cell.cell_id] = time.perf_counter() - start
        if result.status != "ok":
            raise SystemExit(f"plain run of {cell.tag} failed: {result.error}")
    return out


def plain_in_subprocess(grid_path: Path, threads: int) -> dict[str, float]:
    """:func:`plain` in a fresh interpreter (as fresh as an actor's process)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as fh:
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--plain",
                "--grid",
                str(grid_path),
                "--threads",
                str(threads),
                "--out",
                fh.name,
            ],
            check=True,
            cwd=ROOT,
        )
        return json.loads(Path(fh.name).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=Path, default=ROOT / "configs" / "smoke.toml")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side (median)")
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        args.out.write_text(json.dumps(plain(args.grid, args.threads)))
        return

    import logging

    import ray

    from farm.driver import SweepOptions, run_sweep
    from farm.grid import load_grid

    grid = load_grid(args.grid)
    cells = [c for c in grid.cells() if c.device == "cpu"]
    start = time.perf_counter()
    ray.init(
        address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING
    )
    ray_start = time.perf_counter() - start
    farm_walls: dict[str, list[float]] = {c.cell_id: [] for c in cells}
    farm_runs: dict[str, list[float]] = {c.cell_id: [] for c in cells}
    farm_store: dict[str, list[float]] = {c.cell_id: [] for c in cells}
    actor_starts: list[float] = []
    farm_totals = []
    threads = 0
    with tempfile.TemporaryDirectory(prefix="farm-overhead-") as tmp:
        for _ in range(args.repeat):
            outcome = run_sweep(
                grid, SweepOptions(reports=Path(tmp), argv=["benchmarks/farm_overhead.py"])
            )
            if outcome.counts["failed"]:
                errors = [
                    f"{r['tag']}: {r['error']}"
                    for r in json.loads(
                        (outcome.bundle.path / "benchmark_results.json").read_text()
                    )
                    if r["status"] == "failed"
                ]
                raise SystemExit("farm sweep had failed cells:\n" + "\n".join(errors))
            env = json.loads((outcome.bundle.path / "env.json").read_text())
            threads = env["threads"]["cpu_actor_torch_threads"]
            for cid, wall in outcome.cell_wall_s.items():
                farm_walls[cid].append(wall)
                farm_runs[cid].append(outcome.cell_run_s[cid])
                farm_store[cid].append(outcome.store_s[cid])
            actor_starts += outcome.actor_start_s
            farm_totals.append(outcome.wall_s)
    ray.shutdown()

    plain_walls: dict[str, list[float]] = {c.cell_id: [] for c in cells}
    for _ in range(args.repeat):
        for cid, wall in plain_in_subprocess(args.grid, threads).items():
            plain_walls[cid].append(wall)

    name = args.grid.relative_to(ROOT) if args.grid.is_relative_to(ROOT) else args.grid
    print(
        f"farm overhead: {name}"
        f" ({len(cells)} cells, {grid.iterations} warm iterations, profile {grid.profile}, "
        f"reference {grid.reference}, {threads} torch threads), {args.repeat} repeat(s), "
        f"{os.cpu_count()} CPUs"
    )
    print(f"Ray start-up (embedded local): {ray_start:.2f} s")
    print(
        "farm s = driver side, cell submitted -> result back; in actor s = the same measurement "
        "inside the actor; store s = writing its rows and files, overlapped with the next cell"
    )
    print(
        f"actor start-up (process + imports, before its first cell): "
        f"{statistics.median(actor_starts):.2f} s median of {len(actor_starts)}"
    )
    print(
        f"{'cell':36s} {'plain s':>8s} {'farm s':>8s} {'overhead':>9s}   "
        f"{'in actor s':>10s} {'store s':>8s}"
    )
    ratios = []
    for cell in cells:
        p = statistics.median(plain_walls[cell.cell_id])
        f = statistics.median(farm_walls[cell.cell_id])
        a = statistics.median(farm_runs[cell.cell_id])
        w = statistics.median(farm_store[cell.cell_id])
        ratios.append(f / p - 1)
        print(f"{cell.tag:36s} {p:8.3f} {f:8.3f} {100 * (f / p - 1):+8.1f}%   {a:10.3f} {w:8.3f}")
    trips = [
        statistics.median(farm_walls[c.cell_id]) - statistics.median(farm_runs[c.cell_id])
        for c in cells
    ]
    share = [t / statistics.median(farm_runs[c.cell_id]) for t, c in zip(trips, cells, strict=True)]
    trip_ms = 1e3 * statistics.median(trips)
    print(
        f"Ray round trip per cell (farm s - in actor s): median {trip_ms:.1f} ms = "
        f"{100 * statistics.median(share):.1f}% of the cell (max {100 * max(share):.1f}%)"
    )
    plain_sum = sum(statistics.median(v) for v in plain_walls.values())
    farm_sum = sum(statistics.median(v) for v in farm_walls.values())
    print(
        f"median per-cell overhead: {100 * statistics.median(ratios):+.1f}% "
        f"(max {100 * max(ratios):+.1f}%; target <= +5% per cell beyond Ray start-up)"
    )
    print(
        f"sum of cells: plain {plain_sum:.2f} s, farm {farm_sum:.2f} s "
        f"({100 * (farm_sum / plain_sum - 1):+.1f}%); whole sweep incl. references, actors "
        f"and bundle: {statistics.median(farm_totals):.2f} s"
    )


if __name__ == "__main__":
    main()
