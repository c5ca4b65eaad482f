"""The built-in loop reference on hand-built Setups whose answers are known.

Each test builds a :class:`Setup` by hand (MOSFLM-like geometry), so these checks do not
depend on flag parsing or resolution; the case matrix on real flags lives in
``test_reference_matrix.py``.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from analysis.parity.tolerances import STRICT_CORR
from simulator.reference import render_reference
from simulator.reference.builtin import render_setup, warm_up
from simulator.reference.nanobragg import run_nanobragg
from simulator.setup import HKLGrid, Setup

R_E2 = 7.94079248018965e-30
FLUENCE = 1.25932015286227e29
BEAM = np.array([1.0, 0.0, 0.0])
FDET = np.array([0.0, 0.0, 1.0])
SDET = np.array([0.0, -1.0, 0.0])


def rot(axis, deg: float) -> np.ndarray:
    """Right-handed rotation matrix about ``axis`` by ``deg`` degrees."""
    u = np.asarray(axis, float) / np.linalg.norm(axis)
    t = math.radians(deg)
    k = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    return np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * (k @ k)


def make_setup(
    n: int = 64,
    *,
    cell: float = 100.0,
    lam: float = 6.2,
    N: float = 5,
    distance: float = 0.1,
    px: float = 1e-4,
    default_F: float = 100.0,
    orient: np.ndarray | None = None,
    beam_pixel: tuple[float, float] | None = None,
    **kw,
) -> Setup:
    """MOSFLM default geometry (fast +z, slow -y, beam +x), cubic cell, one source.

    ``beam_pixel`` = (slow, fast) index whose centre the direct beam hits; default: the
    MOSFLM default beam centre. ``orient`` rotates the crystal (a misset).
    """
    if beam_pixel is None:
        fbeam = sbeam = (n * px + px) / 2 + px / 2
    else:
        sbeam, fbeam = ((beam_pixel[0] + 0.5) * px, (beam_pixel[1] + 0.5) * px)
    pix0 = -fbeam * FDET - sbeam * SDET + distance * BEAM
    U = np.eye(3) if orient is None else orient
    real = (U @ (np.eye(3) * cell * 1e-10)).T  # rows a0, b0, c0
    recip = (U @ (np.eye(3) / cell)).T
    args = dict(
        fpixels=n, spixels=n, pixel_size=px, oversample=1, fdet=FDET, sdet=SDET,
        odet=BEAM.copy(), pix0=pix0, distance=distance, close_distance=float(pix0 @ BEAM),
        point_pixel=False, thicksteps=1, thickstep=0.0, detector_thick=0.0, detector_mu=0.0,
        oversample_thick=False, oversample_polar=False, oversample_omega=False,
        roi=(0, n - 1, 0, n - 1), mask=None, incident=BEAM[None, :].copy(),
        wavelengths=np.array([lam * 1e-10]), polar_vector=np.array([0.0, 0.0, 1.0]),
        kahn_factor=0.0, nopolar=False, a0=real[0], b0=real[1], c0=real[2],
        a_star=recip[0], b_star=recip[1], c_star=recip[2], phi_rotations=np.eye(3)[None],
        phi_angles=np.zeros(1), mosaic_umats=np.eye(3)[None], Na=float(N), Nb=float(N),
        Nc=float(N), shape="square", fudge=1.0, hkl=HKLGrid(None, default_F=default_F),
        dmin=0.0, fluence=FLUENCE, r_e_sqr=R_E2, water_background=0.0, steps=1,
    )  # fmt: skip
    args.update(kw)
    return Setup(**args)


def positions(st: Setup, sub: tuple[int, int] | None = None, layer: int = 0) -> np.ndarray:
    """Lab position (m) of each pixel's subpixel ``sub`` = (slow, fast), ``[S, F, 3]``."""
    o = st.oversample
    ss, sf = sub if sub is not None else (0, 0)
    sp = st.pixel_size / o
    fdet = sp * (np.arange(st.fpixels) * o + sf) + sp / 2
    sdet = sp * (np.arange(st.spixels) * o + ss) + sp / 2
    return (
        st.pix0
        + sdet[:, None, None] * st.sdet
        + fdet[None, :, None] * st.fdet
        + layer * st.thickstep * st.odet
    )


