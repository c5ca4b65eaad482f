"""What the farm costs per cell: the smoke grid through `farm sweep` vs the same cells in one
plain process.

    python benchmarks/farm_overhead.py                      # configs/smoke.toml, 3 repeats
    python benchmarks/farm_overhead.py --grid configs/smoke.toml --repeat 5

The plain side runs, in a fresh Python process, exactly the measurement the farm's actors run
(farm.actors.worker.CellWorker.run: cold, warm, profiled, correlation) with the same torch and
OpenMP threads and the same precomputed references (memory-mapped, as an actor maps them from Ray's
object store), and nothing else. The farm side runs the grid
with farm.driver.run_sweep on an embedded local Ray: per cell, the driver-side time from
submitting the cell to its result being back, plus writing its rows and files (the actor
gets its next cell only then). The two sides alternate, so machine noise hits both alike.
Ray's start-up and the actors' start-up are one-off costs and are printed separately.
Target: <= 5 % overhead per cell beyond Ray start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def save_references(grid_path: Path, folder: Path) -> None:
    """Compute every reference of the grid once (the farm does this before its cells too).

    Each image goes to its own ``.npy`` and the rest to ``references.pickle``; the plain side
    maps the images read-only, as an actor maps them from Ray's object store, so neither
    process's heap has seen a large allocation before its first cell.
    """
    from farm.grid import load_grid
    from farm.references import ReferenceKey, compute_reference

    grid = load_grid(grid_path)
    refs: dict = {}
    for cell in grid.cells():
        key = ReferenceKey(grid.reference, cell.full_flags)
        if grid.reference != "none" and key not in refs:
            outcome = compute_reference(key, grid.c_bin or None)
            if outcome.image is not None:
                np.save(folder / f"ref-{len(refs)}.npy", outcome.image)
                outcome.image = None
            refs[key] = (outcome, f"ref-{len(refs)}.npy")
    (folder / "references.pickle").write_bytes(pickle.dumps(refs))


def load_references(folder: Path) -> dict:
    """The references :func:`save_references` wrote, images memory-mapped."""
    refs = pickle.loads((folder / "references.pickle").read_bytes())
    out = {}
    for key, (outcome, name) in refs.items():
        if outcome.status == "ok":
            outcome.image = np.load(folder / name, mmap_mode="r")
        out[key] = outcome
    return out


def plain(grid_path: Path, threads: int, refs_dir: Path) -> dict[str, float]:
    """Run every cell in this process; return cell id -> seconds of CellWorker.run.

    The references come precomputed from ``refs_dir``, so this process imports nothing and
    allocates nothing before its first cell that an actor would not have either.
    """
    from farm.actors.messages import CellJob
    from farm.actors.targets import resolve_target
    from farm.actors.worker import CellWorker
    from farm.grid import load_grid
    from farm.references import ReferenceKey

    refs = load_references(refs_dir)
    grid = load_grid(grid_path)
    target = resolve_target(grid.target)
    worker = CellWorker("cpu", threads)
    out = {}
    for cell in grid.cells():
        if cell.device != "cpu":
            continue
        ref = refs.get(ReferenceKey(grid.reference, cell.full_flags))
        job = CellJob("plain", cell, target, grid.iterations, grid.profile)
        start = time.perf_counter()
        result = worker.run(job, ref)
        out[cell.cell_id] = time.perf_counter() - start
        if result.status != "ok":
            raise SystemExit(f"plain run of {cell.tag} failed: {result.error}")
    return out


def plain_in_subprocess(grid_path: Path, threads: int, refs_dir: Path) -> dict[str, float]:
    """:func:`plain` in a fresh interpreter (as fresh as an actor's process).

    ``OMP_NUM_THREADS`` is set as Ray sets it in an actor, so both sides run the same threads.
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with tempfile.NamedTemporaryFile(suffix=".json") as fh:
        argv = [sys.executable, __file__, "--plain", "--grid", str(grid_path)]
        argv += ["--threads", str(threads), "--refs", str(refs_dir), "--out", fh.name]
        subprocess.run(argv, check=True, cwd=ROOT, env=env)
        return json.loads(Path(fh.name).read_text())


def farm_once(grid, reports: Path) -> dict:
    """One sweep of ``grid`` in the connected Ray; per-cell times and one-off costs."""
    from farm.driver import SweepOptions, run_sweep

    outcome = run_sweep(grid, SweepOptions(reports=reports, argv=["benchmarks/farm_overhead.py"]))
    records = json.loads((outcome.bundle.path / "benchmark_results.json").read_text())
    failed = [f"{r['tag']}: {r['error']}" for r in records if r["status"] == "failed"]
    if failed:
        raise SystemExit("farm sweep had failed cells:\n" + "\n".join(failed))
    env = json.loads((outcome.bundle.path / "env.json").read_text())
    return {
        "wall": outcome.stats.cell_wall_s,
        "run": outcome.cell_run_s,
        "store": outcome.store_s,
        "actor_start": outcome.stats.actor_start_s,
        "total": outcome.wall_s,
        "threads": env["threads"]["cpu_actor_torch_threads"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=Path, default=ROOT / "configs" / "smoke.toml")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, interleaved")
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--refs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        args.out.write_text(json.dumps(plain(args.grid, args.threads, args.refs)))
        return

    import logging

    import ray

    from farm.grid import load_grid

    grid = load_grid(args.grid)
    cells = [c for c in grid.cells() if c.device == "cpu"]
    start = time.perf_counter()
    ray.init(
        address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING
    )
    ray_start = time.perf_counter() - start
    farm_runs: list[dict] = []
    plain_runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="farm-overhead-") as tmp:
        refs_dir = Path(tmp) / "references"
        refs_dir.mkdir()
        save_references(args.grid, refs_dir)
        for _ in range(args.repeat):  # interleaved, so machine noise hits both sides alike
            farm_runs.append(farm_once(grid, Path(tmp)))
            threads = farm_runs[-1]["threads"]
            plain_runs.append(plain_in_subprocess(args.grid, threads, refs_dir))
    ray.shutdown()

    def per_cell(key: str) -> dict[str, list[float]]:
        return {c.cell_id: [run[key][c.cell_id] for run in farm_runs] for c in cells}

    trip, inside, store = per_cell("wall"), per_cell("run"), per_cell("store")
    farm = {  # what a cell costs the sweep: round trip, then writing its rows
        cid: [t + w for t, w in zip(trip[cid], store[cid], strict=True)] for cid in trip
    }
    plain_t = {c.cell_id: [run[c.cell_id] for run in plain_runs] for c in cells}
    actor_starts = [s for run in farm_runs for s in run["actor_start"]]
    threads = farm_runs[0]["threads"]

    name = args.grid.relative_to(ROOT) if args.grid.is_relative_to(ROOT) else args.grid
    print(
        f"farm overhead: {name} ({len(cells)} cells, {grid.iterations} warm iterations, "
        f"profile {grid.profile}, reference {grid.reference}, {threads} torch threads), "
        f"{args.repeat} interleaved repeat(s), {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(f"Ray start-up (embedded local, once): {ray_start:.2f} s")
    print(
        f"actor start-up (process + imports, before its first cell): "
        f"{statistics.median(actor_starts):.2f} s median of {len(actor_starts)}"
    )
    print(
        "per cell: plain = CellWorker.run in a fresh process; farm = driver side, from submitting "
        "the cell to its rows on disk; in actor = the same measurement inside the actor. "
        "Medians [minimums] of the repeats."
    )
    print(f"{'cell':36s} {'plain s':>15s} {'farm s':>15s} {'overhead':>17s} {'in actor s':>11s}")
    med_ratios, min_ratios, fixed, shares = [], [], [], []
    for cell in cells:
        cid = cell.cell_id
        p, f, a = (statistics.median(x[cid]) for x in (plain_t, farm, inside))
        pm, fm = min(plain_t[cid]), min(farm[cid])
        med_ratios.append(f / p - 1)
        min_ratios.append(fm / pm - 1)
        cost = statistics.median(x - r for x, r in zip(farm[cid], inside[cid], strict=True))
        fixed.append(cost)
        shares.append(cost / a)
        print(
            f"{cell.tag:36s} {p:7.3f} [{pm:5.3f}] {f:7.3f} [{fm:5.3f}] "
            f"{100 * (f / p - 1):+7.1f}% [{100 * (fm / pm - 1):+5.1f}%] {a:11.3f}"
        )
    trips = [t - r for cid in trip for t, r in zip(trip[cid], inside[cid], strict=True)]
    print(
        f"farm's own cost per cell (farm - in actor): median {1e3 * statistics.median(fixed):.1f} "
        f"ms = Ray round trip {1e3 * statistics.median(trips):.1f} ms + writing rows "
        f"{1e3 * statistics.median(v for x in store.values() for v in x):.1f} ms; "
        f"{100 * statistics.median(shares):.1f}% of these cells (max {100 * max(shares):.1f}%)"
    )
    print(
        f"per-cell overhead beyond Ray start-up: median {100 * statistics.median(med_ratios):+.1f}%"
        f" of medians, {100 * statistics.median(min_ratios):+.1f}% of minimums "
        f"(worst cell {100 * max(min_ratios):+.1f}%); target <= +5%"
    )
    plain_sum = sum(statistics.median(v) for v in plain_t.values())
    farm_sum = sum(statistics.median(v) for v in farm.values())
    print(
        f"sum of cells: plain {plain_sum:.2f} s, farm {farm_sum:.2f} s; whole sweep incl. "
        f"references, actors and bundle: {statistics.median(r['total'] for r in farm_runs):.2f} s"
    )


if __name__ == "__main__":
    main()
