"""Random nanoBragg command lines, the C binary against the engine, from the raw flags.

    NB_C_BIN=/path/to/nanoBragg python benchmarks/flag_fuzz.py [--seed 1] [--combos 60]

Each command line takes one choice from every flag group below (crystal, N, crystal size,
interpolation, shape, misset, beam, mosaic, phi, convention, detector, pixels, sensor,
polarisation, oversampling, misc) at up to 64² pixels. The C binary runs it on one thread,
with its own output flags put first (it reads `-misset_seed N A B` as `-misset N A B`, so
nothing may follow the user's flags). The engine renders it in float64 (``--dtype``). A
combination is a mismatch when r < 0.9999 or |sum − 1| > 1e-3. It is skipped when C's image
is not finite (float overflow) or its brightest pixel is below 1e-30 photons (C stores
float32: its pixels are subnormal there, or zero), and its r is not taken when both images
are flat.
Prints every mismatch and a summary; exit 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.parity.metrics import compare_images
from simulator import Simulation, parse_flags
from simulator.parity_cases import write_case_data
from simulator.reference.nanobragg import find_binary

GROUPS: dict[str, list[str]] = {
    "crystal": [
        "-default_F 100 -cell 100 100 100 90 90 90",
        "-hkl {d}/P1.hkl -cell 70 80 90 85 95 100",
        "-hkl {d}/P1.hkl -mat {d}/A.mat",
        "-default_F 50 -cell 50 60 70 90 90 90",
    ],
    "N": ["-N 5", "-Na 3 -Nb 4 -Nc 5", "-N 2", "-N 8"],
    "size": ["", "", "-xtalsize 0.0005", "-xtal_thick 0.0002 -xtal_width 0.0003"],
    "interpolation": ["", "", "-interpolate", "-nointerpolate"],
    "shape": ["", "-round_xtal", "-gauss_xtal", "-tophat_spots", "-square_xtal -fudge 1.5"],
    "misset": ["", "-misset 10 20 30", "-misset random -misset_seed 3"],
    "beam": [
        "-lambda 1",
        "-lambda 1.5 -dispersion 0.1 -dispsteps 3",
        "-energy 12000",
        "-lambda 1 -divergence 0.5 -divsteps 3",
        "-lambda 1 -hdivrange 0.3 -vdivrange 0.2 -hdivsteps 2 -vdivsteps 3 -round_div",
        "-sourcefile {d}/sources.txt",
    ],
    "mosaic": ["", "-mosaic 0.5 -mosaic_domains 4 -mosaic_seed 9"],
    "phi": ["", "-phi 10 -osc 2 -phisteps 3", "-phi 0 -osc 1 -phistep 0.5"],
    "convention": ["", "-mosflm", "-xds", "-adxv", "-denzo", "-dials"],
    "detector": [
        "-distance 80",
        "-distance 120 -twotheta 15",
        "-close_distance 90 -detector_rotx 2 -detector_roty 3",
        "-distance 100 -Xbeam 3 -Ybeam 4",
        "-distance 90 -pivot sample -twotheta 10",
        "-distance 100 -curved_det",
        "-distance 100 -twotheta 5 -twotheta_axis 0 1 0",
    ],
    "pixels": [
        "-detpixels 64 -pixel 0.1",
        "-detpixels 48 -pixel 0.2",
        "-detpixels_f 60 -detpixels_s 40 -pixel 0.15",
        "-detsize 6 -pixel 0.1",
    ],
    "sensor": ["", "-detector_thick 100 -detector_abs 50 -detector_thicksteps 2"],
    "polarisation": ["", "-nopolar", "-polar 0.8", "-point_pixel"],
    "oversampling": [
        "",
        "-oversample 2",
        "-oversample 2 -oversample_omega -oversample_polar",
        "-oversample 2 -oversample_thick",
    ],
    "misc": [
        "",
        "-roi 5 40 3 30",
        "-dmin 3",
        "-water 50",
        "-fluence 1e25",
        "-flux 1e12 -exposure 1 -beamsize 0.1",
    ],
}
STRICT_CORR = 0.9999
#: an image whose brightest pixel is below this is noise of C's float32 storage (its pixels
#: are subnormal there), not a comparison
TINY = 1e-30
SUM_TOL = 1e-3


def c_image(binary: str, flags: str) -> np.ndarray | None:
    """The C program's float image of ``flags`` (one thread), or None when it wrote none."""
    with tempfile.TemporaryDirectory() as wd:
        subprocess.run(
            [binary, "-floatfile", "c.bin", "-nonoise", "-nopgm", *shlex.split(flags)],
            cwd=wd,
            capture_output=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            timeout=300,
            check=False,
        )
        path = Path(wd) / "c.bin"
        return np.fromfile(path, dtype=np.float32).astype(float) if path.exists() else None


def main() -> int:
    """Draw the command lines, compare each, print the mismatches and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--combos", type=int, default=60)
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    args = parser.parse_args()
    binary = str(find_binary(None))
    rng = random.Random(args.seed)
    counts = {"compared": 0, "skipped": 0, "flat": 0, "mismatch": 0}
    with tempfile.TemporaryDirectory() as data:
        write_case_data(data)
        for k in range(args.combos):
            flags = " ".join(p for p in (rng.choice(g) for g in GROUPS.values()) if p)
            flags = flags.format(d=data)
            ours = Simulation(parse_flags(flags), dtype=args.dtype).render().double().numpy()
            ref = c_image(binary, flags)
            if ref is None or ref.size != ours.size:
                counts["mismatch"] += 1
                print(f"[{k}] C image {'missing' if ref is None else ref.size} vs {ours.shape}")
                print(f"    {flags}")
                continue
            ref = ref.reshape(ours.shape)
            if not np.isfinite(ref).all() or np.abs(ref).max() < TINY:
                counts["skipped"] += 1
                continue
            report = compare_images(ours, ref)
            flat = not np.ptp(ref) and not np.ptp(ours)
            counts["flat"] += flat
            counts["compared"] += 1
            if (not flat and report.corr < STRICT_CORR) or abs(report.sum_ratio - 1) > SUM_TOL:
                counts["mismatch"] += 1
                print(f"[{k}] r = {report.corr:.6f}, sum ratio {report.sum_ratio:.6f}")
                print(f"    {flags}")
    print(
        f"seed {args.seed} ({args.dtype}): {args.combos} command lines; "
        f"{counts['compared']} compared "
        f"({counts['flat']} flat), {counts['skipped']} skipped (overflow, or below 1e-30), "
        f"{counts['mismatch']} mismatched"
    )
    return 1 if counts["mismatch"] else 0


if __name__ == "__main__":
    sys.exit(main())
