"""``python -m simulator``: files written, report printed, errors as one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from simulator import Simulation
from simulator.image_files import read_floatfile, read_smv

FLAGS = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 48"


def run(args: list[str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args], cwd=cwd, capture_output=True, text=True
    )


def test_writes_every_requested_file_and_reports_choices(tmp_path):
    out = run(
        [
            *FLAGS.split(),
            "-floatfile",
            "f.bin",
            "-intfile",
            "i.img",
            "-noisefile",
            "n.img",
            "-pgmfile",
            "p.pgm",
            "-seed",
            "5",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    for line in (
        "mosflm convention selected.",
        "pivoting detector around direct beam spot",
        "auto-selected 1-fold oversampling",
        "created a total of 1 sources",
        "created a total of 1 mosaic domains",
    ):
        assert line in out.stdout
    image = read_floatfile(tmp_path / "f.bin", (48, 48))
    expected = Simulation.from_flags(FLAGS).render().numpy()
    np.testing.assert_allclose(image, expected, rtol=1e-6)
    header, pixels = read_smv(tmp_path / "i.img")
    assert (header["SIZE1"], header["SIZE2"], header["PIXEL_SIZE"]) == ("48", "48", "0.1")
    assert pixels.max() == pytest.approx(55000 + 40, abs=1)  # auto scale + adc offset
    _, noisy = read_smv(tmp_path / "n.img")
    assert noisy.shape == (48, 48) and noisy.min() >= 40
    pgm = (tmp_path / "p.pgm").read_bytes()
    assert pgm.startswith(b"P5\n48 48\n") and len(pgm.split(b"255\n", 1)[1]) == 48 * 48
    # nothing else: only the requested files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin", "i.img", "n.img", "p.pgm"]


def test_intfile_reads_in_fabio(tmp_path):
    fabio = pytest.importorskip("fabio")
    assert run([*FLAGS.split(), "-intfile", "i.img"], tmp_path).returncode == 0
    img = fabio.open(str(tmp_path / "i.img"))
    assert img.data.shape == (48, 48)
    assert float(img.header["DISTANCE"]) == 100.0
    assert float(img.header["WAVELENGTH"]) == pytest.approx(6.2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-bogus"], "unknown flag '-bogus'"),
        (["-lambda"], "-lambda: missing value"),
        (["-hkl", "missing.hkl"], "-hkl: cannot read missing.hkl"),
        (["-cell", "50", "50", "50", "90", "90", "90"], "no structure factors"),
        (["--dtype", "float16"], "dtype: expected float32 or float64, got 'float16'"),
        (
            ["-floatfile", "no/such/f.bin"],
            "-floatfile: cannot write no/such/f.bin: no folder no/such",
        ),
        (["-intfile", "no/i.img"], "-intfile: cannot write no/i.img: no folder no"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path, args, message):
    base = [] if args[0] == "-cell" else FLAGS.split()
    out = run([*base, *args], tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and message in out.stderr
    assert "rendered" not in out.stdout  # refused before any rendering


def test_help_lists_flags(tmp_path):
    out = run(["-help"], tmp_path)
    assert (
        out.returncode == 0 and "-mosaic_dom*" in out.stdout and "-oversample_omega" in out.stdout
    )


def test_each_file_is_reported_as_it_is_written(tmp_path):
    (tmp_path / "i.img").mkdir()  # the second file cannot be written: it is a folder
    out = run([*FLAGS.split(), "-floatfile", "f.bin", "-intfile", "i.img"], tmp_path)
    assert out.returncode == 2
    assert "writing f.bin as 2304 4-byte floats" in out.stdout  # said before the failure
    assert (tmp_path / "f.bin").stat().st_size == 48 * 48 * 4
    assert out.stderr.startswith("error: i.img: Is a directory"), out.stderr


def test_intfile_rounds_like_the_c_program_and_is_zero_outside_the_roi():
    from simulator.image_files import to_intfile

    image = np.array([[0.0, 1.0, 2.0], [3.0, 1e9, -5.0]], dtype=np.float32)
    out = to_intfile(image, scale=0.5, adc=40.0, roi=(1, 2, 0, 1))
    # floorf(v + 0.5) of v = image * 0.5 + 40, clipped to 0..65535; column 0 is outside
    assert out.tolist() == [[0, 41, 41], [0, 65535, 38]]
    assert to_intfile(image, 0.5, 40.0).tolist() == [[40, 41, 41], [42, 65535, 38]]
    # a sum a hair under x.5 in double that float rounds up to x.5: floorf rounds it up too
    hair = np.array([[0.5 - 1e-9]], dtype=np.float64)
    assert to_intfile(hair, 1.0, 0.0).tolist() == [[1]]
