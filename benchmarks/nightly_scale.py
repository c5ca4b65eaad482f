"""farm history and farm compare over a year of nights: 365 stamps of a 40-cell grid.

Usage:
    python benchmarks/nightly_scale.py                        # builds the tree once, then times
    python benchmarks/nightly_scale.py --nights 365 --cells 40 --keep /tmp/year --repeat 3

Builds (once; reused with --keep) ``<keep>/nightly/grid/<STAMP>/`` for every night, as a
sweep leaves it: a ``runs`` part (cold, 5 warm, profiled rows), a ``correlations`` part and a
``hot_loops`` part (12 loops) per cell, env.json, then the night's summaries
(``analysis.nights.summarise.summarise_bundle``, what a sweep does at its end; its time per
night is printed). The warm times carry a 30 % step at night 200 for every cell.

Then times, in this process and as the command a user types (a fresh Python: imports
included): ``farm history --metric warm_s``, ``farm history --metric pct_of_run`` and
``farm compare`` (the two newest nights; every night has its own commit, so in-process it
allows that change as ``farm nightly`` does, and the command gets ``--force``). Target: each
<= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.nights.bundles import newest_pair  # noqa: E402
from analysis.nights.compare import CompareOptions, compare_bundles  # noqa: E402
from analysis.nights.history import history  # noqa: E402
from analysis.nights.summarise import summarise_bundle  # noqa: E402
from analysis.tables.parts import write_rows  # noqa: E402

STEP_NIGHT = 200
SIZES = [256, 512, 1024, 2048, 4096]


def stamp_of(night: int) -> str:
    day = time.gmtime(1767225600 + night * 86400)  # 2026-01-01 + night days
    return time.strftime("%Y%m%dT020000Z", day)


def cell_keys(c: int) -> dict:
    dtype = "float64" if c % 2 else "float32"
    device = "cpu" if c < 20 else "cuda"
    size = SIZES[(c // 2) % 5]
    params = json.dumps({"flags": "-default_F 100 -N 5", "N": 5 + c // 10}, sort_keys=True)
    return {
        "cell_tag": f"device={device},dtype={dtype},size={size},N={5 + c // 10}",
        "target": "simulator",
        "device": device,
        "dtype": dtype,
        "size": size,
        "params": params,
        "device_name": "bench device",
        "threads": 2,
        "torch_version": "2.13.0",
        "node": "bench-host",
        "node_id": "ab" * 28,
        "node_ip": "10.0.0.1",
    }


def build(root: Path, nights: int, cells: int) -> float:
    """Write the tree; return the median seconds of one night's summarise_bundle."""
    rng = random.Random(0)
    summarise_s = []
    for night in range(nights):
        stamp = stamp_of(night)
        bundle = root / "nightly" / "grid" / stamp
        (bundle / "tables").mkdir(parents=True)
        env = {"torch": "2.13.0", "git_sha": f"{night:040x}", "ray": {"nodes": [{"alive": True}]}}
        (bundle / "env.json").write_text(json.dumps(env))
        for c in range(cells):
            cid = f"{c:04d}cell0000"
            keys = cell_keys(c)
            level = 0.01 * (1 + c % 7) * (1.3 if night >= STEP_NIGHT else 1.0)
            rows = [{**keys, "phase": "cold", "iteration": 0, "total_s": level * 20}]
            rows += [
                {
                    **keys,
                    "phase": "warm",
                    "iteration": i,
                    "total_s": level * rng.gauss(1, 0.02),
                    "peak_mem_mb": 500.0 + c,
                }
                for i in range(5)
            ]
            rows.append({**keys, "phase": "profiled", "iteration": 0, "total_s": level * 1.2})
            for r in rows:
                r.update(status="ok", git_sha=f"{night:040x}")
            write_rows(bundle, "runs", cid, rows, stamp=stamp)
            corr = {**keys, "corr": 0.99999, "sum_ratio": 1.0, "verdict": "pass", "status": "ok"}
            write_rows(bundle, "correlations", cid, [corr], stamp=stamp)
            hot = [
                {
                    **keys,
                    "loop_id": f"loop{k:02d}",
                    "module": "simulator/engine.py",
                    "line": 200 + k,
                    "pct_of_run": max(0.1, 40.0 / (k + 1) + rng.gauss(0, 1)),
                }
                for k in range(12)
            ]
            write_rows(bundle, "hot_loops", cid, hot, stamp=stamp)
        t = time.perf_counter()
        summarise_bundle(bundle)
        summarise_s.append(time.perf_counter() - t)
        if night % 50 == 0:
            print(f"  built night {night + 1}/{nights}", flush=True)
    return statistics.median(summarise_s)


