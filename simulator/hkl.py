"""Structure factors: reading a P1 HKL text file into a dense grid."""

from __future__ import annotations

import math

import numpy as np

from simulator.setup import HKLGrid


class HKLError(ValueError):
    """The HKL file cannot be read."""


def read_hkl(path: str, default_F: float = 0.0) -> HKLGrid:
    """Read ``h k l F`` lines (whitespace separated; extra columns ignored).

    Every reflection in the bounding box that the file does not list gets ``default_F``;
    no symmetry is applied (not even Friedel's), as in nanoBragg.

    Raises:
        HKLError: unreadable file, a malformed line, a non-integer index, or no reflections.
    """
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError as exc:
        raise HKLError(f"-hkl: cannot read {path}: {exc.strerror}") from None
    indices: list[tuple[int, int, int]] = []
    amplitudes: list[float] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            h, k, l, F = (float(x) for x in fields[:4])  # noqa: E741
            if len(fields) < 4:
                raise ValueError
        except ValueError:
            raise HKLError(
                f"-hkl {path} line {number}: expected 'h k l F', got {line.strip()!r}"
            ) from None
        if not all(math.isfinite(v) and v == round(v) for v in (h, k, l)) or not math.isfinite(F):
            raise HKLError(
                f"-hkl {path} line {number}: non-integer or non-finite value in {line.strip()!r}"
            )
        indices.append((int(h), int(k), int(l)))
        amplitudes.append(F)
    if not indices:
        raise HKLError(f"-hkl {path}: no reflections in the file")
    hkl = np.array(indices, dtype=np.int64)
    low = hkl.min(axis=0)
    extent = hkl.max(axis=0) - low + 1
    grid = np.full(tuple(int(e) for e in extent), float(default_F))
    offset = hkl - low
    grid[offset[:, 0], offset[:, 1], offset[:, 2]] = amplitudes
    return HKLGrid(
        F=grid,
        h_min=int(low[0]),
        k_min=int(low[1]),
        l_min=int(low[2]),
        default_F=float(default_F),
        count=len(indices),
    )
