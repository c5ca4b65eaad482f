"""Per-sample terms of the built-in reference engine, as scalar Numba functions.

The physics of one (pixel, layer, sub-pixel, source, φ, domain) sample, written the way the
C program writes it: lattice factors of the four spot shapes, the Kahn polarisation factor,
nearest-neighbour and tricubic structure factors, and the curved-detector mapping. Shares
nothing with the PyTorch engine (``simulator.engine`` / ``simulator.kernels`` / the engine's
kernel modules are never imported here).
"""

from __future__ import annotations

import math

from numba import njit

from simulator.setup import SHAPES

SQUARE, ROUND, GAUSS, TOPHAT = (SHAPES.index(s) for s in ("square", "round", "gauss", "tophat"))


@njit(cache=True, inline="always")
def sincg(x: float, n: float) -> float:
    """Lattice factor of one axis: ``sin(N x) / sin(x)``, ``N`` at ``x = 0`` (dimensionless)."""
    if x == 0.0:
        return n
    return math.sin(n * x) / math.sin(x)


@njit(cache=True, inline="always")
def sinc3(x: float) -> float:
    """Transform of a sphere: ``3 (sin x / x - cos x) / x^2``, 1 at ``x = 0``."""
    if x == 0.0:
        return 1.0
    return 3.0 * (math.sin(x) / x - math.cos(x)) / (x * x)


@njit(cache=True)
def unit(x: float, y: float, z: float) -> tuple[float, float, float]:
    """Unit vector along (x, y, z); the zero vector stays zero."""
    m = math.sqrt(x * x + y * y + z * z)
    if m == 0.0:
        return 0.0, 0.0, 0.0
    return x / m, y / m, z / m


@njit(cache=True)
def kahn_polar(kahn, ix, iy, iz, dx, dy, dz, px, py, pz) -> float:
    """Kahn polarisation factor for incident ``i`` and diffracted ``d`` (unit vectors).

    ``0.5 (1 + cos²2θ − K cos2ψ sin²2θ)`` with ``cos2θ = i·d``, ``B = unit(p × i)``,
    ``E = unit(i × B)``, ``ψ = −atan2(d·B, d·E)``; ψ = 0 when ``K = 0``. Dimensionless.
    """
    ix, iy, iz = unit(ix, iy, iz)
    dx, dy, dz = unit(dx, dy, dz)
    px, py, pz = unit(px, py, pz)
    c2t = ix * dx + iy * dy + iz * dz
    c2t_sqr = c2t * c2t
    s2t_sqr = 1.0 - c2t_sqr
    psi = 0.0
    if kahn != 0.0:
        bx, by, bz = unit(py * iz - pz * iy, pz * ix - px * iz, px * iy - py * ix)
        ex, ey, ez = unit(iy * bz - iz * by, iz * bx - ix * bz, ix * by - iy * bx)
        psi = -math.atan2(dx * bx + dy * by + dz * bz, dx * ex + dy * ey + dz * ez)
    return 0.5 * (1.0 + c2t_sqr - kahn * math.cos(2.0 * psi) * s2t_sqr)


@njit(cache=True)
def lattice_factor(h, k, l, shape, Na, Nb, Nc, fudge, rstar) -> float:  # noqa: E741
    """``F_latt`` at fractional (h, k, l) for the spot shape (dimensionless, signed).

    SQUARE ``Π sincg(πh, N)`` over axes with N > 1; ROUND ``NaNbNc·0.7236·sinc3(π·
    sqrt(fudge·Σ Δh²N²))``; GAUSS ``NaNbNc·exp(−r*²·fudge/0.63)``; TOPHAT ``NaNbNc`` where
    ``r*²·fudge < 0.3969``, with ``r*² = |Δh a* + Δk b* + Δl c*|²·(NaNbNc)²`` (1/Å, from the
    nearest whole indices ``ceil(h − ½)``).
    """
    NaNbNc = Na * Nb * Nc
    h0 = math.ceil(h - 0.5)
    k0 = math.ceil(k - 0.5)
    l0 = math.ceil(l - 0.5)
    if shape == SQUARE:
        F_latt = 1.0
        if Na > 1.0:
            F_latt *= sincg(math.pi * h, Na)
        if Nb > 1.0:
            F_latt *= sincg(math.pi * k, Nb)
        if Nc > 1.0:
            F_latt *= sincg(math.pi * l, Nc)
        return F_latt
    if shape == ROUND:
        hrad_sqr = (h - h0) * (h - h0) * Na * Na
        hrad_sqr += (k - k0) * (k - k0) * Nb * Nb
        hrad_sqr += (l - l0) * (l - l0) * Nc * Nc
        return NaNbNc * 0.723601254558268 * sinc3(math.pi * math.sqrt(hrad_sqr * fudge))
    dh, dk, dl = h - h0, k - k0, l - l0
    xs = dh * rstar[0, 0] + dk * rstar[1, 0] + dl * rstar[2, 0]
    ys = dh * rstar[0, 1] + dk * rstar[1, 1] + dl * rstar[2, 1]
    zs = dh * rstar[0, 2] + dk * rstar[1, 2] + dl * rstar[2, 2]
    rad_star_sqr = (xs * xs + ys * ys + zs * zs) * (Na * Na * Nb * Nb * Nc * Nc)
    if shape == GAUSS:
        return NaNbNc * math.exp(-(rad_star_sqr / 0.63 * fudge))
    if rad_star_sqr * fudge < 0.3969:
        return NaNbNc
    return 0.0


