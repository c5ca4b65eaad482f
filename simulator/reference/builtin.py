"""The built-in reference engine: explicit per-pixel loops compiled with Numba.

An independent implementation of the simulator's physics, written the way the C program
nanoBragg computes a pixel: loops over detector thickness layer, sub-pixel (slow, fast),
source, phi step and mosaic domain, in that order, with the C program's caching of the
polarisation factor, solid angle and capture fraction and its "last value" normalisation.
It starts from a resolved :class:`simulator.setup.Setup` and shares no per-pixel code with
the PyTorch engine (``simulator.engine`` / ``simulator.kernels`` are never imported here).

Rows are spread over threads with ``numba.prange``; the compiled code is cached on disk
(``cache=True``) so a CI run compiles it once.

The only work hoisted out of the pixel loop is the crystal orientation per (phi, domain):
``a[p, m] = U_m · (R_p · a0)`` (likewise b, c), which the C program recomputes per pixel.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numba import njit, prange

from simulator.setup import SHAPES, Setup

_SQUARE, _ROUND, _GAUSS, _TOPHAT = (SHAPES.index(s) for s in ("square", "round", "gauss", "tophat"))


@njit(cache=True, inline="always")
def _sincg(x: float, n: float) -> float:
    """Lattice factor of one axis: ``sin(N x) / sin(x)``, ``N`` at ``x = 0`` (dimensionless)."""
    if x == 0.0:
        return n
    return math.sin(n * x) / math.sin(x)


@njit(cache=True, inline="always")
def _sinc3(x: float) -> float:
    """Transform of a sphere: ``3 (sin x / x - cos x) / x^2``, 1 at ``x = 0``."""
    if x == 0.0:
        return 1.0
    return 3.0 * (math.sin(x) / x - math.cos(x)) / (x * x)


@njit(cache=True)
def _unit(x: float, y: float, z: float) -> tuple[float, float, float]:
    """Unit vector along (x, y, z); the zero vector stays zero."""
    m = math.sqrt(x * x + y * y + z * z)
    if m == 0.0:
        return 0.0, 0.0, 0.0
    return x / m, y / m, z / m


@njit(cache=True)
def _kahn_polar(kahn, ix, iy, iz, dx, dy, dz, px, py, pz) -> float:
    """Kahn polarisation factor for incident ``i`` and diffracted ``d`` (unit vectors).

    ``0.5 (1 + cos²2θ − K cos2ψ sin²2θ)`` with ``cos2θ = i·d``, ``B = unit(p × i)``,
    ``E = unit(i × B)``, ``ψ = −atan2(d·B, d·E)``; ψ = 0 when ``K = 0``. Dimensionless.
    """
    ix, iy, iz = _unit(ix, iy, iz)
    dx, dy, dz = _unit(dx, dy, dz)
    px, py, pz = _unit(px, py, pz)
    c2t = ix * dx + iy * dy + iz * dz
    c2t_sqr = c2t * c2t
    s2t_sqr = 1.0 - c2t_sqr
    psi = 0.0
    if kahn != 0.0:
        bx, by, bz = _unit(py * iz - pz * iy, pz * ix - px * iz, px * iy - py * ix)
        ex, ey, ez = _unit(iy * bz - iz * by, iz * bx - ix * bz, ix * by - iy * bx)
        psi = -math.atan2(dx * bx + dy * by + dz * bz, dx * ex + dy * ey + dz * ez)
    return 0.5 * (1.0 + c2t_sqr - kahn * math.cos(2.0 * psi) * s2t_sqr)


@njit(cache=True, parallel=True)
def _render(
    out,  # float64 [spixels, fpixels], zeros
    mask,  # uint8 [spixels, fpixels] (0 = skip); shape (0, 0) = no mask
    roi,  # int64 (4,): xmin, xmax, ymin, ymax, inclusive
    det,  # float64 (4, 3): fdet, sdet, odet, pix0 (m)
    pixel_size,  # m
    oversample,
    close_distance,  # m
    point_pixel,
    thicksteps,
    thickstep,  # m
    detector_thick,  # m
    detector_mu,  # 1/m
    ov_thick,
    ov_polar,
    ov_omega,
    incident,  # float64 (n_sources, 3), unit
    wavelengths,  # float64 (n_sources,), m
    polar_vector,  # float64 (3,)
    kahn,
    nopolar,
    cells,  # float64 (phisteps, domains, 3, 3): rows a, b, c (m)
    rstar,  # float64 (3, 3): rows a*, b*, c* (1/Angstrom)
    Na,
    Nb,
    Nc,
    shape,  # 0 square, 1 round, 2 gauss, 3 tophat
    fudge,
    F,  # float64 [nh, nk, nl] structure factors
    hkl_min,  # int64 (3,)
    has_hkl,
    default_F,
    dmin,  # m
    scale,  # r_e^2 * fluence / steps (m^2 photons/m^2)
    I_bg,  # water background added to I before the loops
    water,  # water_size != 0: do not skip zero lattice factors
):
    """Render every pixel inside roi and mask into ``out`` (photons/pixel), rows in parallel.

    Per pixel (fast i, slow j), layer t, subpixel (sf, ss), source s, phi p, domain m:
    ``P = pix0 + Fdet f + Sdet s + t Δz o``, ``d = P/|P|``, ``q = (d − i_s)/λ_s`` (1/m),
    ``(h, k, l) = (a, b, c)[p, m] · q``, ``I += F_cell² F_latt²``;
    pixel = ``scale · I`` × capture fraction × polarisation × solid angle (last values),
    or with each ``oversample_*`` flag the running ``I`` multiplied by that factor per term.
    """
    spixels, fpixels = out.shape
    n_src = wavelengths.shape[0]
    n_phi, n_mos = cells.shape[0], cells.shape[1]
    nh, nk, nl = F.shape
    subpixel = pixel_size / oversample
    use_mask = mask.shape[0] > 0
    xmin, xmax, ymin, ymax = roi[0], roi[1], roi[2], roi[3]
    fx, fy, fz = det[0, 0], det[0, 1], det[0, 2]
    sx, sy, sz = det[1, 0], det[1, 1], det[1, 2]
    ox, oy, oz = det[2, 0], det[2, 1], det[2, 2]
    p0x, p0y, p0z = det[3, 0], det[3, 1], det[3, 2]
    NaNbNc = Na * Nb * Nc
    for j in prange(spixels):
        if j < ymin or j > ymax:
            continue
        for i in range(fpixels):
            if i < xmin or i > xmax:
                continue
            if use_mask and mask[j, i] == 0:
                continue
            acc = I_bg
            polar = 1.0 if nopolar else 0.0
            omega = 0.0
            capture = 0.0
            for t in range(thicksteps):
                Odet = t * thickstep
                capture = 1.0 if detector_thick == 0.0 else 0.0
                for ss in range(oversample):
                    for sf in range(oversample):
                        Fdet = subpixel * (i * oversample + sf) + subpixel / 2.0
                        Sdet = subpixel * (j * oversample + ss) + subpixel / 2.0
                        px = Fdet * fx + Sdet * sx + Odet * ox + p0x
                        py = Fdet * fy + Sdet * sy + Odet * oy + p0y
                        pz = Fdet * fz + Sdet * sz + Odet * oz + p0z
                        R = math.sqrt(px * px + py * py + pz * pz)
                        dx, dy, dz = px / R, py / R, pz / R
                        if omega == 0.0 or ov_omega:
                            omega = pixel_size * pixel_size / R / R * close_distance / R
                            if point_pixel:
                                omega = 1.0 / R / R
                        if capture == 0.0 or ov_thick:
                            par = dx * ox + dy * oy + dz * oz
                            capture = math.exp(-t * thickstep * detector_mu / par) - math.exp(
                                -(t + 1) * thickstep * detector_mu / par
                            )
                        for s in range(n_src):
                            ix, iy, iz = incident[s, 0], incident[s, 1], incident[s, 2]
                            lam = wavelengths[s]
                            qx = (dx - ix) / lam
                            qy = (dy - iy) / lam
                            qz = (dz - iz) / lam
                            stol = 0.5 * math.sqrt(qx * qx + qy * qy + qz * qz)
                            if dmin > 0.0 and stol > 0.0 and dmin > 0.5 / stol:
                                continue
                            if polar == 0.0 or ov_polar:
                                polar = _kahn_polar(
                                    kahn,
                                    ix,
                                    iy,
                                    iz,
                                    dx,
                                    dy,
                                    dz,
                                    polar_vector[0],
                                    polar_vector[1],
                                    polar_vector[2],
                                )
                            for p in range(n_phi):
                                for m in range(n_mos):
                                    h = cells[p, m, 0, 0] * qx + cells[p, m, 0, 1] * qy
                                    h += cells[p, m, 0, 2] * qz
                                    k = cells[p, m, 1, 0] * qx + cells[p, m, 1, 1] * qy
                                    k += cells[p, m, 1, 2] * qz
                                    l = cells[p, m, 2, 0] * qx + cells[p, m, 2, 1] * qy  # noqa: E741
                                    l += cells[p, m, 2, 2] * qz  # noqa: E741
                                    h0 = math.ceil(h - 0.5)
                                    k0 = math.ceil(k - 0.5)
                                    l0 = math.ceil(l - 0.5)
                                    F_latt = 1.0
                                    if shape == _SQUARE:
                                        if Na > 1.0:
                                            F_latt *= _sincg(math.pi * h, Na)
                                        if Nb > 1.0:
                                            F_latt *= _sincg(math.pi * k, Nb)
                                        if Nc > 1.0:
                                            F_latt *= _sincg(math.pi * l, Nc)
                                    elif shape == _ROUND:
                                        hrad_sqr = (h - h0) * (h - h0) * Na * Na
                                        hrad_sqr += (k - k0) * (k - k0) * Nb * Nb
                                        hrad_sqr += (l - l0) * (l - l0) * Nc * Nc
                                        F_latt = (
                                            NaNbNc
                                            * 0.723601254558268
                                            * _sinc3(math.pi * math.sqrt(hrad_sqr * fudge))
                                        )
                                    else:
                                        dh, dk, dl = h - h0, k - k0, l - l0
                                        xs = dh * rstar[0, 0] + dk * rstar[1, 0] + dl * rstar[2, 0]
                                        ys = dh * rstar[0, 1] + dk * rstar[1, 1] + dl * rstar[2, 1]
                                        zs = dh * rstar[0, 2] + dk * rstar[1, 2] + dl * rstar[2, 2]
                                        rad_star_sqr = (xs * xs + ys * ys + zs * zs) * (
                                            Na * Na * Nb * Nb * Nc * Nc
                                        )
                                        if shape == _GAUSS:
                                            F_latt = NaNbNc * math.exp(
                                                -(rad_star_sqr / 0.63 * fudge)
                                            )
                                        elif rad_star_sqr * fudge < 0.3969:
                                            F_latt = NaNbNc
                                        else:
                                            F_latt = 0.0
                                    if F_latt == 0.0 and not water:
                                        continue
                                    F_cell = default_F
                                    if has_hkl:
                                        hi = h0 - hkl_min[0]
                                        ki = k0 - hkl_min[1]
                                        li = l0 - hkl_min[2]
                                        if 0 <= hi < nh and 0 <= ki < nk and 0 <= li < nl:
                                            F_cell = F[hi, ki, li]
                                    acc += F_cell * F_cell * F_latt * F_latt
                                    if ov_thick:
                                        acc *= capture
                                    if ov_polar:
                                        acc *= polar
                                    if ov_omega:
                                        acc *= omega
            pix = scale * acc
            if not ov_thick:
                pix *= capture
            if not ov_polar:
                pix *= polar
            if not ov_omega:
                pix *= omega
            out[j, i] = pix


def crystal_orientations(setup: Setup) -> np.ndarray:
    """Real-space cell vectors per phi step and mosaic domain.

    ``cells[p, m] = [U_m R_p a0, U_m R_p b0, U_m R_p c0]`` (rows, metres), shape
    ``[phisteps, domains, 3, 3]``.
    """
    abc0 = np.stack([setup.a0, setup.b0, setup.c0]).astype(np.float64)  # [3 vectors, xyz]
    rot = np.asarray(setup.phi_rotations, dtype=np.float64)  # [P, 3, 3]
    umats = np.asarray(setup.mosaic_umats, dtype=np.float64)  # [M, 3, 3]
    after_phi = np.einsum("pij,vj->pvi", rot, abc0)  # [P, 3 vectors, xyz]
    return np.ascontiguousarray(np.einsum("mij,pvj->pmvi", umats, after_phi))


def _arguments(setup: Setup, out: np.ndarray, roi: tuple[int, int, int, int]) -> tuple:
    """The kernel's arguments for ``setup``, in order, as contiguous typed arrays/scalars."""
    f64 = np.float64
    mask = (
        np.zeros((0, 0), np.uint8)
        if setup.mask is None
        else np.ascontiguousarray(setup.mask, dtype=np.uint8)
    )
    det = np.ascontiguousarray(np.stack([setup.fdet, setup.sdet, setup.odet, setup.pix0]), f64)
    hkl = setup.hkl
    has_hkl = hkl.F is not None
    F = np.ascontiguousarray(hkl.F, f64) if has_hkl else np.zeros((1, 1, 1), f64)
    rstar = np.ascontiguousarray(np.stack([setup.a_star, setup.b_star, setup.c_star]), f64)
    return (
        out,
        mask,
        np.asarray(roi, np.int64),
        det,
        float(setup.pixel_size),
        int(setup.oversample),
        float(setup.close_distance),
        bool(setup.point_pixel),
        int(setup.thicksteps),
        float(setup.thickstep),
        float(setup.detector_thick),
        float(setup.detector_mu),
        bool(setup.oversample_thick),
        bool(setup.oversample_polar),
        bool(setup.oversample_omega),
        np.ascontiguousarray(setup.incident, f64).reshape(-1, 3),
        np.ascontiguousarray(setup.wavelengths, f64).reshape(-1),
        np.ascontiguousarray(setup.polar_vector, f64),
        float(setup.kahn_factor),
        bool(setup.nopolar),
        crystal_orientations(setup),
        rstar,
        float(setup.Na),
        float(setup.Nb),
        float(setup.Nc),
        SHAPES.index(setup.shape),
        float(setup.fudge),
        F,
        np.array([hkl.h_min, hkl.k_min, hkl.l_min], np.int64),
        bool(has_hkl),
        float(hkl.default_F),
        float(setup.dmin),
        float(setup.r_e_sqr * setup.fluence / setup.steps),
        float(setup.water_background),
        bool(setup.water_background != 0.0),
    )


