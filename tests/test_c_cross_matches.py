"""Where the C program reads one flag as another, or computes a term a switch turned off.

Each rule is the C program's (nanoBragg.c matches flag names with ``strstr``; its
``-oversample_thick/_polar`` compute their factor whatever else is set). The images are
checked against the C binary in tests/test_flags_cbin.py and the parity matrix.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from simulator import Simulation, parse_flags, resolve
from simulator.reference import render_reference

BASE = "-default_F 100 -cell 100 100 100 90 90 90 -N 5 -lambda 1 -distance 100 -detpixels 32"


@pytest.mark.parametrize(
    ("flags", "misset", "random"),
    [
        ("-misset random -misset_seed 3 -lambda 1 " + BASE, (3.0, 0.0, 1.0), False),
        ("-misset_seed 3 -N 5 -misset random " + BASE, None, True),  # random after: it wins
        (BASE + " -misset random -misset_seed 3", None, True),  # no three tokens after it
        (BASE + " -misset 10 20 30 -misset_seed 4 -fudge 2", (4.0, 0.0, 2.0), False),
    ],
)
def test_misset_seed_is_also_read_as_misset(flags, misset, random):
    crystal = parse_flags(flags).crystal
    assert crystal.misset_random is random
    if misset is not None:
        assert crystal.misset_deg == misset


def test_twotheta_axis_is_also_read_as_twotheta():
    detector = parse_flags(BASE + " -twotheta 10 -twotheta_axis 3 1 0").detector
    assert detector.twotheta_deg == 3.0 and detector.pivot == "sample"
    later = parse_flags(BASE + " -twotheta_axis 3 1 0 -twotheta 10 -pivot beam").detector
    assert later.twotheta_deg == 10.0 and later.pivot == "beam"


def test_the_command_line_says_when_a_flag_was_read_as_another(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "simulator", *("-misset random -misset_seed 3 " + BASE).split()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "nanoBragg also reads -misset_seed as -misset" in out
    assert "misset 3 0 100 degrees from `3 -default_F 100`" in out  # atof("-default_F") = 0


@pytest.mark.parametrize("engine", ["engine", "builtin"])
def test_oversample_thick_without_a_sensor_gives_the_c_program_s_zero_image(engine):
    cfg = parse_flags(BASE + " -oversample_thick")
    if engine == "engine":
        image = Simulation(cfg).render().numpy()
    else:
        image = render_reference("builtin", cfg).image
    assert image.shape == (32, 32) and not np.any(image)  # exp(0) - exp(0) in every layer
    assert Simulation(parse_flags(BASE)).render().numpy().max() > 0


def test_oversample_polar_computes_the_factor_even_under_nopolar():
    plain = Simulation(parse_flags(BASE + " -nopolar")).render().double().numpy()
    polar = Simulation(parse_flags(BASE + " -nopolar -oversample_polar")).render()
    unpolarised = Simulation(parse_flags(BASE + " -oversample_polar")).render()
    assert np.allclose(polar.double().numpy(), unpolarised.double().numpy(), rtol=1e-6)
    assert polar.double().numpy().sum() < plain.sum()  # 0.5(1 + cos^2 2theta) <= 1
    assert resolve(parse_flags(BASE + " -nopolar -oversample_polar")).nopolar


#: the direct beam on a sub-pixel centre: h = k = l = 0 to rounding, so sinc3's argument is
#: ~5e-14, where the C program's closed form cancels to 0
ROUND_DIRECT_BEAM = (
    "-default_F 50 -cell 50 60 70 90 90 90 -Na 40 -Nb 51 -round_xtal -adxv -lambda 1 "
    "-close_distance 90 -detpixels_f 60 -detpixels_s 40"
)


def test_round_xtal_keeps_the_c_program_s_hole_at_a_lattice_point():
    cfg = parse_flags(ROUND_DIRECT_BEAM)
    ours = Simulation(cfg, dtype="float64").render().double().numpy()
    builtin = render_reference("builtin", cfg).image  # the C formula, in Numba
    np.testing.assert_allclose(ours, builtin, rtol=1e-9, atol=0)
    # the brightest pixel holds the hole: its value is below what a series would give
    series_like = 1216.977  # measured with the series 1 - x^2/10 (before following C)
    assert ours[20, 30] < 0.96 * series_like


def test_a_gauss_term_whose_square_underflows_is_not_skipped(tmp_path):
    """The C loop skips an iteration only where F_latt is 0, not where F_latt² underflows:
    with -oversample_omega every kept iteration multiplies the sum by the solid angle."""
    from simulator.parity_cases import write_case_data

    data = write_case_data(tmp_path)
    flags = (
        f"-hkl {data}/P1.hkl -cell 70 80 90 85 95 100 -Na 29 -Nb 38 -Nc 8 -gauss_xtal "
        "-energy 12000 -detpixels 48 -pixel 0.2 -point_pixel -oversample 2 -oversample_omega"
    )
    cfg = parse_flags(flags)
    ours = Simulation(cfg, dtype="float64").render().double().numpy()
    builtin = render_reference("builtin", cfg).image
    assert builtin.max() > 0
    np.testing.assert_allclose(ours.sum(), builtin.sum(), rtol=1e-6)  # was 1/100 of it
