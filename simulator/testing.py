"""Named tolerances for parity between images (the thresholds our users work to).

Every test and every verdict that compares two images takes its numbers from here, so a
threshold is changed in one place and its reason stays next to it.
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

#: The same engine in float32 against float64.
FP32_VS_FP64_CORR = 0.9999

#: The built-in reference against the PyTorch engine, both in float64, on the case matrix.
BUILTIN_VS_ENGINE_CORR = 0.99999

#: Sum ratio between two float64 implementations of the same physics.
BUILTIN_VS_ENGINE_SUM_TOL = 1e-6
