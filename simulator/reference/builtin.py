"""The built-in reference engine: explicit per-pixel loops compiled with Numba.

An independent implementation of the simulator's physics, written the way the C program
nanoBragg computes a pixel: loops over detector thickness layer, sub-pixel (slow, fast),
source, phi step and mosaic domain, in that order, with the C program's caching of the
polarisation factor, solid angle and capture fraction and its "last value" normalisation.
It starts from a resolved :class:`simulator.setup.Setup` and shares no per-pixel code with
the PyTorch engine (``simulator.engine`` / ``simulator.kernels`` are never imported here).

Rows are spread over threads with ``numba.prange``; the compiled code is cached on disk
(``cache=True``) so a CI run compiles it once. With tricubic interpolation on, pixels are
rendered one after another in the C program's order (slow, then fast) until the first
sample whose neighbourhood leaves the HKL grid switches interpolation off, as in the
one-thread C program; the rows after it are rendered in parallel again.

The only work hoisted out of the pixel loop is the crystal orientation per (phi, domain):
``a[p, m] = U_m · (R_p · a0)`` (likewise b, c), which the C program recomputes per pixel.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numba import njit, prange

from simulator.reference.builtin_terms import (
    curved_position,
    interpolation_out_of_range,
    kahn_polar,
    lattice_factor,
    nearest_F,
    tricubic_F,
)
from simulator.setup import SHAPES, Setup


@njit(cache=True)
def _pixel(
    i,  # fast index
    j,  # slow index
    interpolate,  # tricubic F_cell still on
    det,  # float64 (4, 3): fdet, sdet, odet, pix0 (m)
    pixel_size,  # m
    oversample,
    close_distance,  # m
    point_pixel,
    curved,  # -curved_det
    distance,  # m
    beam,  # float64 (3,) unit beam direction
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
    """One pixel (photons), and whether interpolation is still on after it.

    Per layer t, subpixel (sf, ss), source s, phi p, domain m:
    ``P = pix0 + Fdet f + Sdet s + t Δz o`` (on ``-curved_det`` mapped onto the sphere of
    radius ``distance``), ``d = P/|P|``, ``q = (d − i_s)/λ_s`` (1/m),
    ``(h, k, l) = (a, b, c)[p, m] · q``, ``I += F_cell² F_latt²``;
    pixel = ``scale · I`` × capture fraction × polarisation × solid angle (last values),
    or with each ``oversample_*`` flag the running ``I`` multiplied by that factor per term.

    Returns:
        (value, interpolate, h, k, l): the indices of the sample that switched
        interpolation off, or NaN.
    """
    n_src = wavelengths.shape[0]
    n_phi, n_mos = cells.shape[0], cells.shape[1]
    subpixel = pixel_size / oversample
    fx, fy, fz = det[0, 0], det[0, 1], det[0, 2]
    sx, sy, sz = det[1, 0], det[1, 1], det[1, 2]
    ox, oy, oz = det[2, 0], det[2, 1], det[2, 2]
    p0x, p0y, p0z = det[3, 0], det[3, 1], det[3, 2]
    stop_h, stop_k, stop_l = math.nan, math.nan, math.nan
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
                if curved:
                    px, py, pz = curved_position(py, pz, distance, beam, det)
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
                        polar = kahn_polar(
                            kahn, ix, iy, iz, dx, dy, dz, polar_vector[0], polar_vector[1],
                            polar_vector[2],
                        )  # fmt: skip
                    for p in range(n_phi):
                        for m in range(n_mos):
                            h = cells[p, m, 0, 0] * qx + cells[p, m, 0, 1] * qy
                            h += cells[p, m, 0, 2] * qz
                            k = cells[p, m, 1, 0] * qx + cells[p, m, 1, 1] * qy
                            k += cells[p, m, 1, 2] * qz
                            l = cells[p, m, 2, 0] * qx + cells[p, m, 2, 1] * qy  # noqa: E741
                            l += cells[p, m, 2, 2] * qz  # noqa: E741
                            F_latt = lattice_factor(h, k, l, shape, Na, Nb, Nc, fudge, rstar)
                            if F_latt == 0.0 and not water:
                                continue
                            if interpolate and interpolation_out_of_range(h, k, l, F, hkl_min):
                                interpolate = False  # for the rest of the run
                                stop_h, stop_k, stop_l = h, k, l
                            if interpolate:
                                F_cell = tricubic_F(h, k, l, F, hkl_min)
                            elif has_hkl:
                                F_cell = nearest_F(h, k, l, F, hkl_min, default_F)
                            else:
                                F_cell = default_F
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
    return pix, interpolate, stop_h, stop_k, stop_l


@njit(cache=True, inline="always")
def _rendered(i, j, roi, mask) -> bool:
    """Whether the C program renders pixel (i, j): inside the roi and not masked."""
    if j < roi[2] or j > roi[3] or i < roi[0] or i > roi[1]:
        return False
    return not (mask.shape[0] > 0 and mask[j, i] == 0)


@njit(cache=True, parallel=True)
def _render(out, mask, roi, first_row, params):
    """Rows ``first_row…`` of ``out`` (photons/pixel), in parallel, without interpolation."""
    spixels, fpixels = out.shape
    for j in prange(first_row, spixels):
        for i in range(fpixels):
            if _rendered(i, j, roi, mask):
                out[j, i] = _pixel(i, j, False, *params)[0]


@njit(cache=True)
def _render_interpolating(out, mask, roi, params):
    """Pixels in the C program's order while interpolation is on.

    Returns:
        (first row left to render, h, k, l of the sample that switched interpolation off,
        NaN when none did)
    """
    spixels, fpixels = out.shape
    interpolate = True
    stop = (math.nan, math.nan, math.nan)
    for j in range(spixels):
        for i in range(fpixels):
            if _rendered(i, j, roi, mask):
                value, still, h, k, l = _pixel(i, j, interpolate, *params)  # noqa: E741
                out[j, i] = value
                if interpolate and not still:
                    interpolate = False
                    stop = (h, k, l)
        if not interpolate:
            return j + 1, stop[0], stop[1], stop[2]
    return spixels, math.nan, math.nan, math.nan


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


def _mask(setup: Setup) -> np.ndarray:
    if setup.mask is None:
        return np.zeros((0, 0), np.uint8)
    return np.ascontiguousarray(setup.mask, dtype=np.uint8)


def _params(setup: Setup) -> tuple:
    """The per-pixel kernel's arguments after ``interpolate``, as typed arrays/scalars."""
    f64 = np.float64
    det = np.ascontiguousarray(np.stack([setup.fdet, setup.sdet, setup.odet, setup.pix0]), f64)
    hkl = setup.hkl
    has_hkl = hkl.F is not None
    F = np.ascontiguousarray(hkl.F, f64) if has_hkl else np.zeros((1, 1, 1), f64)
    rstar = np.ascontiguousarray(np.stack([setup.a_star, setup.b_star, setup.c_star]), f64)
    beam = setup.beam if setup.beam is not None else setup.odet
    return (
        det,
        float(setup.pixel_size),
        int(setup.oversample),
        float(setup.close_distance),
        bool(setup.point_pixel),
        bool(setup.curved_detector),
        float(setup.distance),
        np.ascontiguousarray(beam, f64),
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


def render_interpolation_stop(setup: Setup) -> tuple[np.ndarray, tuple[float, float, float] | None]:
    """Render ``setup``; also the Miller indices at which interpolation was switched off.

    Returns:
        (float64 image ``[spixels, fpixels]`` in photons per pixel, pixels outside the roi
        or the mask 0; ``(h, k, l)`` of the first out-of-range sample, or None)
    """
    _check(setup)
    out = np.zeros(setup.shape_pixels, dtype=np.float64)
    mask, roi, params = _mask(setup), np.asarray(setup.roi, np.int64), _params(setup)
    first_row, stop = 0, None
    if setup.interpolate and setup.hkl.F is not None:
        first_row, h, k, l = _render_interpolating(out, mask, roi, params)  # noqa: E741
        stop = None if math.isnan(h) else (h, k, l)
    _render(out, mask, roi, first_row, params)
    return out, stop


def render_setup(setup: Setup) -> np.ndarray:
    """Render ``setup`` with the compiled loop kernel: float64 ``[spixels, fpixels]``."""
    return render_interpolation_stop(setup)[0]


def warm_up(setup: Setup) -> float:
    """Compile (or load from the on-disk cache) the kernels for ``setup``'s argument types.

    Renders a single pixel; returns the seconds it took.
    """
    t0 = time.perf_counter()
    out = np.zeros(setup.shape_pixels, dtype=np.float64)
    mask, params = _mask(setup), _params(setup)
    roi = np.zeros(4, np.int64)
    _render(out, mask, roi, 0, params)
    if setup.interpolate and setup.hkl.F is not None:
        _render_interpolating(out, mask, roi, params)
    return time.perf_counter() - t0