@njit(cache=True)
def nearest_F(h, k, l, F, hkl_min, default_F) -> float:  # noqa: E741
    """``F`` at the nearest whole indices ``ceil(h − ½)``; ``default_F`` outside the grid."""
    hi = math.ceil(h - 0.5) - hkl_min[0]
    ki = math.ceil(k - 0.5) - hkl_min[1]
    li = math.ceil(l - 0.5) - hkl_min[2]
    if 0 <= hi < F.shape[0] and 0 <= ki < F.shape[1] and 0 <= li < F.shape[2]:
        return F[hi, ki, li]
    return default_F


@njit(cache=True)
def interpolation_out_of_range(h, k, l, F, hkl_min) -> bool:  # noqa: E741
    """nanoBragg's test: the 4-point neighbourhood of (h, k, l) leaves the HKL grid."""
    return (
        h - hkl_min[0] + 3 > F.shape[0]
        or h - 2 < hkl_min[0]
        or k - hkl_min[1] + 3 > F.shape[1]
        or k - 2 < hkl_min[1]
        or l - hkl_min[2] + 3 > F.shape[2]
        or l - 2 < hkl_min[2]
    )


@njit(cache=True)
def polint(x0, x1, x2, x3, y0, y1, y2, y3, x) -> float:
    """The cubic Lagrange polynomial through (x_i, y_i), i = 0..3, at x."""
    t0 = (x - x1) * (x - x2) * (x - x3) * y0 / ((x0 - x1) * (x0 - x2) * (x0 - x3))
    t1 = (x - x0) * (x - x2) * (x - x3) * y1 / ((x1 - x0) * (x1 - x2) * (x1 - x3))
    t2 = (x - x0) * (x - x1) * (x - x3) * y2 / ((x2 - x0) * (x2 - x1) * (x2 - x3))
    t3 = (x - x0) * (x - x1) * (x - x2) * y3 / ((x3 - x0) * (x3 - x1) * (x3 - x2))
    return t0 + t1 + t2 + t3


@njit(cache=True)
def _along_l(F, i, j, li, l1, l) -> float:  # noqa: E741
    """Cubic interpolation of ``F[i, j, li … li+3]`` (nodes ``l1 … l1+3``) at l."""
    return polint(
        l1,
        l1 + 1.0,
        l1 + 2.0,
        l1 + 3.0,
        F[i, j, li],
        F[i, j, li + 1],
        F[i, j, li + 2],
        F[i, j, li + 3],
        l,
    )


@njit(cache=True)
def _along_kl(F, i, ki, li, k1, l1, k, l) -> float:  # noqa: E741
    """Cubic interpolation along k of the four l-interpolated lines of the h node ``i``."""
    return polint(
        k1,
        k1 + 1.0,
        k1 + 2.0,
        k1 + 3.0,
        _along_l(F, i, ki, li, l1, l),
        _along_l(F, i, ki + 1, li, l1, l),
        _along_l(F, i, ki + 2, li, l1, l),
        _along_l(F, i, ki + 3, li, l1, l),
        k,
    )


@njit(cache=True)
def tricubic_F(h, k, l, F, hkl_min) -> float:  # noqa: E741
    """Tricubic ``F`` through the 4×4×4 grid points ``floor(h) − 1 … floor(h) + 2``.

    As nanoBragg's ``polin3``: cubic Lagrange interpolation along l for each (h, k) node,
    then along k, then along h. The caller has checked the neighbourhood is inside the grid.
    """
    h1, k1, l1 = math.floor(h) - 1.0, math.floor(k) - 1.0, math.floor(l) - 1.0
    hi, ki, li = int(h1) - hkl_min[0], int(k1) - hkl_min[1], int(l1) - hkl_min[2]
    return polint(
        h1,
        h1 + 1.0,
        h1 + 2.0,
        h1 + 3.0,
        _along_kl(F, hi, ki, li, k1, l1, k, l),
        _along_kl(F, hi + 1, ki, li, k1, l1, k, l),
        _along_kl(F, hi + 2, ki, li, k1, l1, k, l),
        _along_kl(F, hi + 3, ki, li, k1, l1, k, l),
        h,
    )


@njit(cache=True)
def rotate_axis(vx, vy, vz, ax, ay, az, phi) -> tuple[float, float, float]:
    """``v`` rotated by ``phi`` (rad) about the unit axis ``a`` (Rodrigues, right-handed)."""
    sinphi, cosphi = math.sin(phi), math.cos(phi)
    dot = (ax * vx + ay * vy + az * vz) * (1.0 - cosphi)
    return (
        ax * dot + vx * cosphi + (-az * vy + ay * vz) * sinphi,
        ay * dot + vy * cosphi + (az * vx - ax * vz) * sinphi,
        az * dot + vz * cosphi + (-ay * vx + ax * vy) * sinphi,
    )


@njit(cache=True)
def curved_position(py, pz, distance, beam, det) -> tuple[float, float, float]:
    """``-curved_det``: ``distance·b`` rotated about s by ``P_y/d``, then about f by ``P_z/d``.

    ``py, pz`` are the lab y and z of the flat-detector position (m); ``det`` rows are
    fdet, sdet (unit). The result is ``distance`` from the sample.
    """
    vx, vy, vz = distance * beam[0], distance * beam[1], distance * beam[2]
    vx, vy, vz = rotate_axis(vx, vy, vz, det[1, 0], det[1, 1], det[1, 2], py / distance)
    return rotate_axis(vx, vy, vz, det[0, 0], det[0, 1], det[0, 2], pz / distance)
