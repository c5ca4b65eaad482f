"""Physics of the PyTorch engine checked against formulas, with no C program involved."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from simulator import Simulation, parse_flags, resolve
from simulator.constants import DEFAULT_FLUENCE, R_E_SQR
from simulator.testing import FP32_VS_FP64_CORR

PX_MM = 0.1


def render(flags: str, dtype: str = "float64", **kw) -> np.ndarray:
    return Simulation.from_flags(flags, dtype=dtype, **kw).render().cpu().numpy().astype(np.float64)


def centroid(image: np.ndarray, slow: int, fast: int, half: int = 3) -> tuple[float, float]:
    """Intensity-weighted centre (slow, fast) of the window around a pixel."""
    window = image[slow - half : slow + half + 1, fast - half : fast + half + 1]
    ys, xs = np.mgrid[slow - half : slow + half + 1, fast - half : fast + half + 1]
    return float((window * ys).sum() / window.sum()), float((window * xs).sum() / window.sum())


def bragg_flags(a: float, h: int, wavelength: float, extra: str = "") -> tuple[str, float]:
    """Flags that put reflection (h 0 0) of a cubic cell exactly in the Bragg condition.

    MOSFLM: beam along +x, a* along x before the misset. Rotating a* by 90° + θ about z
    makes g = (−sin θ, cos θ, 0)·h/a, which satisfies g·i = −λ|g|²/2 when sin θ = λh/(2a).
    """
    theta = math.asin(wavelength * h / (2 * a))
    flags = (
        f"-default_F 10 -cell {a} {a} {a} 90 90 90 -lambda {wavelength} -N 10 "
        f"-distance 100 -detpixels 256 -Xbeam 12.8 -Ybeam 12.8 -nopolar "
        f"-misset 0 0 {90 + math.degrees(theta)} {extra}"
    )
    return flags, theta


@pytest.mark.parametrize(("a", "h", "wavelength"), [(20.0, 1, 1.0), (20.0, 2, 1.0), (30.0, 3, 1.0)])
def test_bragg_peak_lands_at_two_theta_from_bragg_law(a, h, wavelength):
    flags, theta = bragg_flags(a, h, wavelength)
    image = render(flags)
    # MOSFLM: +y (where 2θ deflects) is -slow; the direct beam is at pixel 128 (Xbeam/px)
    offset_px = 100.0 * math.tan(2 * theta) / PX_MM
    want_slow, want_fast = 128.0 - offset_px, 128.0
    slow, fast = round(want_slow), round(want_fast)
    got = centroid(image, slow, fast)
    assert got == pytest.approx((want_slow, want_fast), abs=0.5)
    # and it is a real peak: the brightest pixel within ±5 px of the prediction
    patch = image[slow - 5 : slow + 6, fast - 5 : fast + 6]
    assert np.unravel_index(np.argmax(patch), patch.shape) in {(5, 5), (4, 5), (6, 5)}


def test_mosflm_and_xds_beam_centres_differ_by_half_a_pixel():
    base = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 128"
    # MOSFLM: Fbeam = Ybeam + px/2, so Xbeam = Ybeam = 6.4 mm centres pixel 64 itself
    mosflm = render(base + " -mosflm -Xbeam 6.4 -Ybeam 6.4")
    k = np.arange(1, 60)
    assert np.allclose(mosflm[:, 64 + k], mosflm[:, 64 - k], rtol=1e-9)
    assert np.allclose(mosflm[64 + k, :], mosflm[64 - k, :], rtol=1e-9)
    # XDS: ORGX/ORGY are pixel-centre coordinates: 64.5 puts the beam on the edge 63|64
    xds = render(base + " -xds -ORGX 64.5 -ORGY 64.5 -close_distance 100")
    assert np.allclose(xds[:, 64 + k - 1], xds[:, 63 - k + 1], rtol=1e-9)
    assert not np.allclose(xds[:, 64 + k], xds[:, 64 - k], rtol=1e-3)
    # and ORGX 65 brings it back onto pixel 64, like the MOSFLM centre above
    xds_centred = render(base + " -xds -ORGX 65 -ORGY 65 -close_distance 100")
    assert np.allclose(xds_centred[:, 64 + k], xds_centred[:, 64 - k], rtol=1e-9)


@pytest.mark.parametrize("n", [2, 3, 5])
@pytest.mark.parametrize("f", [10.0, 100.0])
def test_peak_intensity_scales_as_n6_and_f2(n, f):
    # the direct-beam pixel (q = 0) sees F_latt = Na·Nb·Nc exactly
    flags = (
        f"-default_F {f} -cell 50 50 50 90 90 90 -lambda 1 -N {n} -distance 100 "
        "-detpixels 65 -Xbeam 3.2 -Ybeam 3.2 -point_pixel -oversample 1"
    )
    image = render(flags)
    assert np.unravel_index(np.argmax(image), image.shape) == (32, 32)
    expected = R_E_SQR * DEFAULT_FLUENCE * f**2 * n**6 / (0.1**2)  # point pixel: 1/R², R = 0.1 m
    assert image[32, 32] == pytest.approx(expected, rel=1e-9)


def _pixel_geometry(n: int, distance_m: float, beam_px: float):
    """Lab positions of MOSFLM pixel centres for a beam centred at pixel `beam_px`."""
    idx = np.arange(n) + 0.5
    s_m = (idx - (beam_px + 0.5)) * PX_MM / 1000  # slow offset from the beam, m
    f_m = s_m.copy()
    S, F = np.meshgrid(s_m, f_m, indexing="ij")
    x = np.full_like(S, distance_m)
    y = -S  # sdet = -y
    z = F  # fdet = +z
    return x, y, z


def test_point_pixel_solid_angle_falls_as_inverse_square():
    flags = (
        "-default_F 1 -cell 50 50 50 90 90 90 -lambda 1 -N 1 -distance 50 -detpixels 101 "
        "-Xbeam 5 -Ybeam 5 -nopolar -point_pixel"
    )
    image = render(flags)
    x, y, z = _pixel_geometry(101, 0.05, 50)
    r2 = x * x + y * y + z * z
    np.testing.assert_allclose(image * r2 / (R_E_SQR * DEFAULT_FLUENCE), 1.0, rtol=1e-9)
    # a real pixel adds the obliquity: ω = px²·D/R³
    flat = render(flags.replace(" -point_pixel", ""))
    omega = (PX_MM / 1000) ** 2 * 0.05 / r2**1.5
    np.testing.assert_allclose(flat / omega / (R_E_SQR * DEFAULT_FLUENCE), 1.0, rtol=1e-9)


@pytest.mark.parametrize("kahn", [0.0, 0.5, 1.0])
def test_kahn_polarisation_factor_matches_its_formula(kahn):
    flags = (
        "-default_F 1 -cell 50 50 50 90 90 90 -lambda 1 -N 1 -distance 20 -detpixels 101 "
        f"-Xbeam 5 -Ybeam 5 -point_pixel -polar {kahn}"
    )
    image = render(flags)
    x, y, z = _pixel_geometry(101, 0.02, 50)
    r = np.sqrt(x * x + y * y + z * z)
    cos2t = x / r  # incident along +x
    # MOSFLM: polarisation axis +z, so B_in = z × x = +y and E_in = x × y = +z
    psi = -np.arctan2(y / r, z / r)
    factor = 0.5 * (1 + cos2t**2 - kahn * np.cos(2 * psi) * (1 - cos2t**2))
    got = image * r * r / (R_E_SQR * DEFAULT_FLUENCE)
    np.testing.assert_allclose(got, factor, rtol=1e-9)
    nopolar = render(flags + " -nopolar") * r * r / (R_E_SQR * DEFAULT_FLUENCE)
    np.testing.assert_allclose(nopolar, 1.0, rtol=1e-9)


def test_phi_rotation_equals_the_same_misset():
    flags, theta = bragg_flags(20.0, 1, 1.0)
    exact = render(flags)
    # start 3° short of the Bragg orientation and let the spindle (MOSFLM: +z) turn 3°
    short = flags.replace(
        f"-misset 0 0 {90 + math.degrees(theta)}", f"-misset 0 0 {87 + math.degrees(theta)}"
    )
    assert not np.allclose(render(short), exact, rtol=1e-3)
    turned = render(short + " -phi 3 -osc 0 -phisteps 1")
    np.testing.assert_allclose(turned, exact, rtol=1e-7, atol=1e-12 * exact.max())


def test_misset_about_the_beam_rotates_the_pattern_about_the_beam():
    flags, _ = bragg_flags(20.0, 1, 1.0)
    base = render(flags)
    slow, fast = np.unravel_index(np.argmax(base[:120]), base.shape)  # the (1 0 0) spot
    # a* in the x-y plane first, then a rotation about x (the beam) by 30°: misset applies
    # x, then y, then z — so build the same orientation with a z-then-x order in flags:
    rotated = Simulation(parse_flags(flags), dtype="float64")
    setup = rotated.setup
    angle = math.radians(30.0)
    rot_x = np.array(
        [[1, 0, 0], [0, math.cos(angle), -math.sin(angle)], [0, math.sin(angle), math.cos(angle)]]
    )
    from dataclasses import replace

    turned_setup = replace(setup, a0=rot_x @ setup.a0, b0=rot_x @ setup.b0, c0=rot_x @ setup.c0)
    turned = Simulation(turned_setup, dtype="float64").render().numpy()
    s2, f2 = np.unravel_index(
        np.argmax(turned[:, :] * (np.abs(np.arange(256) - 128)[:, None] > 10)), turned.shape
    )
    # positions relative to the beam (pixel 128, 128), in lab (y, z) = (-slow, fast)
    before = np.array([-(slow - 128.0), fast - 128.0])
    after = np.array([-(s2 - 128.0), f2 - 128.0])
    assert np.linalg.norm(after) == pytest.approx(np.linalg.norm(before), abs=1.0)
    turned_by = math.atan2(after[1], after[0]) - math.atan2(before[1], before[0])
    assert math.degrees(turned_by) == pytest.approx(30.0, abs=1.0)


@pytest.mark.parametrize(
    "flags",
    [
        "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 128",
        "-default_F 100 -cell 40 50 60 80 95 105 -misset 10 20 30 -lambda 1 -N 4 -distance 60 "
        "-detpixels 128 -mosaic 0.5 -mosaic_dom 4 -oversample 2",
    ],
)
def test_float32_matches_float64(flags):
    single = render(flags, dtype="float32")
    double = render(flags, dtype="float64")
    assert np.corrcoef(single.ravel(), double.ravel())[0, 1] >= FP32_VS_FP64_CORR
    assert single.sum() / double.sum() == pytest.approx(1.0, abs=1e-4)


def test_chunking_does_not_change_the_image():
    flags = (
        "-default_F 100 -cell 40 50 60 80 95 105 -lambda 1 -N 4 -distance 60 -detpixels 50 "
        "-mosaic 0.5 -mosaic_dom 3 -oversample 2 -detector_thick 50 -detector_thicksteps 2"
    )
    whole = Simulation.from_flags(flags, dtype="float64", chunk_elements=1 << 30).render()
    tiny = Simulation.from_flags(flags, dtype="float64", chunk_elements=4000)
    assert tiny.blocks()[0] * tiny.blocks()[1] < 50 * 50
    torch.testing.assert_close(tiny.render(), whole, rtol=1e-12, atol=0)


def test_roi_and_mask_leave_other_pixels_at_zero(tmp_path):
    from simulator.image_files import write_smv

    mask = np.ones((40, 40), np.uint16)
    mask[5:10, :] = 0
    write_smv(tmp_path / "mask.img", mask, {"PIXEL_SIZE": 0.1})
    flags = "-default_F 100 -cell 50 50 50 90 90 90 -lambda 1 -N 3 -distance 50 -detpixels 40"
    full = render(flags)
    roi = render(flags + " -roi 10 20 15 30")
    assert np.all(roi[:15] == 0) and np.all(roi[31:] == 0) and np.all(roi[:, 21:] == 0)
    np.testing.assert_array_equal(roi[15:31, 10:21], full[15:31, 10:21])
    masked = render(flags + f" -mask {tmp_path / 'mask.img'}")
    assert np.all(masked[5:10] == 0)
    np.testing.assert_array_equal(masked[10:], full[10:])


def test_setup_resolves_the_c_programs_auto_choices():
    setup = resolve(
        parse_flags(
            "-default_F 1 -cell 100 100 100 90 90 90 -N 20 -lambda 1 -detpixels 64 -mosaic 0.5"
        )
    )
    assert setup.oversample == math.ceil(3 * 20 * 100e-10 / (1e-10 * 0.1 / 1e-4))
    assert setup.n_domains == 10  # a spread without a count: nanoBragg's 10 domains
    assert np.allclose(setup.mosaic_umats[0], np.eye(3))
    div = resolve(
        parse_flags(
            "-default_F 1 -cell 50 50 50 90 90 90 -divergence 1 -divsteps 3 "
            "-dispersion 1 -dispsteps 2"
        )
    )
    assert div.n_sources == 9 * 2 - 4 * 2  # 3x3 grid, corners dropped (round_div), 2 wavelengths
    assert div.steps == div.n_sources * div.n_domains * div.phisteps * div.oversample**2


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_matches_cpu(dtype):
    flags = (
        "-default_F 100 -cell 40 50 60 80 95 105 -misset 10 20 30 -lambda 1 -N 4 -distance 60 "
        "-detpixels 128 -mosaic 0.5 -mosaic_dom 4 -oversample 2"
    )
    cpu = Simulation.from_flags(flags, device="cpu", dtype=dtype).render()
    gpu = Simulation.from_flags(flags, device="cuda", dtype=dtype).render()
    assert gpu.device.type == "cuda" and gpu.dtype == cpu.dtype
    corr = np.corrcoef(gpu.cpu().double().numpy().ravel(), cpu.double().numpy().ravel())[0, 1]
    assert corr >= FP32_VS_FP64_CORR


def test_farm_target_builds_with_the_grids_options():
    from simulator.target import factory

    flags = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"
    plain = factory(32, "cpu", "float64", {"flags": flags})()
    chunked = factory(32, "cpu", "float64", {"flags": flags, "chunk_elements": 300})()
    assert plain.shape == (32, 32)
    torch.testing.assert_close(chunked, plain, rtol=1e-12, atol=0)


@pytest.mark.slow
def test_compiled_engine_matches_eager():
    flags = (
        "-default_F 100 -cell 40 50 60 80 95 105 -misset 10 20 30 -lambda 1 -N 4 -distance 60 "
        "-detpixels 40 -mosaic 0.5 -mosaic_dom 3"
    )
    eager = Simulation.from_flags(flags, dtype="float64").render()
    compiled = Simulation.from_flags(flags, dtype="float64", compile=True, chunk_elements=20000)
    image = compiled.render()
    assert compiled.compile, "torch.compile fell back to eager"
    torch.testing.assert_close(image, eager, rtol=1e-9, atol=1e-12 * float(eager.max()))
    torch.testing.assert_close(compiled.render(), image)  # warm: the compiled kernel again
