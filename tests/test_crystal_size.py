"""Crystal size -> Na, Nb, Nc by nanoBragg's rule, and what it changes downstream."""

from __future__ import annotations

import math

import pytest

from simulator.crystal_size import (
    auto_interpolate,
    cell_length_m,
    crystal_size,
    recommended_oversample,
)
from simulator.flags import FlagError, parse_flags
from simulator.resolve import resolve

CELL = "-cell 100 100 100 90 90 90 -lambda 6.2 -distance 100 -detpixels 32"


def test_count_is_ceil_of_size_over_cell_length():
    lengths = (100e-10, 80e-10, 50e-10)
    size = crystal_size((1, 1, 1), (0.00021, 0.0002, 0.00001), lengths, beamsize_mm=0.1)
    assert size.counts == (
        math.ceil(0.00021e-3 / 100e-10),
        math.ceil(0.0002e-3 / 80e-10),
        math.ceil(0.00001e-3 / 50e-10),
    )
    assert size.counts == (21.0, 25.0, 2.0)
    assert size.dimensions == pytest.approx((21 * 100e-10, 25 * 80e-10, 2 * 50e-10))
    assert size.largest == pytest.approx(21 * 100e-10)


def test_size_wins_over_N_on_its_own_axis_only():
    size = crystal_size((7, 8, 9), (0.00031, None, 0.0), (100e-10,) * 3, beamsize_mm=0.1)
    assert size.counts == (31.0, 8.0, 9.0)


def test_counts_below_one_become_one():
    assert crystal_size((0, -3, 1), (None,) * 3, (1e-9,) * 3, 0.1).counts == (1.0, 1.0, 1.0)


def test_sizes_across_the_beam_are_clipped_to_it_with_the_C_warning():
    size = crystal_size((1, 1, 1), (0.3, 0.2, 0.15), (100e-10,) * 3, beamsize_mm=0.1)
    assert size.counts == (30000.0, 10000.0, 10000.0)  # along the beam (a): not clipped
    assert size.warnings == (
        "clipping sample (0.0002 m high) with beam (0.0001 m)",
        "clipping sample (0.00015 m wide) with beam (0.0001 m)",
    )


def test_cell_length_is_the_norm_in_metres():
    assert cell_length_m((30.0, 40.0, 0.0)) == pytest.approx(50e-10, rel=1e-15)


def test_auto_interpolation_looks_at_the_N_flags_only():
    assert auto_interpolate((1, 5, 5)) and auto_interpolate((3, 3, 2))
    assert not auto_interpolate((3, 3, 3))


def test_recommended_oversample_formula():
    # ceil(3 * 1.5e-6 m / (6.2e-10 m * 0.1 m / 1e-4 m)) = ceil(7.26) = 8
    assert recommended_oversample(1.5e-6, 6.2e-10, 0.1, 1e-4) == 8
    assert recommended_oversample(1e-9, 6.2e-10, 0.1, 1e-4) == 1


