"""Crystal lattice set-up: cell vectors, orientation, spindle steps and mosaic domains."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.rotation import rotate_xyz_like_c, rotation_axis


class CrystalError(ValueError):
    """The crystal cannot be built from the given cell or matrix."""


@dataclass(frozen=True)
class Lattice:
    """Real and reciprocal cell vectors of the unrotated (phi = 0) crystal.

    ``a, b, c`` are in Angstrom; ``a_star, b_star, c_star`` in 1/Angstrom.
    """

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    a_star: np.ndarray
    b_star: np.ndarray
    c_star: np.ndarray
    volume: float  # Å^3


def _fill_cell(cell: tuple[float, ...]) -> tuple[float, float, float, float, float, float]:
    """``a b c`` (Å) and ``α β γ`` (rad) with nanoBragg's fill-ins for missing values."""
    values = list(cell) + [0.0] * (6 - len(cell))
    a = values[0]
    if a <= 0:
        raise CrystalError(f"-cell: expected a positive cell length a, got {a!r}")
    b = values[1] if values[1] > 0 else a
    c = values[2] if values[2] > 0 else a
    alpha, beta, gamma = (math.radians(v) if v > 0 else math.pi / 2 for v in values[3:6])
    return a, b, c, alpha, beta, gamma


def cell_volume(cell: tuple[float, ...]) -> float:
    """Cell volume (Å^3): ``2abc·sqrt(|sin(s)sin(s-α)sin(s-β)sin(s-γ)|)``, ``s = (α+β+γ)/2``."""
    a, b, c, alpha, beta, gamma = _fill_cell(cell)
    half = (alpha + beta + gamma) / 2
    skew = math.sin(half) * math.sin(half - alpha) * math.sin(half - beta) * math.sin(half - gamma)
    volume = 2.0 * a * b * c * math.sqrt(abs(skew))
    if volume <= 0.0:
        raise CrystalError(f"-cell: the cell {tuple(cell)} has no volume")
    return volume


