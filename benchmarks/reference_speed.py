"""Time the built-in reference engine (and the nanoBragg binary, if NB_C_BIN is set).

Usage:
    python benchmarks/reference_speed.py [--sizes 256 1024] [--repeat 3] [--flags "..."]

Prints, per size: the one-off compile/cache-load time, the median of ``--repeat`` warm
renders (with min and max), and the C binary's wall time when NB_C_BIN names one.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numba

from simulator import parse_flags, resolve
from simulator.reference.builtin import render_setup, warm_up
from simulator.reference.nanobragg import run_nanobragg

SEED = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--flags", default=SEED, help="nanoBragg flags (without -detpixels)")
    args = ap.parse_args()
    print(f"host {platform.node()}  cpus {os.cpu_count()}  numba threads {numba.get_num_threads()}")
    print(f"flags: {args.flags}")
    c_bin = os.environ.get("NB_C_BIN")
    for size in args.sizes:
        setup = resolve(parse_flags(f"{args.flags} -detpixels {size}"))
        compile_s = warm_up(setup)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            render_setup(setup)
            times.append(time.perf_counter() - t0)
        line = (
            f"{size:5d}^2  builtin median {statistics.median(times):.3f} s "
            f"(min {min(times):.3f}, max {max(times):.3f}, n={len(times)}; "
            f"compile/load {compile_s:.2f} s)"
        )
        if c_bin:
            ref = run_nanobragg(f"{args.flags} -detpixels {size}".split(), c_bin)
            line += f"  nanoBragg C {ref.wall_s:.3f} s"
        print(line)


if __name__ == "__main__":
    main()
