"""Radial shells: the sum ratio of image and reference per shell of 2θ (or of radius).

A ratio that changes from shell to shell points at a factor that depends on the scattering
angle rather than at a global scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.parity.arrays import ratio


@dataclass(frozen=True)
class Shell:
    """One radial shell: its coordinate range (rad of 2θ, or pixels), pixel count, sums."""

    inner: float
    outer: float
    n_pixels: int
    sum_image: float
    sum_reference: float

    @property
    def sum_ratio(self) -> float:
        """``sum_image / sum_reference`` (NaN where the reference sums to 0)."""
        return ratio(self.sum_image, self.sum_reference)


@dataclass(frozen=True)
class ShellScale:
    """How a shell coordinate is shown: its name, the unit shown, the factor to that unit."""

    name: str
    unit: str
    factor: float

    @property
    def heading(self) -> str:
        """``"2θ (deg)"``: what a column of shell ranges holds."""
        return f"{self.name} ({self.unit})"

    def span(self, shell: Shell) -> str:
        """``"1.25-2.50"``: the shell's range in the unit shown."""
        return f"{shell.inner * self.factor:.2f}-{shell.outer * self.factor:.2f}"


#: The shell coordinates :func:`radial_shells` is given (``ParityReport.shell_unit``), and
#: how each is shown: 2θ is computed in radians and shown in degrees.
SHELL_SCALES = {
    "twotheta_rad": ShellScale("2θ", "deg", 180.0 / math.pi),
    "radius_px": ShellScale("radius", "px", 1.0),
}


def twotheta_map(setup: Any) -> np.ndarray:
    """Scattering angle 2θ (rad) at every pixel centre, ``[spixels, fpixels]``.

    Uses a resolved ``Setup``'s ``pix0``, ``fdet``, ``sdet``, ``pixel_size`` and the first
    source's ``incident`` direction: ``2θ = acos(d·i)`` with ``d`` the unit vector to
    ``pix0 + (i+½)px·f + (j+½)px·s``.
    """
    px = float(setup.pixel_size)
    f = (np.arange(setup.fpixels) + 0.5) * px  # [F]
    s = (np.arange(setup.spixels) + 0.5) * px  # [S]
    p0, fd, sd = (np.asarray(v, dtype=np.float64) for v in (setup.pix0, setup.fdet, setup.sdet))
    inc = np.asarray(setup.incident, dtype=np.float64).reshape(-1, 3)[0]
    inc = inc / np.linalg.norm(inc)
    # |P|^2 and P.i from dot products, so no [S, F, 3] array is ever built
    r2 = (
        p0 @ p0
        + (s * s)[:, None] * (sd @ sd)
        + (f * f)[None, :] * (fd @ fd)
        + 2.0 * s[:, None] * (p0 @ sd)
        + 2.0 * f[None, :] * (p0 @ fd)
        + 2.0 * s[:, None] * f[None, :] * (sd @ fd)
    )
    along = (p0 @ inc) + s[:, None] * (sd @ inc) + f[None, :] * (fd @ inc)
    return np.arccos(np.clip(along / np.sqrt(r2), -1.0, 1.0))


def radius_map(shape: tuple[int, int], beam_center: tuple[float, float] | None) -> np.ndarray:
    """Distance (pixels) of each pixel centre from ``beam_center`` = (slow, fast) pixels.

    Without a beam centre, the image centre is used.
    """
    ns, nf = shape
    centre_s, centre_f = beam_center if beam_center is not None else (ns / 2.0, nf / 2.0)
    ss, ff = np.mgrid[0:ns, 0:nf]
    return np.hypot(ss + 0.5 - centre_s, ff + 0.5 - centre_f)


def radial_shells(
    image: np.ndarray, reference: np.ndarray, coord: np.ndarray, n_shells: int = 10
) -> list[Shell]:
    """Sum of each image in ``n_shells`` equal-width shells of ``coord``."""
    lo, hi = float(np.min(coord)), float(np.max(coord))
    edges = np.linspace(lo, hi, n_shells + 1)
    which = np.clip(np.searchsorted(edges, coord.ravel(), side="right") - 1, 0, n_shells - 1)
    cnt = np.bincount(which, minlength=n_shells)
    si = np.bincount(which, weights=image.ravel(), minlength=n_shells)
    sr = np.bincount(which, weights=reference.ravel(), minlength=n_shells)
    return [
        Shell(float(edges[k]), float(edges[k + 1]), int(cnt[k]), float(si[k]), float(sr[k]))
        for k in range(n_shells)
    ]
