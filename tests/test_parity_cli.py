"""`farm parity` through typer's CliRunner: exit codes, printed metrics, error paths."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from farm.cli import app
from simulator import parse_flags, resolve
from simulator.reference.builtin import render_setup

FLAGS = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 48"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["parity", *args], catch_exceptions=False)


def fake_binary(tmp_path: Path, image: np.ndarray | None, status: int = 0) -> Path:
    """A stand-in nanoBragg that copies ``image`` (float32) to its -floatfile."""
    body = (  # $out: the value after -floatfile, wherever it stands
        '#!/bin/sh\nprev=\nfor a in "$@"; do\n'
        '[ "$prev" = -floatfile ] && out="$a"; prev="$a"\ndone\n'
    )
    if image is not None:
        src = tmp_path / "image.bin"
        image.astype("<f4").tofile(src)
        body += f"echo '({image.shape[1]}x{image.shape[0]} pixels)'\ncp '{src}' \"$out\"\n"
    body += f"echo 'fake nanoBragg done' >&2\nexit {status}\n"
    path = tmp_path / "nanoBragg"
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture(scope="module")
def seed_image() -> np.ndarray:
    return render_setup(resolve(parse_flags(FLAGS)))


def test_builtin_against_matching_binary_passes(tmp_path, seed_image):
    c_bin = fake_binary(tmp_path, seed_image)
    png = tmp_path / "diff.png"
    res = invoke("--engine", "builtin", "--reference", "nanobragg", "--c-bin", str(c_bin),
                 "--diff-png", str(png), "--", *FLAGS.split())  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "verdict: PASS [gate]" in res.output
    assert "worst tiles" in res.output and "Pearson r" in res.output
    assert "9/9, mean offset 0.000 px" in res.output  # float32 ties are no offset
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scaled_reference_fails_with_exit_1(tmp_path, seed_image):
    c_bin = fake_binary(tmp_path, 1.02 * seed_image)
    res = invoke("--engine", "builtin", "--reference", "nanobragg", "--c-bin", str(c_bin),
                 *FLAGS.split())  # fmt: skip
    assert res.exit_code == 1, res.output
    assert "verdict: FAIL [gate]" in res.output
    assert "|sum ratio - 1| = 0.0196" in res.output


def test_failing_binary_is_one_error_line_exit_2(tmp_path):
    c_bin = fake_binary(tmp_path, None, status=4)
    res = invoke("--engine", "builtin", "--reference", "nanobragg", "--c-bin", str(c_bin),
                 *FLAGS.split())  # fmt: skip
    assert res.exit_code == 2
    assert res.output.strip().startswith("error: nanoBragg exited with status 4")
    assert "fake nanoBragg done" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_bad_inputs_exit_2_with_a_clear_message():
    res = invoke("--reference", "gpu", *FLAGS.split())
    assert res.exit_code == 2 and "--reference: expected one of builtin, nanobragg" in res.output
    res = invoke("--dtype", "float16", *FLAGS.split())
    assert res.exit_code == 2 and "--dtype: expected float32 or float64" in res.output
    res = invoke()
    assert res.exit_code == 2 and "give nanoBragg flags" in res.output
    res = invoke("-default_F", "100", "-no_such_flag", "3")
    assert res.exit_code == 2 and res.output.startswith("error: ") and "no_such_flag" in res.output


def test_simulator_against_builtin(tmp_path):
    res = invoke("--dtype", "float64", "--strict", *FLAGS.split())
    assert res.exit_code == 0, res.output
    assert "simulator cpu float64" in res.output and "verdict: PASS [strict]" in res.output
    assert "of 2θ (deg)" in res.output  # shells in scattering angle from the resolved geometry


def test_help_has_an_example():
    res = runner.invoke(app, ["parity", "--help"])
    assert res.exit_code == 0 and "Example:" in res.output
    assert "farm parity --reference nanobragg --c-bin ~/nanoBragg -- \\" in res.output


def test_the_cli_names_the_reference_engines_without_importing_them():
    from farm.cli import parity
    from simulator.reference import ENGINES

    assert parity.ENGINES == ENGINES
