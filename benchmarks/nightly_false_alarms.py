"""False alarms of farm compare: identical reruns of one grid, each compared with the last.

Usage:
    python benchmarks/nightly_false_alarms.py                       # 10 reruns of smoke.toml
    python benchmarks/nightly_false_alarms.py --runs 10 --grid configs/smoke.toml \
        --keep /tmp/false-alarms

Runs the grid ``--runs`` times through the farm (one local Ray for all), then compares every
night with the one before (``--runs - 1`` comparisons) with the default rule (10 %, alpha
0.05) and prints, per comparison and cell, the warm ratio, its interval, p and whether it
was flagged, and the load average at each run. Target: 0 flagged. Nothing changes between
the runs, so every flag is a false alarm.

``--threads`` pins the CPU actor's torch threads (default 1; 0 keeps the grid's setting,
which for smoke.toml is every CPU of the node): with 2 OpenMP threads on a 2-core machine
that other jobs load, whole cells were measured at 0.4 ms a render one night and 90 ms the
next (threads waiting at barriers), which no test on the warm samples can tell from a
regression.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.nights.bundles import BundleRef  # noqa: E402
from analysis.nights.compare import compare_bundles  # noqa: E402
from farm.driver import SweepOptions, run_sweep  # noqa: E402
from farm.grid import load_grid, parse_grid  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default=str(ROOT / "configs" / "smoke.toml"))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--keep", type=Path, default=None, help="reports root to keep")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: the grid's)")
    args = ap.parse_args()
    import ray

    reports = args.keep or Path(tempfile.mkdtemp(prefix="farm-false-alarms-"))
    grid = load_grid(args.grid)
    if args.threads:
        text = f"threads = {args.threads}\n" + grid.text
        grid = parse_grid(text, reports / "grid.toml")
    ray.init(include_dashboard=False, log_to_driver=False)
    refs = []
    for i in range(args.runs):
        t = time.perf_counter()
        out = run_sweep(grid, SweepOptions(reports=reports, argv=["farm", "sweep"]))
        refs.append(BundleRef.of(out.bundle.path))
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        took = time.perf_counter() - t
        print(f"run {i + 1}: {out.bundle.stamp} {out.counts} {took:.1f} s, load {load}")
    ray.shutdown()
    flagged = total = 0
    print(f"\n{'base':>16} {'new':>16}  cell  ratio  [CI]  p  flagged")
    for base, new in itertools.pairwise(refs):
        cmp = compare_bundles(base, new)
        for c in cmp.cells:
            t = c.timing
            total += 1
            bad = bool(c.regressions)
            flagged += bad
            ci = "n/a" if t is None or t.ci_low is None else f"[{t.ci_low:.3f}, {t.ci_high:.3f}]"
            ratio = "n/a" if t is None else f"x{t.ratio:.3f}"
            p = "n/a" if t is None or t.p_value is None else f"{t.p_value:.3f}"
            print(f"{base.stamp} {new.stamp}  {c.tag}  {ratio}  {ci}  p={p}  {bad}")
            for r in c.regressions:
                print(f"    {r}")
    print(f"\nfalse alarms: {flagged} of {total} cell comparisons ({len(refs) - 1} comparisons)")
    print(f"reports: {reports}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
