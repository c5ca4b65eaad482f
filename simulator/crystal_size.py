"""Crystal size: unit cells per axis from ``-N``/``-Na…`` and ``-xtalsize``/``-sample_*``.

nanoBragg's rules, in its order:

1. ``-N``/``-Na``/``-Nb``/``-Nc`` give the cell counts the flags asked for. The automatic
   choice of tricubic interpolation is made from these (any of them ≤ 2), *before* the
   crystal size is applied: ``-hkl F.hkl -xtalsize 0.001`` with no ``-N`` interpolates.
2. A crystal size along an axis (``-xtal_thick``/``-sample_x`` along a, ``-xtal_width``/
   ``-sample_y`` along b, ``-xtal_height``/``-sample_z`` along c, or ``-xtalsize``/
   ``-samplesize`` for all three; mm) that is > 0 wins over the count, whatever the flag
   order: ``N = ceil(size / |a|)``. Sizes across the beam (y and z) larger than the beam
   (``-beamsize``) are first clipped to it, with a warning.
3. Counts ≤ 1 become 1.

The resulting crystal dimensions ``|a|·Na`` … set the automatic oversampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CrystalSize:
    """Cell counts and the crystal's dimensions, as nanoBragg settles them.

    Attributes:
        counts: ``(Na, Nb, Nc)`` as floats (≥ 1).
        dimensions: ``(|a|·Na, |b|·Nb, |c|·Nc)`` in metres.
        warnings: what nanoBragg warns about (sizes clipped by the beam).
    """

    counts: tuple[float, float, float]
    dimensions: tuple[float, float, float]
    warnings: tuple[str, ...] = ()

    @property
    def largest(self) -> float:
        """The largest crystal dimension (m)."""
        return max(self.dimensions)


def cell_length_m(vector_A: tuple[float, float, float]) -> float:
    """``|v|`` in metres, computed as nanoBragg does: components scaled to m, then the norm."""
    x, y, z = (float(v) * 1e-10 for v in vector_A)
    return math.sqrt(x * x + y * y + z * z)


def crystal_size(
    flag_counts: tuple[int, int, int],
    sizes_mm: tuple[float | None, float | None, float | None],
    cell_lengths_m: tuple[float, float, float],
    beamsize_mm: float,
) -> CrystalSize:
    """Cell counts from the ``-N…`` values and the crystal size, by nanoBragg's rule.

    Args:
        flag_counts: ``(Na, Nb, Nc)`` as the flags gave them (1 when not given).
        sizes_mm: crystal size along a, b, c in mm (``None``: not given).
        cell_lengths_m: ``(|a|, |b|, |c|)`` in metres (see :func:`cell_length_m`).
        beamsize_mm: ``-beamsize`` (mm); sizes along b and c above it are clipped to it.

    Returns:
        The counts, the crystal's dimensions and any warnings.
    """
    sizes = [0.0 if s is None else s / 1000.0 for s in sizes_mm]
    warnings = []
    beam = beamsize_mm / 1000.0
    if beam >= 0.0:
        for axis, word in ((1, "high"), (2, "wide")):
            if beam < sizes[axis]:
                warnings.append(
                    f"clipping sample ({sizes[axis]:g} m {word}) with beam ({beam:g} m)"
                )
                sizes[axis] = beam
    counts = []
    for n, size, length in zip(flag_counts, sizes, cell_lengths_m, strict=True):
        value = float(n)
        if size > 0.0:
            value = float(math.ceil(size / length))
        counts.append(max(value, 1.0))
    dims = tuple(length * n for length, n in zip(cell_lengths_m, counts, strict=True))
    return CrystalSize(
        counts=(counts[0], counts[1], counts[2]),
        dimensions=(dims[0], dims[1], dims[2]),
        warnings=tuple(warnings),
    )


def auto_interpolate(flag_counts: tuple[int, int, int]) -> bool:
    """nanoBragg's automatic choice: interpolate when any ``-N…`` value is ≤ 2.

    It looks at the counts the flags gave, before the crystal size replaces them.
    """
    return min(flag_counts) <= 2


def recommended_oversample(
    largest_m: float, wavelength_m: float, distance_m: float, pixel_m: float
):
    """``ceil(3·size/(λ·distance/pixel))``, at least 1: sub-pixels per axis nanoBragg picks."""
    reciprocal_pixel = wavelength_m * distance_m / pixel_m
    return max(math.ceil(3.0 * largest_m / reciprocal_pixel), 1)
