"""False alarms of farm compare: identical reruns of one grid, each compared with the last.

Usage:
    python benchmarks/nightly_false_alarms.py                       # 10 reruns of smoke.toml
    python benchmarks/nightly_false_alarms.py --runs 10 --grid configs/smoke.toml \
        --keep /tmp/false-alarms

Runs the grid ``--runs`` times through the farm (one local Ray for all), then compares every
night with the one before (``--runs - 1`` comparisons) with the default rule (10 %, alpha
0.05, 1 ms noise floor) and prints, per comparison and cell, the warm ratio, its interval,
p and whether it was flagged, with the floor and without it (``--min-delta-ms 0``) side by
side, and the load average at each run. Target: 0 flagged. Nothing changes between the
runs, so every flag is a false alarm. ``--reuse DIR`` compares the bundles already in a
reports root (a ``--keep`` of an earlier run) without sweeping again.

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
from analysis.nights.compare import CompareOptions, compare_bundles  # noqa: E402
from farm.driver import SweepOptions, run_sweep  # noqa: E402
from farm.grid import load_grid, parse_grid  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default=str(ROOT / "configs" / "smoke.toml"))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--keep", type=Path, default=None, help="reports root to keep")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: the grid's)")
    ap.add_argument("--reuse", type=Path, default=None, help="compare this root's bundles")
    args = ap.parse_args()
    refs = reused(args.reuse) if args.reuse else sweep(args)
    return report(refs)


def reused(root: Path) -> list[BundleRef]:
    """The bundles of an earlier run's reports root, oldest first."""
    found = sorted(p.parent for p in root.glob("*/*/*/env.json"))
    return [BundleRef.of(p) for p in found]


def sweep(args: argparse.Namespace) -> list[BundleRef]:
    """Run the grid ``--runs`` times on one local Ray; the bundles, oldest first."""
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
    return refs


def report(refs: list[BundleRef]) -> int:
    """Compare each night with the one before, with the floor and without; print the rows."""
    rules = {"floor": CompareOptions(), "no floor": CompareOptions(min_delta_s=0.0)}
    flagged = dict.fromkeys(rules, 0)
    total = 0
    print(f"\n{'base':>16} {'new':>16}  cell  ratio  [CI]  p  median ms  flagged: floor / none")
    for base, new in itertools.pairwise(refs):
        by_rule = {name: compare_bundles(base, new, o) for name, o in rules.items()}
        cells = {name: {c.tag: c for c in cmp.cells} for name, cmp in by_rule.items()}
        for c in by_rule["floor"].cells:
            t = c.timing
            total += 1
            bad = {name: bool(cells[name][c.tag].regressions) for name in rules}
            for name, b in bad.items():
                flagged[name] += b
            ci = "n/a" if t is None or t.ci_low is None else f"[{t.ci_low:.3f}, {t.ci_high:.3f}]"
            ratio = "n/a" if t is None else f"x{t.ratio:.3f}"
            p = "n/a" if t is None or t.p_value is None else f"{t.p_value:.3f}"
            ms = "n/a" if t is None else f"{t.base_median * 1e3:.3g}->{t.new_median * 1e3:.3g}"
            flags = " / ".join(str(b) for b in bad.values())
            print(f"{base.stamp} {new.stamp}  {c.tag}  {ratio}  {ci}  p={p}  {ms}  {flags}")
            for r in cells["no floor"][c.tag].regressions:
                print(f"    {'counted' if bad['floor'] else 'under the floor'}: {r}")
    pairs = len(refs) - 1
    for name, n in flagged.items():
        print(f"false alarms ({name}): {n} of {total} cell comparisons ({pairs} comparisons)")
    print(f"reports: {refs[0].path.parents[2] if refs else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