def omega_polar(st: Setup, pos: np.ndarray, source: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Solid angle and Kahn polarisation factor at ``pos`` (vectorised, numpy)."""
    R = np.linalg.norm(pos, axis=-1)
    d = pos / R[..., None]
    omega = 1 / R**2 if st.point_pixel else st.pixel_size**2 / R**2 * st.close_distance / R
    i = st.incident[source]
    c2t = d @ i
    psi = 0.0
    if st.kahn_factor != 0.0:
        B = np.cross(st.polar_vector, i)
        B /= np.linalg.norm(B)
        E = np.cross(i, B)
        E /= np.linalg.norm(E)
        psi = -np.arctan2(d @ B, d @ E)
    polar = 0.5 * (1 + c2t**2 - st.kahn_factor * np.cos(2 * psi) * (1 - c2t**2))
    return omega, (np.ones_like(c2t) if st.nopolar else polar)


def numpy_single_path(st: Setup) -> np.ndarray:
    """Independent numpy image for one source, phi step, domain, subpixel and layer."""
    pos = positions(st)
    d = pos / np.linalg.norm(pos, axis=-1, keepdims=True)
    q = (d - st.incident[0]) / st.wavelengths[0]
    h, k, l = (q @ v for v in (st.a0, st.b0, st.c0))  # noqa: E741
    hkl0 = [np.ceil(x - 0.5) for x in (h, k, l)]
    N = np.array([st.Na, st.Nb, st.Nc])
    if st.shape == "square":
        with np.errstate(invalid="ignore", divide="ignore"):
            parts = [np.where(x == 0, n, np.sin(n * np.pi * x) / np.sin(np.pi * x))
                     for x, n in zip((h, k, l), N, strict=True)]  # fmt: skip
        F_latt = parts[0] * parts[1] * parts[2]
    else:
        dh = [x - x0 for x, x0 in zip((h, k, l), hkl0, strict=True)]
        if st.shape == "round":
            x = np.pi * np.sqrt(sum(di**2 * n**2 for di, n in zip(dh, N, strict=True)) * st.fudge)
            with np.errstate(invalid="ignore", divide="ignore"):
                s3 = np.where(x == 0, 1.0, 3 * (np.sin(x) / x - np.cos(x)) / x**2)
            F_latt = N.prod() * 0.723601254558268 * s3
        else:
            star = np.stack([st.a_star, st.b_star, st.c_star])
            r2 = np.sum(np.stack(dh, -1) @ star * (np.stack(dh, -1) @ star), -1) * N.prod() ** 2
            if st.shape == "gauss":
                F_latt = N.prod() * np.exp(-(r2 / 0.63 * st.fudge))
            else:
                F_latt = N.prod() * (r2 * st.fudge < 0.3969)
    F_cell = np.full(h.shape, st.hkl.default_F)
    if st.hkl.F is not None:
        idx = [
            x0.astype(int) - m
            for x0, m in zip(hkl0, (st.hkl.h_min, st.hkl.k_min, st.hkl.l_min), strict=True)
        ]
        ok = np.all([(i >= 0) & (i < s) for i, s in zip(idx, st.hkl.F.shape, strict=True)], axis=0)
        F_cell[ok] = st.hkl.F[tuple(i[ok] for i in idx)]
    omega, polar = omega_polar(st, pos)
    I = st.water_background + F_cell**2 * F_latt**2  # noqa: E741
    return st.r_e_sqr * st.fluence * I / st.steps * polar * omega


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warm_up(make_setup(8))


def test_direct_beam_pixel_is_analytic():
    st = make_setup(33, beam_pixel=(16, 16))
    img = render_setup(st)
    # q = 0: F_latt = N^3, polar = 1, omega = px^2 / distance^2
    expected = R_E2 * FLUENCE * 100.0**2 * 125.0**2 * (1e-4 / 0.1) ** 2
    assert img[16, 16] == pytest.approx(expected, rel=1e-12)
    assert img.argmax() == 16 * 33 + 16
    np.testing.assert_allclose(img, img[::-1, ::-1], rtol=1e-9)  # centro-symmetric


@pytest.mark.parametrize("shape", ["square", "round", "gauss", "tophat"])
def test_matches_independent_numpy_single_path(shape):
    rng = np.random.default_rng(7)
    F = rng.uniform(10, 200, size=(5, 7, 6))
    hkl = HKLGrid(F, h_min=-2, k_min=-3, l_min=-2, default_F=50.0, count=F.size)
    st = make_setup(
        48, lam=1.0, cell=40.0, N=3, orient=rot((1, 2, 3), 17.0), hkl=hkl, shape=shape,
        fudge=0.7, kahn_factor=0.9, water_background=3.0e-4, distance=0.05, px=4e-4,
    )  # fmt: skip
    img, ref = render_setup(st), numpy_single_path(st)
    assert img.max() > 2 * img.min()  # contrast, not a flat background
    np.testing.assert_allclose(img, ref, rtol=1e-9, atol=1e-12 * ref.max())


def test_last_value_factors_and_oversample_flags():
    """Water only (F = 0): the pixel keeps the first subpixel's factors unless asked."""
    Ibg = 1.0e-3
    st = make_setup(16, default_F=0.0, oversample=2, steps=4, water_background=Ibg, kahn_factor=0.5)
    subs = [(a, b) for a in range(2) for b in range(2)]
    om, po = zip(*(omega_polar(st, positions(st, s)) for s in subs), strict=True)
    scale = R_E2 * FLUENCE / 4
    np.testing.assert_allclose(render_setup(st), scale * Ibg * po[0] * om[0], rtol=1e-12)
    # -oversample_omega: the running I is multiplied by each subpixel's omega
    got = render_setup(replace(st, oversample_omega=True))
    np.testing.assert_allclose(got, scale * Ibg * np.prod(om, 0) * po[0], rtol=1e-12)
    got = render_setup(replace(st, oversample_polar=True))
    np.testing.assert_allclose(got, scale * Ibg * np.prod(po, 0) * om[0], rtol=1e-12)


def test_detector_layers_keep_the_last_layer_capture_fraction():
    Ibg, mu, dz = 1.0e-3, 1.0 / 3.0e-5, 2.0e-5
    st = make_setup(16, default_F=0.0, water_background=Ibg, thicksteps=3, thickstep=dz,
                    detector_thick=6.0e-5, detector_mu=mu)  # fmt: skip
    om, po = omega_polar(st, positions(st))  # omega and polar: first subpixel of layer 0
    pos2 = positions(st, layer=2)
    rho = (pos2 / np.linalg.norm(pos2, axis=-1, keepdims=True)) @ st.odet
    capture = np.exp(-2 * dz * mu / rho) - np.exp(-3 * dz * mu / rho)
    np.testing.assert_allclose(render_setup(st), R_E2 * FLUENCE * Ibg * om * po * capture,
                               rtol=1e-12)  # fmt: skip
    # per-term capture: I = ((Ibg*c0)*c1)*c2 with each layer's fraction
    caps = []
    for t in range(3):
        pos = positions(st, layer=t)
        r = (pos / np.linalg.norm(pos, axis=-1, keepdims=True)) @ st.odet
        caps.append(np.exp(-t * dz * mu / r) - np.exp(-(t + 1) * dz * mu / r))
    got = render_setup(replace(st, oversample_thick=True))
    np.testing.assert_allclose(got, R_E2 * FLUENCE * Ibg * np.prod(caps, 0) * om * po, rtol=1e-12)


def test_phi_and_mosaic_average_the_orientations():
    phis = np.stack([rot((0, 0, 1), 0.0), rot((0, 0, 1), 1.5)])
    umats = np.stack([np.eye(3), rot((1, 1, 0), 0.7), rot((0, 1, 1), -0.4)])
    base = make_setup(40, lam=1.5, cell=30.0, orient=rot((1, 0, 2), 11.0))
    st = replace(base, phi_rotations=phis, phi_angles=np.zeros(2), mosaic_umats=umats, steps=6)
    singles = []
    for p in phis:
        for u in umats:
            abc = (u @ p @ np.stack([base.a0, base.b0, base.c0]).T).T
            singles.append(render_setup(replace(base, a0=abc[0], b0=abc[1], c0=abc[2])))
    np.testing.assert_allclose(render_setup(st), np.mean(singles, 0), rtol=1e-10)


def test_sources_share_the_first_sources_polarisation():
    st = make_setup(32, lam=1.5, cell=30.0, kahn_factor=0.8)
    tilt = rot((0, 0, 1), 2.0) @ BEAM
    two = replace(st, incident=np.stack([BEAM, tilt]), wavelengths=np.array([1.5e-10, 1.6e-10]),
                  steps=2)  # fmt: skip
    one = render_setup(
        replace(two, incident=two.incident[:1], wavelengths=two.wavelengths[:1], steps=1)
    )
    other = render_setup(
        replace(two, incident=two.incident[1:], wavelengths=two.wavelengths[1:], steps=1)
    )
    _, p0 = omega_polar(two, positions(two), 0)
    _, p1 = omega_polar(two, positions(two), 1)
    np.testing.assert_allclose(render_setup(two), 0.5 * (one + other * p0 / p1), rtol=1e-10)


def test_dmin_cut_leaves_zero_even_with_water():
    st = make_setup(64, dmin=200e-10, water_background=1e-3)
    img = render_setup(st)
    pos = positions(st)
    d = pos / np.linalg.norm(pos, axis=-1, keepdims=True)
    stol = 0.5 * np.linalg.norm((d - BEAM) / st.wavelengths[0], axis=-1)
    cut = st.dmin > 0.5 / stol
    assert 0 < cut.sum() < cut.size
    assert (img[cut] == 0).all() and (img[~cut] > 0).all()


def test_roi_and_mask_leave_other_pixels_zero():
    st = make_setup(32)
    full = render_setup(st)
    roi = render_setup(replace(st, roi=(3, 20, 5, 9)))
    np.testing.assert_array_equal(roi[5:10, 3:21], full[5:10, 3:21])
    roi[5:10, 3:21] = 0
    assert not roi.any()
    mask = np.zeros((32, 32), bool)
    mask[::3, ::2] = True
    masked = render_setup(replace(st, mask=mask))
    np.testing.assert_array_equal(masked, np.where(mask, full, 0.0))


def test_bad_setup_gets_one_clear_error():
    st = make_setup(8)
    with pytest.raises(ValueError, match=r"Setup.mask: expected shape \(8, 8\)"):
        render_setup(replace(st, mask=np.ones((4, 8), bool)))
    with pytest.raises(ValueError, match=r"Setup\.shape: expected one of"):
        render_setup(replace(st, shape="cube"))


def test_render_reference_accepts_a_setup():
    st = make_setup(16)
    ref = render_reference("builtin", st)
    assert ref.engine == "builtin" and ref.command is None and ref.wall_s >= 0
    np.testing.assert_array_equal(ref.image, render_setup(st))


# ---------------------------------------------------------------------------------------------
# against the C binary (hand-built Setups that mirror the flags)

SEED = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 96"
_WATER = 2.57**2 * R_E2 * FLUENCE * (100e-6) ** 3 * 1e6 * 6.02214179e23 / 18
C_CASES = {
    "seed": ("", {}),
    "oversample_omega": ("-oversample 2 -oversample_omega",
                         dict(oversample=2, steps=4, oversample_omega=True)),
    "oversample_polar": ("-oversample 3 -oversample_polar",
                         dict(oversample=3, steps=9, oversample_polar=True)),
    "point_pixel_kahn": ("-point_pixel -polar 0.9", dict(point_pixel=True, kahn_factor=0.9)),
    "nopolar_dmin": ("-nopolar -dmin 150", dict(nopolar=True, dmin=150e-10)),
    "round_fudge": ("-round_xtal -fudge 0.8", dict(shape="round", fudge=0.8)),
    "gauss": ("-gauss_xtal", dict(shape="gauss")),
    "tophat_water": ("-tophat_spots -water 100", dict(shape="tophat", water_background=_WATER)),
    "roi": ("-roi 10 50 20 70", dict(roi=(10, 50, 20, 70))),
    "phi": ("-phi 0 -osc 3 -phisteps 3", dict(
        # phi = 0 reuses the previous pixel's last orientation (all but a thread's first pixel)
        phi_rotations=np.stack([rot((0, 0, 1), 2), rot((0, 0, 1), 1), rot((0, 0, 1), 2)]),
        phi_angles=np.radians([0.0, 1.0, 2.0]), steps=3)),
}  # fmt: skip


@pytest.mark.cbin
@pytest.mark.parametrize("case", list(C_CASES))
def test_hand_built_setup_matches_c_binary(case, c_binary, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one thread: only pixel (0, 0) starts fresh
    extra, kw = C_CASES[case]
    ref = run_nanobragg((SEED + " " + extra).split(), c_binary).image
    img = render_setup(make_setup(96, **kw))
    if case == "phi":
        img[0, 0] = ref[0, 0]
    r = np.corrcoef(img.ravel(), ref.ravel())[0, 1]
    assert r >= STRICT_CORR
    # float32 storage in C: agreement to ~1e-7 of the peak everywhere
    assert np.max(np.abs(img - ref)) <= 1e-6 * np.max(np.abs(ref))
