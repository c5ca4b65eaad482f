"""The PyTorch engine against the nanoBragg C binary (NB_C_BIN) on the whole case matrix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.parity.metrics import compare_images
from analysis.parity.tolerances import NOISE_EQUAL_FRACTION, STRICT_CORR
from simulator import Simulation, parse_flags, resolve, to_flags
from simulator.image_files import read_smv
from simulator.noise import noise_image
from simulator.parity_cases import NOISE_CASES, PARITY_CASES, case_flags, write_case_data
from simulator.reference import render_reference
from simulator.reference.nanobragg import run_nanobragg

pytestmark = pytest.mark.cbin
SUM_TOL = 1e-3  # the simulator issue's target on every case


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_case_data(tmp_path_factory.mktemp("cases"))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_engine_matches_c_binary(case, dtype, data, c_binary, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # phi = 0 reuse: one thread, one fresh pixel
    cfg = parse_flags(case_flags(case, data))
    image = Simulation(cfg, dtype=dtype).render().double().numpy()
    reference = render_reference("nanobragg", cfg, c_bin=c_binary).image
    if case == "phi":
        image[0, 0] = reference[0, 0]
    report = compare_images(image, reference)
    assert report.corr >= STRICT_CORR, (case, report.corr)
    assert abs(report.sum_ratio - 1.0) <= SUM_TOL, (case, report.sum_ratio)


def test_smv_header_and_pixels_match_the_c_program(tmp_path, c_binary):
    flags = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 64"
    c_dir, py_dir = tmp_path / "c", tmp_path / "py"
    c_dir.mkdir(), py_dir.mkdir()
    subprocess.run(
        [c_binary, *flags.split(), "-intfile", "i.img", "-nonoise", "-nopgm"],
        cwd=c_dir,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [sys.executable, "-m", "simulator", *flags.split(), "-intfile", "i.img"],
        cwd=py_dir,
        check=True,
        capture_output=True,
    )
    c_head, c_pix = read_smv(c_dir / "i.img")
    py_head, py_pix = read_smv(py_dir / "i.img")
    for key in (
        "SIZE1",
        "SIZE2",
        "PIXEL_SIZE",
        "DISTANCE",
        "WAVELENGTH",
        "BEAM_CENTER_X",
        "BEAM_CENTER_Y",
        "ADXV_CENTER_X",
        "ADXV_CENTER_Y",
        "MOSFLM_CENTER_X",
        "MOSFLM_CENTER_Y",
        "DENZO_X_BEAM",
        "DENZO_Y_BEAM",
        "XDS_ORGX",
        "XDS_ORGY",
        "CLOSE_DISTANCE",
        "PHI",
        "OSC_START",
        "OSC_RANGE",
        "TWOTHETA",
    ):
        assert float(py_head[key]) == pytest.approx(float(c_head[key]), rel=1e-5), key
    assert np.abs(py_pix.astype(int) - c_pix.astype(int)).max() <= 1  # float32 render


@pytest.mark.parametrize("extra", ["-roi 10 40 5 50", "-scale 3.7 -adc 12", "-adc -30"])
def test_intfile_pixels_equal_the_c_program_s(tmp_path, c_binary, extra):
    flags = PARITY_CASES["seed"].replace("-detpixels 96", "-detpixels 64") + " " + extra
    images = []
    for name, argv in (
        ("c", [c_binary, *flags.split(), "-nonoise", "-nopgm"]),
        ("py", [sys.executable, "-m", "simulator", *flags.split(), "--dtype", "float64"]),
    ):
        (tmp_path / name).mkdir()
        subprocess.run([*argv, "-intfile", "i.img"], cwd=tmp_path / name, check=True)
        images.append(read_smv(tmp_path / name / "i.img")[1])
    # every pixel: C rounds through floorf, and writes 0 (not -adc) outside -roi
    assert np.array_equal(images[1], images[0]), extra


def c_noise(flags: str, c_binary: str):
    """The C program's float image and noise image for ``flags`` (one thread), and the config."""
    cfg = parse_flags(flags)
    return cfg, run_nanobragg(to_flags(cfg, include_outputs=True), c_binary, noise=True)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", list(NOISE_CASES))