@pytest.mark.parametrize(
    "flags, counts",
    [
        ("-xtalsize 0.00021", (21.0, 21.0, 21.0)),
        ("-xtal_size 0.00021", (21.0, 21.0, 21.0)),
        ("-samplesize 0.00021", (21.0, 21.0, 21.0)),
        ("-sample_size 0.00021", (21.0, 21.0, 21.0)),
        ("-N 3 -xtal_thick 0.00021", (21.0, 3.0, 3.0)),
        ("-xtal_x 0.00021 -N 3", (21.0, 3.0, 3.0)),
        ("-N 3 -sample_thick 0.00021 -sample_x 0.00011", (11.0, 3.0, 3.0)),
        ("-N 3 -xtal_width 0.00021", (3.0, 21.0, 3.0)),
        ("-N 3 -xtal_y 0.00021", (3.0, 21.0, 3.0)),
        ("-N 3 -sample_width 0.00021", (3.0, 21.0, 3.0)),
        ("-N 3 -sample_y 0.00021", (3.0, 21.0, 3.0)),
        ("-N 3 -width 0.00021", (3.0, 21.0, 3.0)),
        ("-N 3 -xtal_height 0.00021", (3.0, 3.0, 21.0)),
        ("-N 3 -xtal_heigh 0.00021", (3.0, 3.0, 21.0)),
        ("-N 3 -xtal_z 0.00021", (3.0, 3.0, 21.0)),
        ("-N 3 -sample_height 0.00021", (3.0, 3.0, 21.0)),
        ("-N 3 -sample_z 0.00021", (3.0, 3.0, 21.0)),
        ("-N 3 -height 0.00021", (3.0, 3.0, 21.0)),
        ("-xtalsize 0.00021 -xtal_z 0", (21.0, 21.0, 1.0)),
        ("-xtalsize 0.00021 -Nc 4 -xtal_z 0", (21.0, 21.0, 4.0)),
    ],
)
def test_flags_give_counts_by_the_C_rule_in_any_order(flags, counts):
    setup = resolve(parse_flags(f"-default_F 10 {CELL} {flags}"))
    assert (setup.Na, setup.Nb, setup.Nc) == counts


def test_size_sets_auto_oversampling():
    # 50 cells of 100 Å: 5e-7 m over a reciprocal pixel of 6.2e-7 m -> ceil(2.42) = 3
    setup = resolve(parse_flags(f"-default_F 10 {CELL} -xtalsize 0.0005"))
    assert setup.oversample == 3
    assert setup.notes["oversample"] == "auto-selected 3-fold oversampling"


def test_auto_interpolation_is_chosen_before_the_size_sets_N(tmp_path):
    hkl = tmp_path / "F.hkl"
    hkl.write_text("\n".join(f"{h} 0 0 10" for h in range(-3, 4)) + "\n")
    big = resolve(parse_flags(f"-hkl {hkl} {CELL} -xtalsize 0.0005"))
    assert big.Na == 50.0 and big.interpolate  # -N not given: 1 <= 2, so nanoBragg interpolates
    assert resolve(parse_flags(f"-hkl {hkl} {CELL} -N 3 -xtalsize 0.0001")).interpolate is False
    assert not resolve(
        parse_flags(f"-hkl {hkl} {CELL} -xtalsize 0.0005 -nointerpolate")
    ).interpolate


def test_a_size_without_a_number_is_one_clear_error():
    with pytest.raises(FlagError, match="-xtalsize: expected a number"):
        parse_flags(f"-default_F 10 {CELL} -xtalsize big")


def test_an_exact_multiple_of_a_missetted_cell_counts_as_the_c_program_counts():
    """2000 Å of a 50 Å cell is 40 cells; after a misset |a| carries rounding, and the C
    program's rotation order gives 40 (the matrix product gave 41: 2.5 % more signal)."""
    from simulator import parse_flags, resolve

    flags = "-default_F 50 -cell 50 60 70 90 90 90 -lambda 1 -distance 100 -detpixels 32"
    for misset in ("", " -misset 10 20 30", " -misset 1 2 3"):
        setup = resolve(parse_flags(flags + " -xtal_thick 0.0002" + misset))
        assert setup.Na == 40, misset


def test_the_c_order_rotation_is_the_matrix_rotation_to_rounding():
    import math

    import numpy as np

    from simulator.rotation import rotate_xyz_like_c, rotation_xyz

    v = np.array([0.02, -0.013, 0.007])
    for angles in ((0.1, 0.2, 0.3), (0.0, 0.5, 0.0), (math.pi / 2, 0.0, -1.0)):
        np.testing.assert_allclose(rotate_xyz_like_c(v, *angles), rotation_xyz(*angles) @ v, 1e-14)
    assert rotate_xyz_like_c(v, 0.0, 0.0, 0.0).tolist() == v.tolist()  # zero angles: skipped
