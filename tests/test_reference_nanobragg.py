"""The nanoBragg binary adapter, driven by fake executables (and the real one when present)."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import numpy as np
import pytest

from simulator.reference import ReferenceFailure, render_reference
from simulator.reference.nanobragg import find_binary, prepare_flags, run_nanobragg

#: sh: ``$out`` = the value after ``-floatfile``, wherever it stands
_FIND_OUT = (
    '#!/bin/sh\nprev=\nfor a in "$@"; do [ "$prev" = -floatfile ] && out="$a"; prev="$a"; done\n'
)


def fake(tmp_path: Path, body: str, name: str = "fake_nb") -> Path:
    """A shell script standing in for nanoBragg; ``$out`` is the -floatfile path."""
    path = tmp_path / name
    path.write_text(_FIND_OUT + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# 2x4 float32 image 0..7, little endian, as printf octal escapes
_VALUES = b"".join(struct.pack("<f", float(v)) for v in range(8))
_PRINTF = "".join(f"\\{b:03o}" for b in _VALUES)
GOOD = (
    "echo '  distance=0.1 detsize=0.0004x0.0002  pixel=0.0001 meters (4x2 pixels)'\n"
    f"printf '{_PRINTF}' > \"$out\"\n"
)


def test_reads_floatfile_fast_index_fastest(tmp_path):
    ref = run_nanobragg(["-default_F", "1"], fake(tmp_path, GOOD))
    assert ref.image.shape == (2, 4) and ref.image.dtype == np.float64
    np.testing.assert_array_equal(ref.image, np.arange(8.0).reshape(2, 4))
    assert ref.engine == "nanobragg" and ref.returncode == 0 and ref.wall_s > 0
    # our output flag first: nothing may follow the user's last flag (see cross_matches)
    assert ref.command[1] == "-floatfile" and ref.command[3:5] == ["-default_F", "1"]


def test_explicit_shape_overrides_the_report(tmp_path):
    ref = run_nanobragg([], fake(tmp_path, GOOD), shape=(4, 2))
    assert ref.image.shape == (4, 2)


def test_runs_in_a_fresh_directory(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "Fdump.bin").write_bytes(b"stale")
    monkeypatch.chdir(work)
    body = '[ -e Fdump.bin ] && { echo "stale Fdump.bin read" >&2; exit 7; }\n'
    body += '[ "$(ls -A | wc -l)" -eq 0 ] || { echo "directory not empty" >&2; exit 8; }\n'
    body += '[ "$PWD" != "' + str(work) + '" ] || exit 9\n' + GOOD
    ref = run_nanobragg(["-default_F", "1"], fake(tmp_path, body))
    assert ref.image.shape == (2, 4)
    assert not Path(ref.command[2]).parent.exists()  # the temporary directory is gone


def test_nonzero_exit_names_status_and_output_tail(tmp_path):
    body = (
        "echo 'reading hkl file'\necho 'ERROR: no hkl file and no dump file to read.' >&2\nexit 3\n"
    )
    with pytest.raises(ReferenceFailure, match=r"exited with status 3: .*no hkl file"):
        run_nanobragg([], fake(tmp_path, body))


def test_no_output_file(tmp_path):
    with pytest.raises(ReferenceFailure, match="wrote no -floatfile"):
        run_nanobragg([], fake(tmp_path, "echo '(4x2 pixels)'\nexit 0\n"))


def test_truncated_output_file(tmp_path):
    body = "echo '(4x2 pixels)'\nprintf 'abcdefghijkl' > \"$out\"\n"
    with pytest.raises(ReferenceFailure, match=r"has 12 bytes, expected 32 .*truncated"):
        run_nanobragg([], fake(tmp_path, body))


def test_unknown_shape(tmp_path):
    body = f"printf '{_PRINTF}' > \"$out\"\n"
    with pytest.raises(ReferenceFailure, match="cannot tell the image shape"):
        run_nanobragg([], fake(tmp_path, body))


def test_timeout(tmp_path):
    with pytest.raises(ReferenceFailure, match=r"timed out after 0\.5 s"):
        run_nanobragg([], fake(tmp_path, "exec sleep 5\n"), timeout_s=0.5)


def test_missing_and_non_executable_binary(tmp_path, monkeypatch):
    with pytest.raises(ReferenceFailure, match=r"binary not found: .*nope"):
        find_binary(tmp_path / "nope")
    plain = tmp_path / "plain"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(ReferenceFailure, match="not an executable file"):
        find_binary(plain)
    with pytest.raises(ReferenceFailure, match="not an executable file"):
        find_binary(tmp_path)
    monkeypatch.delenv("NB_C_BIN", raising=False)
    with pytest.raises(ReferenceFailure, match="set NB_C_BIN"):
        find_binary(None)
    with pytest.raises(ReferenceFailure, match="not found on PATH"):
        find_binary("no-such-nanobragg-binary")


def test_env_var_names_the_binary(tmp_path, monkeypatch):
    monkeypatch.setenv("NB_C_BIN", str(fake(tmp_path, GOOD)))
    ref = render_reference("nanobragg", "-default_F 1 -detpixels 4")
    assert ref.image.shape == (2, 4) and ref.command[3:7] == ["-default_F", "1", "-detpixels", "4"]


def test_exec_format_error_is_a_reference_failure(tmp_path):
    bad = tmp_path / "garbage"
    bad.write_bytes(b"\x00\x01 not a program")
    bad.chmod(0o755)
    with pytest.raises(ReferenceFailure, match="could not be started"):
        run_nanobragg([], bad)


def test_prepare_flags_absolutises_inputs_and_drops_outputs(tmp_path):
    flags = [
        "-hkl",
        "P1.hkl",
        "-N",
        "5",
        "-intfile",
        "x.img",
        "-floatfile",
        "f.bin",
        "-mask",
        "/abs/m.img",
        "-stol",
        "s.dat",
        "-stolout",
        "o.stol",
        "-noisefile",
        "n.img",
    ]
    out = prepare_flags(flags, cwd=tmp_path)
    assert out == [
        "-hkl",
        str(tmp_path / "P1.hkl"),
        "-N",
        "5",
        "-mask",
        "/abs/m.img",
        "-stol",
        str(tmp_path / "s.dat"),
    ]


def test_relative_hkl_is_found_from_the_callers_directory(tmp_path, monkeypatch):
    (tmp_path / "P1.hkl").write_text("0 0 1 10\n")
    monkeypatch.chdir(tmp_path)
    body = 'for a in "$@"; do [ "$prev" = "-hkl" ] && { [ -f "$a" ] || exit 5; }; prev="$a"; done\n'
    ref = run_nanobragg(["-hkl", "P1.hkl"], fake(tmp_path, body + GOOD))
    assert ref.command[4] == os.path.join(tmp_path, "P1.hkl")


def test_unknown_reference_name():
    with pytest.raises(ValueError, match="unknown reference 'cuda'"):
        render_reference("cuda", "-default_F 1")


def test_bad_cfg_type_for_binary(tmp_path):
    with pytest.raises(ReferenceFailure, match="needs flags or a SimulationConfig, got int"):
        render_reference("nanobragg", 42, c_bin=fake(tmp_path, GOOD))


@pytest.mark.cbin
def test_real_binary_seed_case(c_binary):
    flags = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 64"
    ref = run_nanobragg(flags.split(), c_binary)
    assert ref.image.shape == (64, 64) and ref.returncode == 0
    assert np.isfinite(ref.image).all() and ref.image.max() > 0