def test_engine_noise_matches_c_binary(case, dtype, data, c_binary, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg, ref = c_noise(case_flags(case, data), c_binary)
    setup = resolve(cfg)
    image = Simulation(setup, dtype=dtype).render().double().numpy()
    out = cfg.output
    ours = noise_image(image, out.seed, out.adc, setup.roi, setup.notes["ran1_state"])
    assert np.mean(ours.pixels == ref.noise) >= NOISE_EQUAL_FRACTION, case
    if dtype == "float64":
        assert ours.report() == ref.noise_report
    else:
        assert ours.overloads == int(ref.noise_report.split("(")[1].split()[0])


@pytest.mark.parametrize(
    "extra",
    [
        "-seed 3 -fluence 3e33",  # every branch: Gaussian above 1e6 photons, overloads
        "-seed 9 -fluence 1e31 -adc 10 -roi 10 100 20 90",
        "-seed 4 -adc -30",  # negative totals wrap as C's (unsigned short) does
        "-seed 0",
        "-seed -7 -mosaic 1 -mosaic_dom 3",  # continues the mosaic draws' shuffle table
    ],
)
def test_noise_of_the_c_float_image_is_the_c_noise_image(extra, c_binary, monkeypatch):
    # the generator alone: from C's own float image every pixel and the report agree
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    flags = PARITY_CASES["seed"].replace("-detpixels 96", "-detpixels 128") + " " + extra
    cfg, ref = c_noise(flags, c_binary)
    setup = resolve(cfg)
    out = cfg.output
    ours = noise_image(ref.image, out.seed, out.adc, setup.roi, setup.notes["ran1_state"])
    assert np.array_equal(ours.pixels, ref.noise)
    assert ours.report() == ref.noise_report


def test_noisefile_header_pixels_and_report_match_the_c_program(tmp_path, c_binary):
    flags = NOISE_CASES["noise_seed"].replace("-detpixels 96", "-detpixels 64").split()
    c_dir, py_dir = tmp_path / "c", tmp_path / "py"
    c_dir.mkdir(), py_dir.mkdir()
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    c_out = subprocess.run(
        [c_binary, *flags, "-noisefile", "n.img", "-nopgm"],
        cwd=c_dir,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    py_out = subprocess.run(
        [sys.executable, "-m", "simulator", *flags, "-noisefile", "n.img", "--dtype", "float64"],
        cwd=py_dir,
        check=True,
        capture_output=True,
        text=True,
    )
    line = next(ln for ln in c_out.stdout.splitlines() if "photons on noise image" in ln)
    assert line in py_out.stdout.splitlines()
    c_head, c_pix = read_smv(c_dir / "n.img")
    py_head, py_pix = read_smv(py_dir / "n.img")
    assert np.array_equal(py_pix, c_pix)
    assert {k: c_head[k] for k in ("SIZE1", "SIZE2", "PIXEL_SIZE", "DISTANCE")} == {
        k: py_head[k] for k in ("SIZE1", "SIZE2", "PIXEL_SIZE", "DISTANCE")
    }


@pytest.mark.parametrize("extra", ["", "-oversample 3 -roi 5 50 3 40"])
def test_the_printed_statistics_read_as_the_c_program_s(tmp_path, c_binary, extra):
    """``max_I = … at Fdet Sdet`` (metres, of the last sub-pixel) and ``mean= rms= rmsd=``."""
    flags = PARITY_CASES["seed"].replace("-detpixels 96", "-detpixels 64") + " " + extra
    c_out = subprocess.run(
        [c_binary, *flags.split(), "-nonoise", "-nopgm"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    ).stdout
    py_out = subprocess.run(
        [sys.executable, "-m", "simulator", *flags.split(), "--dtype", "float64"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def stats(text: str) -> list[str]:
        lines = [ln for ln in text.splitlines() if ln.startswith(("max_I =", "mean="))]
        return [" ".join(ln.split()[:6]) for ln in lines]  # ours adds "(pixel f s)"

    assert stats(py_out) == stats(c_out) and len(stats(c_out)) == 2, (py_out, c_out)
