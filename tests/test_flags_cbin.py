"""The new flags against the nanoBragg C binary given the user's own command line.

The case matrix checks the engine against the C program through ``to_flags()``; here the C
program reads the flags exactly as a user pastes them (``-img`` and ``-mask`` headers, flags
that change nothing, size flags before ``-N``), and prints its own interpolation warning.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest

from analysis.parity.metrics import compare_images
from analysis.parity.tolerances import STRICT_CORR
from simulator import Simulation, parse_flags, resolve
from simulator.parity_cases import case_flags, write_case_data
from simulator.reference.builtin import render_interpolation_stop
from simulator.reference.nanobragg import prepare_flags, run_nanobragg

pytestmark = pytest.mark.cbin
SUM_TOL = 1e-3
_WARNING = re.compile(r"out of range for three point interpolation: h,k,l,h0,k0,l0: ([^ ]+)")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_case_data(tmp_path_factory.mktemp("flags_cbin"))


RAW = {
    "img_then_flags": "-img {data}/header.img -default_F 100 -cell 100 100 100 90 90 90 -N 5 "
    "-detpixels 40 -lambda 2",
    "img_xds": "-default_F 100 -cell 100 100 100 90 90 90 -N 5 -img {data}/header.img -xds",
    "sizes_before_N": "-default_F 100 -xtal_thick 0.0002 -xtal_width 0.00031 -N 4 "
    "-cell 100 100 100 90 90 90 -lambda 6.2 -distance 100 -detpixels 64",
    "noop_flags": "-hkl {data}/P1.hkl -cell 30 30 30 90 90 90 -lambda 1 -N 3 -distance 100 "
    "-detpixels 48 -coherent -printout_pixel 3 4 -stol {data}/water.stol -4stol "
    "{data}/water.stol -Q {data}/water.stol -stolout out.stol -dump my.bin -density 1.2 "
    "-MW 20000 -molecules 3 -source_distance 100 -trace_pixel 1 2",
    "curved_det_middle": "-default_F 100 -cell 50 60 70 90 90 90 -lambda 1 -N 3 -curved_det "
    "-distance 50 -detpixels 64",
    "misset_seed_read_as_misset": "-default_F 100 -cell 50 60 70 90 90 90 -N 3 -distance 50 "
    "-detpixels 64 -misset random -misset_seed 7 -lambda 1",
    "misset_seed_last": "-default_F 100 -cell 50 60 70 90 90 90 -N 3 -distance 50 -lambda 1 "
    "-detpixels 64 -misset random -misset_seed 7",
    "twotheta_axis_read_as_twotheta": "-default_F 100 -cell 50 60 70 90 90 90 -N 3 -lambda 1 "
    "-distance 50 -detpixels 64 -twotheta 10 -twotheta_axis 3 1 0",
    "nopolar_oversample_polar": "-default_F 100 -cell 50 60 70 90 90 90 -N 3 -lambda 1 "
    "-distance 50 -detpixels 64 -nopolar -oversample 2 -oversample_polar",
    "mask_header": "-mask {data}/mask_header.img -default_F 100 -cell 100 100 100 90 90 90 -N 5",
    "mask_header_xds_flags": "-xds -default_F 100 -cell 100 100 100 90 90 90 -N 5 -Ybeam 3 "
    "-mask {data}/mask_header.img -lambda 2",
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(RAW))
def test_engine_matches_c_given_the_raw_command_line(name, dtype, data, c_binary, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    flags = RAW[name].format(data=data)
    image = Simulation(parse_flags(flags), dtype=dtype).render().double().numpy()
    reference = run_nanobragg(shlex.split(flags), c_binary).image
    report = compare_images(image, reference)
    assert report.corr >= STRICT_CORR, (name, report.corr)
    assert abs(report.sum_ratio - 1.0) <= SUM_TOL, (name, report.sum_ratio)


@pytest.mark.parametrize("case", ["interpolate_stop", "interpolate_stop_mask"])
def test_interpolation_stops_at_the_sample_the_one_thread_c_program_names(
    case, data, c_binary, monkeypatch, tmp_path
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    flags = case_flags(case, data)
    out = tmp_path / "c.bin"
    argv = [str(c_binary), "-floatfile", str(out), *prepare_flags(shlex.split(flags))]
    run = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, check=True)
    found = _WARNING.findall(run.stdout)
    assert len(found) == 1, run.stdout[-2000:]  # printed once: "further warnings will not…"
    c_hkl = [float(v) for v in found[0].split(",")[:3]]
    c_image = np.fromfile(out, dtype="<f4").reshape(96, 96).astype(np.float64)
    for dtype in ("float64", "float32"):
        simulation = Simulation(parse_flags(flags), dtype=dtype)
        image = simulation.render().double().numpy()
        stop = simulation.interpolation_stop
        assert stop is not None
        np.testing.assert_allclose(stop.hkl, c_hkl, rtol=1e-5, atol=1e-5)
        report = compare_images(image, c_image)
        assert report.corr >= STRICT_CORR and abs(report.sum_ratio - 1) <= SUM_TOL, dtype
    builtin, builtin_stop = render_interpolation_stop(resolve(parse_flags(flags)))
    np.testing.assert_allclose(builtin_stop, c_hkl, rtol=1e-5, atol=1e-5)
    assert np.max(np.abs(builtin - c_image)) <= 1e-6 * np.max(c_image)


def test_oversample_thick_without_a_sensor_is_zero_in_the_c_program_too(c_binary):
    flags = "-default_F 100 -cell 50 60 70 90 90 90 -N 3 -lambda 1 -distance 50 -detpixels 32"
    reference = run_nanobragg([*flags.split(), "-oversample_thick"], c_binary).image
    ours = Simulation(parse_flags(flags + " -oversample_thick")).render().numpy()
    assert not np.any(reference) and not np.any(ours)
    assert run_nanobragg(flags.split(), c_binary).image.max() > 0


def test_round_xtal_direct_beam_pixel_equals_the_c_program_s_in_float64(c_binary):
    """sinc3 as C computes it: 0 where its argument is ~5e-14 (float32 cannot see this)."""
    from tests.test_c_cross_matches import ROUND_DIRECT_BEAM

    reference = run_nanobragg(ROUND_DIRECT_BEAM.split(), c_binary).image
    ours = Simulation(parse_flags(ROUND_DIRECT_BEAM), dtype="float64").render().double().numpy()
    report = compare_images(ours, reference)
    assert report.corr >= STRICT_CORR and abs(report.sum_ratio - 1.0) <= 1e-6
    assert ours[20, 30] == pytest.approx(reference[20, 30], rel=1e-6)