def _check(setup: Setup) -> None:
    """One clear error for a Setup the kernel cannot render."""
    if setup.shape not in SHAPES:
        raise ValueError(f"Setup.shape: expected one of {SHAPES}, got {setup.shape!r}")
    if setup.steps <= 0:
        raise ValueError(f"Setup.steps: expected a positive count, got {setup.steps}")
    if setup.mask is not None and tuple(setup.mask.shape) != setup.shape_pixels:
        raise ValueError(f"Setup.mask: expected shape {setup.shape_pixels}, got {setup.mask.shape}")


def render_setup(setup: Setup) -> np.ndarray:
    """Render ``setup`` with the compiled loop kernel.

    Returns:
        float64 image ``[spixels, fpixels]`` in photons per pixel; pixels outside the roi or
        the mask are 0.
    """
    _check(setup)
    out = np.zeros(setup.shape_pixels, dtype=np.float64)
    _render(*_arguments(setup, out, setup.roi))
    return out


def warm_up(setup: Setup) -> float:
    """Compile (or load from the on-disk cache) the kernel for ``setup``'s argument types.

    Renders a single pixel; returns the seconds it took.
    """
    t0 = time.perf_counter()
    out = np.zeros(setup.shape_pixels, dtype=np.float64)
    _render(*_arguments(setup, out, (0, 0, 0, 0)))
    return time.perf_counter() - t0
