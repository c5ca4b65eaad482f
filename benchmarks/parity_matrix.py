"""The parity table on the case matrix: engine (float64, float32), built-in reference, C binary.

    NB_C_BIN=/path/to/nanoBragg python benchmarks/parity_matrix.py [--cases seed phi …]

Prints, per case, Pearson r and sum ratio of: engine float64 vs C, engine float32 vs C,
built-in reference vs C, engine float64 vs built-in. Without NB_C_BIN only the last column
is filled. The C binary runs with one OpenMP thread: with several, the phi = 0 orientation reuse
and the pixel where interpolation stops depend on thread order (see README, "Tricubic").
Then, per noise case (``-noisefile`` with ``-seed``), the percentage of noise-image pixels
equal between the same pairs, and the overload counts (C, engine float64, engine float32).
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

from simulator import Simulation, parse_flags, resolve, to_flags
from simulator.noise import NoiseImage, noise_image
from simulator.parity_cases import NOISE_CASES, PARITY_CASES, case_flags, write_case_data
from simulator.reference import render_reference
from simulator.reference.builtin import render_setup
from simulator.reference.nanobragg import run_nanobragg


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1]), float(a.sum() / b.sum())


def _noise_table(cases: list[str], data: str, c_bin: str | None) -> float:
    """Print the noise rows; return the lowest fraction of equal pixels."""
    cols = ["engine64 vs C", "engine32 vs C", "builtin vs C", "engine64 vs builtin"]
    print(
        f"\n{'noise case':<26}" + "".join(f"{c:>20}" for c in cols) + f"{'overloads C/64/32':>20}"
    )
    worst = 1.0
    for case in cases:
        cfg = parse_flags(case_flags(case, data))
        setup, out = resolve(cfg), cfg.output

        def noisy(image: np.ndarray, setup=setup, out=out) -> NoiseImage:
            return noise_image(image, out.seed, out.adc, setup.roi, setup.notes["ran1_state"])

        e64 = noisy(Simulation(setup, dtype="float64").render().numpy())
        e32 = noisy(Simulation(setup, dtype="float32").render().numpy())
        builtin = noisy(render_setup(setup))
        nan = float("nan")
        c_over = "-"
        if c_bin:
            ref = run_nanobragg(to_flags(cfg, include_outputs=True), c_bin, noise=True)
            c_over = ref.noise_report.split("(")[1].split()[0]
            same = [float(np.mean(n.pixels == ref.noise)) for n in (e64, e32, builtin)]
        else:
            same = [nan] * 3
        same.append(float(np.mean(e64.pixels == builtin.pixels)))
        worst = min([worst, *(v for v in same if v == v)])
        overloads = f"{c_over}/{e64.overloads}/{e32.overloads}"
        print(f"{case:<26}" + "".join(f"{100 * v:>19.3f}%" for v in same) + f"{overloads:>20}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(PARITY_CASES))
    parser.add_argument("--noise-cases", nargs="*", default=list(NOISE_CASES))
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
        noise_worst = _noise_table(args.noise_cases, str(data), c_bin)
    print(f"lowest correlation over the matrix: {worst:.9f}")
    print(f"lowest fraction of equal noise pixels: {100 * noise_worst:.3f}%")


if __name__ == "__main__":
    main()
