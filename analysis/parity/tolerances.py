"""Named tolerances for parity between two images: the thresholds our users work to.

Every verdict the farm gives (for any target, against any reference) takes its numbers from
here, so a threshold is changed in one place and its reason stays next to it. Tolerances
that only the simulator's own tests use live in :mod:`simulator.testing`.
"""

from __future__ import annotations

#: The standard gate: Pearson correlation of the float images against the C program.
GATE_CORR = 0.999

#: Simple cubic cases (the seed case, default geometry) are held to this correlation.
STRICT_CORR = 0.9999

#: |sum(image) / sum(reference) - 1| must not exceed this.
SUM_RATIO_TOL = 5e-3

#: Brightest peaks land on the same pixel: matched when within this many pixels.
PEAK_MATCH_PX = 1.0

#: Default relative tolerance for the per-pixel "fraction over tolerance" metric.
PIXEL_RTOL = 1e-3

#: Noise images (``-noisefile`` with ``-seed``): at least this fraction of pixels equal to the
#: C program's.
NOISE_EQUAL_FRACTION = 0.999
