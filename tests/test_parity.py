"""Parity metrics on constructed images whose answers are known."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest

from analysis.parity import GATE, STRICT, compare_images, local_maxima, write_diff_png
from analysis.parity.tolerances import GATE_CORR, SUM_RATIO_TOL
from analysis.tables import CORRELATIONS


def spots(shape=(128, 128), spacing=16, sigma=1.2, seed=0) -> np.ndarray:
    """Gaussian spots on a lattice (centres at odd offsets) over a smooth background."""
    rng = np.random.default_rng(seed)
    ns, nf = shape
    ss, ff = np.mgrid[0:ns, 0:nf].astype(float)
    img = 1e-3 * (1.0 + 0.5 * np.cos(ss / 40.0) * np.sin(ff / 30.0))
    for cs in range(spacing // 2, ns, spacing):
        for cf in range(spacing // 2, nf, spacing):
            amp = rng.uniform(1.0, 10.0)
            img += amp * np.exp(-((ss - cs) ** 2 + (ff - cf) ** 2) / (2 * sigma**2))
    return img


def test_identical_images_pass_strict():
    ref = spots()
    rep = compare_images(ref.copy(), ref)
    assert rep.corr == pytest.approx(1.0, abs=1e-12)
    assert rep.sum_ratio == pytest.approx(1.0, abs=1e-12)
    assert rep.max_abs_err == 0.0 and rep.rmse == 0.0 and rep.frac_over_rtol == 0.0
    assert rep.verdict == "pass" and rep.passes_strict and rep.reasons == ()
    assert rep.peaks.n_reference == 50 and rep.peaks.matched_fraction == 1.0
    assert rep.peaks.offset_px == pytest.approx(0.0, abs=1e-12)
    assert rep.tile_min_corr == pytest.approx(1.0, abs=1e-12)
    assert len(rep.tiles) == 256


def test_scaled_image_fails_on_sum_ratio_everywhere():
    ref = spots()
    rep = compare_images(1.01 * ref, ref)
    assert rep.corr == pytest.approx(1.0, abs=1e-12)
    assert rep.sum_ratio == pytest.approx(1.01, rel=1e-12)
    assert rep.verdict == "fail"
    assert any("sum ratio" in r for r in rep.reasons)
    assert all(t.sum_ratio == pytest.approx(1.01) for t in rep.tiles)
    assert all(s.sum_ratio == pytest.approx(1.01) for s in rep.shells if s.n_pixels)
    # every pixel is off by 1 % > rtol 1e-3; the default absolute floor spares the faintest
    assert compare_images(1.01 * ref, ref, atol=0.0).frac_over_rtol == 1.0
    assert 0.0 < rep.frac_over_rtol < 1.0
    # within tolerance: a 0.1 % scale passes the gate
    assert compare_images(1.001 * ref, ref).verdict == "pass"


def test_shifted_pattern_is_found_by_peak_matching():
    ref = spots()
    one = compare_images(np.roll(ref, 1, axis=1), ref)
    assert one.peaks.matched_fraction == pytest.approx(1.0, abs=0.05)
    assert one.peaks.mean_shift[1] == pytest.approx(1.0, abs=0.05)
    assert one.peaks.mean_shift[0] == pytest.approx(0.0, abs=0.05)
    assert one.peaks.offset_px == pytest.approx(1.0, abs=0.05)
    assert one.corr < GATE_CORR and one.verdict == "fail"
    assert one.sum_ratio == pytest.approx(1.0, abs=1e-12)  # a shift keeps the sum
    three = compare_images(np.roll(ref, 3, axis=0), ref)
    assert three.peaks.matched_fraction == 0.0
    assert len(three.peaks.unmatched) == three.peaks.n_reference


def test_corrupted_tile_is_named_worst():
    ref = spots()
    img = ref.copy()
    rng = np.random.default_rng(1)
    img[40:48, 88:96] = rng.uniform(0, 5, size=(8, 8))  # tile row 5, col 11 (8-px tiles)
    rep = compare_images(img, ref)
    worst = rep.worst_tiles[0]
    assert (worst.row, worst.col) == (5, 11)
    assert worst.slow == (40, 48) and worst.fast == (88, 96)
    assert rep.tile_min_corr == worst.corr < 0.5
    assert rep.worst_tile.startswith("(5,11)")
    others = [t for t in rep.tiles if (t.row, t.col) != (5, 11)]
    assert min(t.corr for t in others) == pytest.approx(1.0, abs=1e-12)


def test_radial_shells_localise_an_outer_error():
    ref = spots((128, 128))
    ss, ff = np.mgrid[0:128, 0:128]
    r = np.hypot(ss + 0.5 - 64, ff + 0.5 - 64)
    img = np.where(r > 60, 1.2 * ref, ref)
    rep = compare_images(img, ref, beam_center=(64.0, 64.0), n_shells=9)
    assert rep.shell_unit == "radius_px"
    inner = [s for s in rep.shells if s.outer <= 60]
    outer = [s for s in rep.shells if s.inner > 60]
    assert inner and outer
    assert all(s.sum_ratio == pytest.approx(1.0) for s in inner)
    assert all(s.sum_ratio == pytest.approx(1.2) for s in outer)
    assert sum(s.n_pixels for s in rep.shells) == 128 * 128


def test_constant_and_nan_images_fail_with_reason():
    ref = spots((32, 32))
    const = compare_images(np.ones_like(ref), ref, tiles=4, top_peaks=5)
    assert const.verdict == "fail" and math.isnan(const.corr)
    assert "image is constant" in const.reasons[0]
    both = compare_images(np.zeros_like(ref), np.zeros_like(ref), tiles=4)
    assert both.verdict == "fail"
    assert both.reasons[0] == "correlation undefined: image and reference are constant"
    zero_ref = compare_images(ref, np.zeros_like(ref), tiles=4)
    assert zero_ref.verdict == "fail"
    assert any("reference sums to 0" in r for r in zero_ref.reasons)
    bad = ref.copy()
    bad[3, 4] = np.nan
    bad[5, 5] = np.inf
    rep = compare_images(bad, ref, tiles=4)
    assert rep.verdict == "fail" and not rep.passes_strict
    assert rep.reasons[0] == "image has 2 non-finite pixels"
    assert math.isfinite(rep.rmse)


def test_bad_shapes_raise_one_clear_error():
    with pytest.raises(ValueError, match=r"shape \(4, 5\) does not match reference shape"):
        compare_images(np.zeros((4, 5)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="must be a 2-D"):
        compare_images(np.zeros(5), np.zeros(5))


def test_strict_threshold_is_stricter_than_gate():
    ref = spots()
    rng = np.random.default_rng(3)
    img = ref + rng.normal(0, 0.02, ref.shape)  # noise gives 0.999 < r < 0.9999
    gate = compare_images(img, ref, thresholds=GATE)
    strict = compare_images(img, ref, thresholds=STRICT)
    assert GATE.min_corr <= gate.corr < STRICT.min_corr
    assert gate.verdict == "pass" and not gate.passes_strict
    assert strict.verdict == "fail" and "strict" in strict.reasons[0]
    assert abs(gate.sum_ratio - 1) <= SUM_RATIO_TOL


def test_to_row_fills_correlation_schema_columns():
    ref = spots((64, 64))
    row = compare_images(ref * 1.0001, ref).to_row()
    assert set(row) <= set(CORRELATIONS.names)
    assert {"corr", "sum_ratio", "max_abs_err", "rmse", "tile_min_corr", "worst_tile"} <= set(row)
    assert row["verdict"] == "pass" and isinstance(row["worst_tile"], str)


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    ref = spots((64, 64))
    rep = compare_images(torch.tensor(ref, dtype=torch.float32), torch.tensor(ref))
    assert rep.corr == pytest.approx(1.0, abs=1e-6) and rep.verdict == "pass"


def test_local_maxima_one_per_plateau():
    img = np.zeros((8, 8))
    img[2, 2:4] = 5.0  # a two-pixel plateau
    img[6, 6] = 3.0
    pk = local_maxima(img, 10)
    assert pk.tolist() == [[2, 2], [6, 6]]


def _read_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(tag + body)
        if tag == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    w, h = header[0], header[1]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, 3)


def test_diff_png_colours_sign_of_difference(tmp_path):
    ref = np.zeros((6, 10))
    img = ref.copy()
    img[1, 2] = 2.0
    img[4, 7] = -1.0
    img[0, 0] = np.nan
    rgb = _read_png(write_diff_png(tmp_path / "d.png", img, ref))
    assert rgb.shape == (6, 10, 3)
    assert rgb[1, 2].tolist() == [255, 0, 0]  # largest positive: red
    assert rgb[4, 7].tolist() == [128, 128, 255]  # half the scale negative: light blue
    assert rgb[3, 3].tolist() == [255, 255, 255]  # no difference: white
    assert rgb[0, 0].tolist() == [0, 0, 0]  # non-finite: black


def test_float32_plateau_ties_are_no_offset():
    ref = spots()
    ref[56:58, 56:58] = ref[56, 56] + 5.0  # a flat 2x2 peak top
    img = ref.copy()
    img[57, 57] *= 1 + 1e-7  # float32-level rounding picks another pixel of the plateau
    assert local_maxima(img, 1)[0].tolist() != local_maxima(ref, 1)[0].tolist()
    rep = compare_images(img, ref)
    assert rep.peaks.matched_fraction == 1.0
    assert rep.peaks.offset_px == pytest.approx(0.0, abs=1e-6)


def test_twotheta_map_matches_explicit_vectors():
    from types import SimpleNamespace

    from analysis.parity import twotheta_map

    f = np.array([0.0, 0.6, 0.8])
    s = np.array([0.0, -0.8, 0.6])
    st = SimpleNamespace(
        pixel_size=1e-4, fpixels=7, spixels=5, pix0=np.array([0.1, 0.002, -0.003]),
        fdet=f, sdet=s, incident=np.array([[1.0, 0.0, 0.0]]),
    )  # fmt: skip
    tt = twotheta_map(st)
    assert tt.shape == (5, 7)
    for j, i in [(0, 0), (4, 6), (2, 3)]:
        P = st.pix0 + (i + 0.5) * 1e-4 * f + (j + 0.5) * 1e-4 * s
        assert tt[j, i] == pytest.approx(np.arccos(P[0] / np.linalg.norm(P)), abs=1e-12)
    rep = compare_images(np.ones((5, 7)) + tt, np.ones((5, 7)) + tt, setup=st, n_shells=3)
    assert rep.shell_unit == "twotheta_rad"
    assert rep.shells[0].inner == pytest.approx(tt.min()) and rep.shells[-1].outer == pytest.approx(
        tt.max()
    )
