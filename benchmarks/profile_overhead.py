"""Profiled against warm renders of the simulator, in one process, side by side.

    python benchmarks/profile_overhead.py [--size 4096] [--threads 2] [--rounds 3]

Case: the seed flags (``-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5
-distance 100 -detpixels N``), float32, CPU, torch pinned to ``--threads``. Each round runs,
in turn, a warm render and a profiled render (the farm's capture,
:func:`analysis.traces.capture.profile_call`, one render) of two ways to spread the blocks:

- ``threaded``: whole blocks per thread (what every render does now, profiled or not);
- ``one thread``: every block on the calling thread with torch's intra-op threads (what a
  profiled render did before the capture followed every thread).

It prints the median warm and profiled seconds per way, the median over rounds of the
profiled/warm ratio within a round (the farm flags a profile over 1.5x the warm median) with
its range, the median profiled render over the threaded warm median (what the farm's
overhead column showed: its warm renders are threaded), and the threads that ran operators
in the profile.
Rounds interleave the ways, so a busy machine weighs on both alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

SEED_FLAGS = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"


def main() -> None:
    """Parse the arguments, run the rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import simulator
    from analysis.traces.capture import profile_call
    from analysis.traces.ingest import trace_to_ops
    from simulator import Simulation
    from simulator import engine as engine_module

    sim = Simulation.from_flags(f"{SEED_FLAGS} -detpixels {args.size}")
    sim.render()
    threaded = engine_module.block_workers
    ways = {"threaded": threaded, "one thread": lambda device, compiled: 1}
    times: dict[str, dict[str, list[float]]] = {w: {"warm": [], "profiled": []} for w in ways}
    op_threads: dict[str, int] = {}
    root = Path(simulator.__file__).parent
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for way, workers in ways.items():
                engine_module.block_workers = workers
                try:
                    start = time.perf_counter()
                    sim.render()
                    times[way]["warm"].append(time.perf_counter() - start)
                    trace = Path(tmp) / f"{r}-{way.replace(' ', '_')}" / "trace.json.gz"
                    _, cap = profile_call(
                        sim.render, device="cpu", trace_path=trace, project_root=root
                    )
                finally:
                    engine_module.block_workers = threaded
                times[way]["profiled"].append(cap.wall_s)
                ops = trace_to_ops(trace, {"stamp": "b", "cell_id": way})
                kinds, threads = ops["kind"].to_pylist(), ops["thread"].to_pylist()
                op_threads[way] = len(
                    {t for k, t in zip(kinds, threads, strict=True) if k == "cpu_op"}
                )
    print(f"simulator {args.size}² float32 CPU, {args.threads} threads, {args.rounds} rounds")
    head = f"{'blocks':<12}{'warm s':>10}{'profiled s':>12}{'profiled/warm':>15}"
    print(f"{head}{'per round':>16}{'/threaded warm':>16}{'op threads':>12}")
    threaded_warm = statistics.median(times["threaded"]["warm"])
    for way, t in times.items():
        warm, prof = statistics.median(t["warm"]), statistics.median(t["profiled"])
        rounds = [p / w for p, w in zip(t["profiled"], t["warm"], strict=True)]
        spread = f"{min(rounds):.2f}-{max(rounds):.2f}"
        row = f"{way:<12}{warm:>10.3f}{prof:>12.3f}{statistics.median(rounds):>15.2f}"
        print(f"{row}{spread:>16}{prof / threaded_warm:>16.2f}{op_threads[way]:>12}")


if __name__ == "__main__":
    main()
