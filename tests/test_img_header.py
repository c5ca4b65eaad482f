"""``-img``: detector settings from an SMV header, read as nanoBragg reads them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simulator.flags import FlagError, parse_flags
from simulator.resolve import resolve
from simulator.smv_settings import SMVHeaderError, header_value, img_settings

CRYSTAL = "-default_F 10 -cell 100 100 100 90 90 90 -N 3"


def write_header(path: Path, entries: list[tuple[str, object]], fast: int = 40, slow: int = 30):
    """An SMV file with ``entries`` in the given order (as the C program writes them)."""
    lines = ["{", "HEADER_BYTES=512;", "DIM=2;", "BYTE_ORDER=little_endian;"]
    lines += ["TYPE=unsigned_short;", f"SIZE1={fast};", f"SIZE2={slow};"]
    lines += [f"{key}={value};" for key, value in entries]
    head = ("\n".join(lines) + "\n}\f").encode("ascii").ljust(512, b" ")
    path.write_bytes(head + np.zeros((slow, fast), np.uint16).tobytes())
    return path


C_STYLE = [  # the keys and order of nanoBragg's own -intfile header
    ("PIXEL_SIZE", 0.12),
    ("DISTANCE", 90),
    ("WAVELENGTH", 1.5),
    ("BEAM_CENTER_X", 2.1),
    ("BEAM_CENTER_Y", 1.7),
    ("ADXV_CENTER_X", 2.16),
    ("MOSFLM_CENTER_X", 1.7),
    ("XDS_ORGX", 17.5),
    ("XDS_ORGY", 14.2),
    ("CLOSE_DISTANCE", 85),
    ("PHI", 3),
    ("OSC_START", 3),
    ("OSC_RANGE", 0.5),
    ("TWOTHETA", 7),
]


def test_value_of_takes_the_last_substring_match():
    header = "{\nDISTANCE=90;\nXDS_ORGX=17.5;\nCLOSE_DISTANCE=85;\nPHI= 3.5 ;\nODD\n}"
    assert header_value(header, "DISTANCE") == 85.0  # CLOSE_DISTANCE comes later
    assert header_value(header, "ORGX") == 17.5  # found inside XDS_ORGX
    assert header_value(header, "PHI") == 3.5
    assert math.isnan(header_value(header, "WAVELENGTH"))
    assert header_value(header, "ODD") == 0.0  # no '=' after the key


def test_img_settings_are_the_C_programs_keys(tmp_path):
    settings = img_settings(write_header(tmp_path / "a.img", C_STYLE))
    assert settings["detector"] == {
        "fpixels": 40,
        "spixels": 30,
        "pixel_mm": 0.12,
        "distance_mm": 85.0,  # nanoBragg's lookup finds CLOSE_DISTANCE
        "close_distance_mm": 85.0,
        "xbeam_mm": 2.1,
        "ybeam_mm": 1.7,
        "orgx": 17.5,
        "orgy": 14.2,
    }
    assert settings["beam"] == {"wavelength_A": 1.5}
    assert settings["crystal"] == {"phi0_deg": 3.0, "osc_deg": 0.5}  # TWOTHETA: unused


def test_header_values_are_defaults_that_any_flag_overrides(tmp_path):
    img = write_header(tmp_path / "a.img", [("PIXEL_SIZE", 0.2), ("DISTANCE", 70), ("PHI", 2)])
    cfg = parse_flags(f"-pixel 0.1 -img {img} {CRYSTAL} -phi 1 -lambda 2")
    assert cfg.detector.fpixels == 40 and cfg.detector.spixels == 30
    assert cfg.detector.pixel_mm == 0.1  # a flag before -img wins too
    assert cfg.detector.distance_mm == 70.0
    assert cfg.crystal.phi0_deg == 1.0 and cfg.beam.wavelength_A == 2.0
    assert cfg.detector.pivot is None  # the header's DISTANCE does not pick a pivot
    setup = resolve(cfg)
    assert setup.shape_pixels == (30, 40)
    assert setup.distance == pytest.approx(0.07)
    big = parse_flags(f"-img {img} {CRYSTAL} -detpixels 64")
    assert resolve(big).shape_pixels == (64, 64)


def test_a_close_distance_in_the_header_fixes_the_distance(tmp_path):
    """As in nanoBragg: a CLOSE_DISTANCE (from the header) wins over -distance."""
    img = write_header(tmp_path / "a.img", C_STYLE)
    setup = resolve(parse_flags(f"-img {img} {CRYSTAL} -distance 120"))
    assert setup.close_distance == pytest.approx(0.085)


def test_detector_dimensions_when_there_is_no_size(tmp_path):
    img = tmp_path / "d.img"
    text = "{\nHEADER_BYTES=512;\nDIM=2;\nDETECTOR_DIMENSIONS=24;\nPIXEL_SIZE=0.1;\n}\f"
    img.write_bytes(text.encode().ljust(512, b" "))
    assert img_settings(img)["detector"]["fpixels"] == 24


def test_bad_img_files_are_one_line_errors(tmp_path):
    with pytest.raises(FlagError, match=r"^-img .*missing.img: cannot read"):
        parse_flags(f"-img {tmp_path / 'missing.img'} {CRYSTAL}")
    junk = tmp_path / "junk.img"
    junk.write_text("P5\n10 10\n255\n")
    with pytest.raises(FlagError, match="does not look like an ADSC"):
        parse_flags(f"-img {junk} {CRYSTAL}")
    sizeless = tmp_path / "sizeless.img"
    sizeless.write_bytes(b"{\nHEADER_BYTES=512;\nDIM=2;\n}\f".ljust(512, b" "))
    with pytest.raises(SMVHeaderError, match="no detector size"):
        img_settings(sizeless)


def test_a_mask_header_sets_what_an_img_header_sets_with_ybeam_from_the_far_edge(tmp_path):
    """nanoBragg reads a -mask header as it reads -img, except Ybeam = detsize_s - value."""
    mask = write_header(tmp_path / "mask.img", C_STYLE)  # 40 x 30 pixels of 0.12 mm
    cfg = parse_flags(f"-mask {mask} {CRYSTAL}")
    assert cfg.detector.fpixels == 40 and cfg.detector.spixels == 30
    assert cfg.detector.distance_mm == 85.0  # the last DISTANCE match: CLOSE_DISTANCE
    assert cfg.detector.orgx == 17.5  # from XDS_ORGX
    assert cfg.beam.wavelength_A == 1.5
    assert cfg.crystal.phi0_deg == 3.0 and cfg.crystal.osc_deg == 0.5
    assert cfg.detector.xbeam_mm == 2.1
    assert cfg.detector.ybeam_mm == pytest.approx(30 * 0.12 - 1.7)  # not 1.7 as with -img
    no_pixel = write_header(tmp_path / "bare.img", [("BEAM_CENTER_Y", 1.0)], fast=20, slow=10)
    assert parse_flags(f"-mask {no_pixel} {CRYSTAL}").detector.ybeam_mm == pytest.approx(0.0)


def test_img_wins_over_the_mask_header_and_flags_win_over_both(tmp_path):
    mask = write_header(tmp_path / "mask.img", C_STYLE)
    img = write_header(tmp_path / "img.img", [("WAVELENGTH", 3.0), ("PHI", 7)])
    both = parse_flags(f"{CRYSTAL} -img {img} -mask {mask}")  # the order on the line is moot
    assert both.beam.wavelength_A == 3.0 and both.crystal.phi0_deg == 7.0
    assert both.crystal.osc_deg == 0.5  # only the mask gives OSC_RANGE
    flags = parse_flags(f"-lambda 2 -mask {mask} {CRYSTAL} -phi 1 -Ybeam 1")
    assert flags.beam.wavelength_A == 2.0 and flags.crystal.phi0_deg == 1.0
    assert flags.detector.ybeam_mm == 1.0


def test_an_unreadable_mask_is_named_when_the_setup_is_resolved(tmp_path):
    from simulator.resolve import SetupError

    cfg = parse_flags(f"-mask {tmp_path / 'missing.img'} {CRYSTAL}")  # the header seeds nothing
    with pytest.raises(SetupError, match=r"^-mask: .*missing\.img"):
        resolve(cfg)
