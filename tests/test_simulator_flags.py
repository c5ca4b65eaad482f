"""nanoBragg flag parsing, configuration validation and the flags we hand to the C program."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

import simulator.config
from simulator import FlagError, SetupError, SimulationConfig, parse_flags, resolve
from simulator.config import ConfigError, DetectorConfig
from simulator.flags import to_flags, with_flags

BASE = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 64"


@pytest.mark.parametrize(
    ("flags", "field", "value"),
    [
        ("-wave 1.5", ("beam", "wavelength_A"), 1.5),
        ("-energy 12398.42", ("beam", "wavelength_A"), 1.0),
        ("-mosaic_dom 7", ("crystal", "mosaic_domains"), 7),
        ("-mosaic_domains 7", ("crystal", "mosaic_domains"), 7),
        ("-mosaicity 0.3", ("crystal", "mosaic_spread_deg"), 0.3),
        ("-detpixels_x 30", ("detector", "fpixels"), 30),
        ("-detpixels_y 40", ("detector", "spixels"), 40),
        ("-detector_absorb 30", ("detector", "absorption_um"), 30.0),
        ("-thicksteps 4", ("detector", "thicksteps"), 4),
        ("-floatimage out.bin", ("output", "floatfile"), "out.bin"),
        ("-binary_spots", ("crystal", "shape"), "tophat"),
        ("-Na 2 -Nb 3 -Nc 4", ("crystal", "Nc"), 4),
        ("-divergence 2", ("beam", "vdivrange_mrad"), 2.0),
        ("-divsteps 3", ("beam", "hdivsteps"), 3),
    ],
)
def test_synonyms_set_the_same_field(flags, field, value):
    cfg = parse_flags(f"{BASE} {flags}")
    assert getattr(getattr(cfg, field[0]), field[1]) == value


def test_later_flags_win_and_order_matters_like_the_c_program():
    assert parse_flags(f"{BASE} -lambda 2 -energy 6199.21").beam.wavelength_A == pytest.approx(2.0)
    assert parse_flags(f"{BASE} -energy 6199.21 -lambda 3").beam.wavelength_A == 3.0
    # -detector_abs inf switches the sensor off, thickness given before it included
    off = parse_flags(f"{BASE} -detector_thick 100 -detector_abs inf")
    assert off.detector.thick_um == 0.0 and math.isinf(off.detector.absorption_um)
    on = parse_flags(f"{BASE} -detector_abs inf -detector_thick 100")
    assert on.detector.thick_um == 100.0
    # -polar switches polarisation back on after -nopolar
    assert parse_flags(f"{BASE} -nopolar -polar 0.5").beam.nopolar is False


@pytest.mark.parametrize(
    ("flags", "pivot", "convention"),
    [
        ("", None, "mosflm"),
        ("-close_distance 90", "sample", "mosflm"),
        ("-close_distance 90 -distance 100", "beam", "mosflm"),
        ("-twotheta 10", "sample", "mosflm"),
        ("-xds", "sample", "xds"),
        ("-fdet_vector 0 0 1", None, "custom"),
        ("-fdet_vector 0 0 1 -ORGX 30", "sample", "custom"),
        ("-twotheta_axis 0 1 0", "sample", "custom"),
        ("-xds -pivot beam", "beam", "xds"),
    ],
)
def test_pivot_and_convention_requests(flags, pivot, convention):
    d = parse_flags(f"-default_F 1 -cell 50 50 50 90 90 90 {flags}").detector
    assert (d.pivot, d.convention) == (pivot, convention)


def test_conventions_settle_their_own_pivot_after_the_flags():
    # MOSFLM keeps its beam pivot whatever -twotheta asked; XDS keeps sample
    assert resolve(parse_flags(f"{BASE} -twotheta 5")).notes["geometry"].pivot == "beam"
    assert resolve(parse_flags(f"{BASE} -xds -pivot beam")).notes["geometry"].pivot == "sample"
    custom = resolve(parse_flags(f"{BASE} -fdet_vector 0 0 1 -twotheta 5"))
    assert custom.notes["geometry"].pivot == "sample"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ("-bogus 3", "unknown flag '-bogus'"),
        ("-lambda", "-lambda: missing value"),
        ("-lambda fast", "-lambda: expected a number, got 'fast'"),
        ("-N 2.5", "-N: expected an integer, got '2.5'"),
        ("-misset 1 2", "-misset: expected 1 or 3 values"),
        ("-misset 10", "-misset: expected rotx roty rotz (deg) or 'random', got '10'"),
        ("-roi 1 2 3", "-roi: expected 4 values"),
        ("-pivot middle", "-pivot: expected 'beam' or 'sample'"),
        ("-energy -5", "-energy: expected a positive energy"),
        ("-pixel 0", "-pixel: expected a positive number, got 0.0"),
        ("-xds stray", "-xds: takes no value, got 'stray'"),
    ],
)
def test_bad_flags_get_one_clear_line(flags, message):
    with pytest.raises(FlagError) as err:
        parse_flags(f"{BASE} {flags}")
    text = str(err.value)
    assert message in text and "\n" not in text


def test_config_validates_at_construction():
    with pytest.raises(ConfigError, match=r"-pixel: expected a positive number, got -1"):
        DetectorConfig(pixel_mm=-1)
    with pytest.raises(ConfigError, match=r"convention: expected one of"):
        DetectorConfig(convention="cbf")
    with pytest.raises(ConfigError, match=r"-fdet_vector: expected three finite numbers"):
        DetectorConfig(fdet_vector=(1.0, 0.0))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ("-cell 100 100 100 90 90 90 -lambda 1", "no structure factors"),
        ("-default_F 10 -lambda 1", "no unit cell"),
        (
            "-cell 100 100 100 90 90 90 -hkl /no/such/file.hkl",
            "-hkl: cannot read /no/such/file.hkl",
        ),
        (
            "-default_F 1 -cell 50 50 50 90 90 90 -mat /no/such.mat",
            "-mat: cannot read /no/such.mat",
        ),
        (
            "-default_F 1 -cell 50 50 50 90 90 90 -sourcefile /no/src.txt",
            "-sourcefile: cannot read",
        ),
    ],
)
def test_unusable_configurations_fail_in_resolve(flags, message):
    with pytest.raises(SetupError, match=message):
        resolve(parse_flags(flags))


def test_malformed_hkl_names_the_line(tmp_path):
    hkl = tmp_path / "bad.hkl"
    hkl.write_text("1 0 0 10\n2 0 0 twenty\n")
    with pytest.raises(SetupError, match=r"bad.hkl line 2: expected 'h k l F'"):
        resolve(parse_flags(f"-cell 50 50 50 90 90 90 -hkl {hkl} -N 5"))
    hkl.write_text("1 0 0.5 10\n")
    with pytest.raises(SetupError, match=r"line 1: non-integer"):
        resolve(parse_flags(f"-cell 50 50 50 90 90 90 -hkl {hkl} -N 5"))


def test_small_crystals_with_an_hkl_file_are_interpolated_unless_asked_not_to(tmp_path):
    hkl = tmp_path / "P1.hkl"
    hkl.write_text("0 0 0 5\n1 0 0 10\n")
    auto = resolve(parse_flags(f"-cell 50 50 50 90 90 90 -hkl {hkl} -N 2"))
    assert auto.interpolate
    assert (
        auto.notes["interpolation"] == "auto-selected tricubic interpolation of structure factors"
    )
    assert not resolve(parse_flags(f"-cell 50 50 50 90 90 90 -hkl {hkl} -N 3")).interpolate
    assert not resolve(
        parse_flags(f"-cell 50 50 50 90 90 90 -hkl {hkl} -N 2 -nointerpolate")
    ).interpolate
    assert not resolve(
        parse_flags("-cell 50 50 50 90 90 90 -default_F 1 -N 2")
    ).interpolate  # no HKL
    assert resolve(parse_flags(f"-cell 50 50 50 90 90 90 -hkl {hkl} -N 5 -interpolate")).interpolate
    assert resolve(
        parse_flags(f"-cell 50 50 50 90 90 90 -hkl {hkl} -N 5 -nointerpolate -interpolate")
    ).interpolate


def test_to_flags_round_trips_through_the_parser(tmp_path):
    hkl = tmp_path / "P1.hkl"
    hkl.write_text("0 0 0 5\n1 0 0 10\n")
    flags = (
        f"-hkl {hkl} -cell 40 50 60 80 95 105 -misset random -misset_seed 3 -N 4 -lambda 1.2 "
        "-mosaic 0.4 -mosaic_dom 3 -phi 1 -osc 2 -phisteps 3 -divergence 0.2 -divsteps 3 "
        "-xds -twotheta 12 -close_distance 80 -detector_abs 40 -detector_thick 80 "
        "-oversample 2 -oversample_omega -roi 2 40 3 50 -dmin 2 -water 20 -polar 0.7 -detpixels 64"
        " -interpolate -curved_det -xtal_thick 0.0002 -xtal_height 0.0003"
    )
    cfg = parse_flags(flags)
    again = parse_flags(to_flags(cfg))
    for section in ("crystal", "beam", "detector", "sampling"):
        assert getattr(again, section) == getattr(cfg, section), section


def test_to_flags_orders_flags_the_c_program_would_misread():
    cfg = parse_flags(f"{BASE} -misset random -misset_seed 9 -twotheta_axis 0 1 0 -twotheta 7")
    flags = to_flags(cfg)
    # the C program also reads -misset_seed as -misset: it must come first
    assert flags.index("-misset_seed") < flags.index("-misset")
    # the C program also reads -twotheta_axis as -twotheta: the angle must come after it
    assert flags.index("-twotheta_axis") < flags.index("-twotheta")
    assert flags[flags.index("-pivot") + 1] == "sample"
    assert all(not f.startswith("-floatfile") for f in flags)


def test_with_flags_appends_and_later_flags_win():
    cfg = parse_flags(BASE)
    again = with_flags(cfg, "-detpixels 32 -N 2")
    assert (again.detector.fpixels, again.detector.spixels, again.crystal.Nc) == (32, 32, 2)
    assert again.beam == cfg.beam
    assert again.flags == (*cfg.flags, "-detpixels", "32", "-N", "2")
    assert with_flags(cfg, ["-xds"]).detector.convention == "xds"


def test_the_config_module_holds_no_flag_code():
    # config is plain data and validation: reading and writing flags is simulator.flags' job
    source = Path(simulator.config.__file__).read_text(encoding="utf-8")
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [m for m in imported if m and m.startswith("simulator.flags")]
    assert not hasattr(SimulationConfig, "to_flags")