def reciprocal_from_cell(cell: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reciprocal basis (1/Å) of a cell in nanoBragg's default orientation.

    ``cell`` is ``a b c alpha beta gamma`` (Å, degrees); missing lengths take ``a`` and
    missing angles 90°, as nanoBragg fills them. a* lies along x, b* in the x-y plane:
    ``|a*| = bc·sin(α)/V`` etc., ``cos(α*) = (cos β cos γ − cos α)/(sin β sin γ)`` etc.
    """
    a, b, c, alpha, beta, gamma = _fill_cell(cell)
    inv_v = 1.0 / cell_volume(cell)
    a_s = b * c * math.sin(alpha) * inv_v
    b_s = c * a * math.sin(beta) * inv_v
    c_s = a * b * math.sin(gamma) * inv_v
    cos_as = (math.cos(beta) * math.cos(gamma) - math.cos(alpha)) / (
        math.sin(beta) * math.sin(gamma)
    )
    cos_bs = (math.cos(gamma) * math.cos(alpha) - math.cos(beta)) / (
        math.sin(gamma) * math.sin(alpha)
    )
    cos_gs = (math.cos(alpha) * math.cos(beta) - math.cos(gamma)) / (
        math.sin(alpha) * math.sin(beta)
    )
    sin_gs = max(min(c * inv_v / a_s / b_s, 1.0), -1.0)
    # nanoBragg clamps an out-of-range cosine to +1
    cos_as, cos_bs, cos_gs = (1.0 if x * x > 1.0 else x for x in (cos_as, cos_bs, cos_gs))
    a_star = np.array([a_s, 0.0, 0.0])
    b_star = np.array([b_s * cos_gs, b_s * sin_gs, 0.0])
    c_star = np.array(
        [
            c_s * cos_bs,
            c_s * (cos_as - cos_bs * cos_gs) / sin_gs,
            c_s / (a * b * c * sin_gs * inv_v),
        ]
    )
    return a_star, b_star, c_star


def read_mat_file(path: str, wavelength_A: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reciprocal vectors (1/Å) from a MOSFLM A matrix (first three lines, columns a*, b*, c*).

    MOSFLM's matrix carries the wavelength; it is divided out: ``a* = A[:, 0] / λ``.
    """
    try:
        with open(path) as handle:
            numbers = [float(x) for line in handle.readlines()[:3] for x in line.split()[:3]]
    except OSError as exc:
        raise CrystalError(f"-mat: cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise CrystalError(
            f"-mat: {path} does not start with three rows of three numbers"
        ) from None
    if len(numbers) != 9:
        raise CrystalError(f"-mat: {path} does not start with three rows of three numbers")
    matrix = np.array(numbers).reshape(3, 3) / wavelength_A
    return matrix[:, 0].copy(), matrix[:, 1].copy(), matrix[:, 2].copy()


def build_lattice(
    cell: tuple[float, ...] | None,
    reciprocal: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    misset_rad: tuple[float, float, float] | None,
) -> Lattice:
    """Real and reciprocal vectors after the missetting rotation.

    The reciprocal basis comes from ``reciprocal`` (a matrix file) when given, else from
    ``cell``; ``misset`` rotates it (x, then y, then z). Real vectors follow from
    ``a = V·(b* × c*)``; with a user cell the lengths are forced to the cell's (as nanoBragg
    does), and the reciprocal basis is regenerated from the real one.
    """
    if reciprocal is None and cell is None:
        raise CrystalError("no unit cell: give -cell a b c alpha beta gamma, or -mat FILE")
    a_star, b_star, c_star = reciprocal if reciprocal is not None else reciprocal_from_cell(cell)
    if misset_rad is not None:
        a_star, b_star, c_star = (
            rotate_xyz_like_c(v, *misset_rad) for v in (a_star, b_star, c_star)
        )
    bc, ca, ab = _cross(b_star, c_star), _cross(c_star, a_star), _cross(a_star, b_star)
    v_star = _dot(a_star, bc)
    if cell is not None:
        la, lb, lc, *_ = _fill_cell(cell)
        volume = cell_volume(cell)
        bc = _rescale(bc, la / volume)
        ca = _rescale(ca, lb / volume)
        ab = _rescale(ab, lc / volume)
        v_star = 1.0 / volume
    if v_star == 0.0:
        raise CrystalError("the reciprocal vectors are coplanar: no cell volume")
    v_cell = 1.0 / v_star
    a, b, c = bc * v_cell, ca * v_cell, ab * v_cell
    a_star = _cross(b, c) * v_star
    b_star = _cross(c, a) * v_star
    c_star = _cross(a, b) * v_star
    return Lattice(a, b, c, a_star, b_star, c_star, v_cell)


# The lattice is built with the C program's vector arithmetic, operation for operation, so
# its last bits are the C program's: ceil(size/|a|) of a size that is an exact multiple of
# the cell, and everything downstream, then agree with it.


def _cross(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x × y`` in nanoBragg's operation order."""
    return np.array(
        [x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0]]
    )


def _dot(x: np.ndarray, y: np.ndarray) -> float:
    """``x · y`` summed left to right, as nanoBragg does."""
    return float(x[0] * y[0] + x[1] * y[1] + x[2] * y[2])


def _rescale(vector: np.ndarray, magnitude: float) -> np.ndarray:
    """nanoBragg's ``vector_rescale``: ``(magnitude/|v|)·v``."""
    x, y, z = (float(c) for c in vector)
    norm = math.sqrt(x * x + y * y + z * z)
    factor = magnitude / (norm if norm > 0.0 else 1.0)
    return np.array([factor * x, factor * y, factor * z])


def phi_rotations(
    spindle: np.ndarray, phi0: float, phistep: float, phisteps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spindle rotation of each phi step, as nanoBragg's loop applies it.

    Step ``k`` nominally rotates by ``φ_k = φ0 + k·phistep`` about ``spindle``. nanoBragg
    only re-rotates the crystal when ``φ_k != 0``; at an exactly-zero step it reuses the
    orientation left by the previous step of its loop (the last step of the previous source
    or subpixel when ``k = 0``). The returned matrices reproduce that, so images match the
    C program for every pixel but the first one each of its threads renders.

    Returns:
        (rotations (phisteps, 3, 3), nominal angles (phisteps,)) in radians.
    """
    angles = phi0 + phistep * np.arange(phisteps, dtype=np.float64)
    nominal = [rotation_axis(spindle, float(phi)) for phi in angles]
    effective = []
    for k in range(phisteps):
        source = k
        while angles[source] == 0.0:
            source = (source - 1) % phisteps
            if source == k:  # every step is zero: unrotated
                break
        effective.append(np.eye(3) if angles[source] == 0.0 else nominal[source])
    return np.stack(effective), angles