def timed(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def cli_seconds(args: list[str], repeat: int) -> tuple[float, int]:
    return cli_seconds_raw(["-m", "farm", *args], repeat)


def cli_seconds_raw(args: list[str], repeat: int) -> tuple[float, int]:
    best, rc = float("inf"), 0
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False)
        best = min(best, time.perf_counter() - t)
        rc = proc.returncode
    return best, rc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nights", type=int, default=365)
    ap.add_argument("--cells", type=int, default=40)
    ap.add_argument("--keep", type=Path, default=None, help="tree to build once and reuse")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="farm-year-"))
    if not (root / "nightly" / "grid").is_dir():
        print(f"building {args.nights} nights x {args.cells} cells under {root} ...")
        t = time.perf_counter()
        per_night = build(root, args.nights, args.cells)
        print(
            f"built in {time.perf_counter() - t:.0f} s; summarise_bundle per night "
            f"{per_night * 1000:.0f} ms (median)"
        )
    n_parts = sum(1 for _ in root.glob("nightly/grid/*/tables/*/part-*.parquet"))
    print(f"tree: {root} ({n_parts} Parquet parts)\n")

    rows = []
    t_h, hist = timed(lambda: history(root, metric="warm_s"), args.repeat)
    found = sum(len(s.change_points) for s in hist.series)
    rows.append(("history --metric warm_s", t_h, f"{len(hist.series)} series, {found} steps"))
    t_p, pct = timed(lambda: history(root, metric="pct_of_run"), args.repeat)
    rows.append(("history --metric pct_of_run", t_p, f"{len(pct.series)} series"))
    base, new = newest_pair(root)
    # every night has its own commit: compared as farm nightly does (a commit change allowed)
    opts = CompareOptions(allow_commit=True)
    t_c, cmp = timed(lambda: compare_bundles(base, new, opts), args.repeat)
    rows.append(("compare (two newest)", t_c, f"{len(cmp.cells)} cells, exit {cmp.exit_code}"))
    reports = ["--reports", str(root)]
    for name, argv in (
        ("farm history --metric warm_s", ["history", *reports]),
        ("farm history --metric pct_of_run", ["history", "--metric", "pct_of_run", *reports]),
        ("farm compare --force", ["compare", "--force", *reports]),
    ):
        t, rc = cli_seconds(argv, args.repeat)
        rows.append((name + " (CLI)", t, f"exit {rc}"))
    t, _ = cli_seconds_raw(
        ["-c", "import duckdb, pyarrow.parquet, ruptures, scipy.stats, typer, rich"], args.repeat
    )
    rows.append(("(their imports alone: python -c 'import ...')", t, "scipy via ruptures"))
    at_step = sum(
        1 for s in hist.series if [c.stamp for c in s.change_points] == [stamp_of(STEP_NIGHT)]
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average {load} ({os.cpu_count()} cores)")
    print(f"{'what':<42} {'best s':>7}  {'target':>6}  note")
    for name, t, note in rows:
        print(f"{name:<42} {t:7.3f}  {'<= 2':>6}  {note}")
    print(
        f"\nseries whose only change point is night {STEP_NIGHT + 1} ({stamp_of(STEP_NIGHT)}): "
        f"{at_step} of {len(hist.series)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
