"""Incident-beam sources: the divergence × dispersion grid, or a source file."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from simulator.rotation import rotation_axis, unit

SOURCE_DISTANCE_M = 10.0  # nanoBragg places generated sources 10 m upstream


class SourceError(ValueError):
    """The source definition cannot be read."""


@dataclass(frozen=True)
class StepGrid:
    """A sampled range: ``steps`` points ``step`` apart over ``range``."""

    range: float
    step: float
    steps: int


def resolve_steps(
    value_range: float | None,
    step: float | None,
    steps: int | None,
    *,
    unset_range: float = -1.0,
    steps_only_range: float = 1.0,
) -> StepGrid:
    """nanoBragg's rule for a sampled range given any of range, step and count.

    Missing values are derived from the given ones (count from range/step, step from
    range/(count-1)…); a degenerate result collapses to a single point. ``unset_range`` is
    what nanoBragg initialises the range to (−1, or 0 for the dispersion); with only a count,
    the range becomes ``steps_only_range``.
    """
    rng = unset_range if value_range is None else value_range
    stp = -1.0 if step is None else step
    n = -1 if steps is None else steps
    if n <= 0:
        if rng < 0.0:
            if stp <= 0.0:
                n, rng, stp = 1, 0.0, 0.0
            else:
                rng, n = stp, 2
        elif stp <= 0.0:
            stp, n = rng, 2
        else:
            n = math.ceil(rng / stp)
    elif rng < 0.0:
        if stp <= 0.0:
            rng = steps_only_range
            stp = rng / n
        else:
            rng, n = stp, 2
    elif stp <= 0.0:
        n = max(n, 2)
        stp = rng / (n - 1)
    if rng <= 0.0 or stp <= 0.0 or n <= 0:
        n, rng, stp = 1, 0.0, 0.0
    return StepGrid(rng, stp, n)


def divergence_sources(
    beam: np.ndarray,
    polar: np.ndarray,
    wavelength: float,
    hdiv: StepGrid,
    vdiv: StepGrid,
    disp: StepGrid,
    round_div: bool,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Sources on a divergence grid (corners dropped when ``round_div``) times wavelengths.

    Each direction is the upstream point ``-10 m · beam`` rotated by ``vdiv`` about the
    polarisation axis, then by ``hdiv`` about ``beam × polar``; wavelengths are
    ``λ0·(1 + k·step − dispersion/2)``.

    Returns:
        incident unit vectors (n, 3), wavelengths (n,) in m, and the number of directions.
    """
    vert = unit(np.cross(beam, polar))
    directions = []
    for h_tic in range(hdiv.steps):
        for v_tic in range(vdiv.steps):
            h_angle = hdiv.step * h_tic - hdiv.range / 2.0
            v_angle = vdiv.step * v_tic - vdiv.range / 2.0
            with np.errstate(divide="ignore", invalid="ignore"):
                test = np.float64(
                    h_angle * h_angle - hdiv.step * hdiv.step / 4.0 * (1 - hdiv.steps % 2)
                ) / np.float64(hdiv.range * hdiv.range) + np.float64(
                    v_angle * v_angle - vdiv.step * vdiv.step / 4.0 * (1 - vdiv.steps % 2)
                ) / np.float64(vdiv.range * vdiv.range)
            if round_div and test * 4.0 > 1.1:
                continue
            point = -SOURCE_DISTANCE_M * beam
            point = rotation_axis(polar, v_angle) @ point
            point = rotation_axis(vert, h_angle) @ point
            directions.append(point)
    lambdas = [wavelength * (1.0 + disp.step * k - disp.range / 2.0) for k in range(disp.steps)]
    points = np.array([p for p in directions for _ in lambdas]).reshape(-1, 3)
    wavelengths = np.array([lam for _ in directions for lam in lambdas])
    incident = -np.array([unit(p) for p in points]).reshape(-1, 3)
    return incident, wavelengths, len(directions)


_DELIMITERS = re.compile(r"[\s,;:!]+")


def read_source_file(
    path: str, beam: np.ndarray, wavelength: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sources from a text file: ``X Y Z weight wavelength`` per line (m, m, m, -, m).

    Missing columns take nanoBragg's defaults (10 m upstream along the beam, weight 1, the
    beam's wavelength). The weight is read but, as in nanoBragg, not applied.

    Returns:
        incident unit vectors (n, 3) and wavelengths (n,) in m.
    """
    rows = []
    try:
        with open(path) as handle:
            lines = handle.readlines()
    except OSError as exc:
        raise SourceError(f"-sourcefile: cannot read {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, start=1):
        tokens = [t for t in _DELIMITERS.split(line.strip()) if t]
        if not tokens:
            continue
        try:
            values = [float(t) for t in tokens[:5]]
        except ValueError:
            raise SourceError(
                f"-sourcefile {path} line {number}: expected numbers X Y Z weight lambda, "
                f"got {line.strip()!r}"
            ) from None
        values += [math.nan] * (5 - len(values))
        defaults = [*(-SOURCE_DISTANCE_M * beam), 1.0, wavelength]
        rows.append([d if math.isnan(v) else v for v, d in zip(values, defaults, strict=True)])
    if not rows:
        raise SourceError(f"-sourcefile {path}: no sources in the file")
    table = np.array(rows)
    incident = -np.array([unit(p) for p in table[:, :3]])
    return incident, table[:, 4].copy()
