"""Adapter for an external nanoBragg C executable (the canonical reference).

The binary is named by an explicit path or by the ``NB_C_BIN`` environment variable. Each run
happens in a fresh temporary directory: without ``-hkl`` the C program silently reads a
``Fdump.bin`` left in its working directory, and it writes several files of its own there.
Input files named in the flags are made absolute first; output-file flags are replaced by a
single ``-floatfile`` that this module reads back (raw float32, fast index fastest).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from simulator.image_files import ImageFileError, read_smv
from simulator.reference.base import ReferenceFailure, ReferenceImage

ENV_VAR = "NB_C_BIN"

#: Flags whose value is an input file (the C program matches flags by substring).
_INPUT_FILE_FLAGS = ("-hkl", "-mat", "-img", "-mask", "-sourcefile", "-stol", "-4stol", "-Q")
#: Flags whose value is an output file; dropped, since outputs go to the temporary directory.
_OUTPUT_FILE_FLAGS = (
    "-floatfile",
    "-floatimage",
    "-intfile",
    "-intimage",
    "-pgmfile",
    "-pgmimage",
    "-noisefile",
    "-noiseimage",
    "-stolout",
    "-dump",
)
_FLOATFILE = "floatimage.bin"
_NOISEFILE = "noiseimage.img"
_PIXELS_RE = re.compile(r"\((\d+)x(\d+) pixels\)")
_NOISE_RE = re.compile(r"^\d+ photons on noise image \(\d+ overloads\)$", re.MULTILINE)


def find_binary(c_bin: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the nanoBragg executable from ``c_bin`` or ``$NB_C_BIN``.

    Raises:
        ReferenceFailure: when neither names anything, or the file is missing or not
            executable.
    """
    name = os.fspath(c_bin) if c_bin is not None else os.environ.get(ENV_VAR, "")
    if not name:
        raise ReferenceFailure(f"no nanoBragg binary: set {ENV_VAR} or pass its path (--c-bin)")
    path = Path(name).expanduser()
    if os.sep not in name and not path.exists():
        found = shutil.which(name)
        if found is None:
            raise ReferenceFailure(f"nanoBragg binary {name!r} not found on PATH")
        path = Path(found)
    if not path.exists():
        raise ReferenceFailure(f"nanoBragg binary not found: {path}")
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ReferenceFailure(f"nanoBragg binary is not an executable file: {path}")
    return path.resolve()


def _is_flag(arg: str, names: Sequence[str]) -> bool:
    if arg in ("-Q", "-stol", "-4stol"):
        return arg in names
    return any(n in arg for n in names if n not in ("-Q", "-stol", "-4stol"))


def prepare_flags(flags: Sequence[str], cwd: Path | None = None) -> list[str]:
    """Make input-file values absolute (relative to ``cwd``) and drop output-file flags.

    Args:
        flags: nanoBragg flags, e.g. ``["-hkl", "P1.hkl", "-N", "5"]``.
        cwd: the directory relative paths are taken from (default: the current one).

    Returns:
        New flags, safe to run from another working directory.
    """
    base = Path.cwd() if cwd is None else cwd
    out: list[str] = []
    i = 0
    flags = [str(f) for f in flags]
    while i < len(flags):
        arg = flags[i]
        has_value = i + 1 < len(flags)
        if arg.startswith("-") and has_value and _is_flag(arg, _OUTPUT_FILE_FLAGS):
            i += 2
            continue
        if arg.startswith("-") and has_value and _is_flag(arg, _INPUT_FILE_FLAGS):
            value = Path(flags[i + 1]).expanduser()
            if not value.is_absolute():
                value = base / value
            out += [arg, str(value)]
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def _tail(text: str, lines: int = 8) -> str:
    return " | ".join(ln.strip() for ln in text.strip().splitlines()[-lines:] if ln.strip())


def run_nanobragg(
    flags: Sequence[str],
    c_bin: str | os.PathLike[str] | None = None,
    *,
    timeout_s: float | None = None,
    shape: tuple[int, int] | None = None,
    noise: bool = False,
) -> ReferenceImage:
    """Run the nanoBragg binary on ``flags`` in a fresh directory and read its float image.

    Args:
        flags: nanoBragg flags (without the program name).
        c_bin: the executable; default ``$NB_C_BIN``.
        timeout_s: kill the run after this many seconds.
        shape: expected ``(spixels, fpixels)``; by default taken from the program's own
            report ``"(FxS pixels)"`` on stdout.
        noise: also ask for ``-noisefile`` and read back its pixels and the program's
            line about them (the flags should carry ``-seed``).

    Returns:
        A :class:`ReferenceImage` with the float64 image, wall time, argv and exit status.

    Raises:
        ReferenceFailure: missing or non-executable binary, a failure to start, a timeout,
            a non-zero exit, or an absent or truncated ``-floatfile``.
    """
    binary = find_binary(c_bin)
    args = prepare_flags(flags)
    with tempfile.TemporaryDirectory(prefix="nanobragg-") as tmp:
        out_path = Path(tmp) / _FLOATFILE
        # our output flags first: the C program reads "-misset_seed N A B" as "-misset N A B",
        # so nothing may follow the user's last flag that the user did not write
        ours = ["-floatfile", str(out_path)]
        if noise:
            ours += ["-noisefile", str(Path(tmp) / _NOISEFILE)]
        argv = [str(binary), *ours, *args]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                argv, cwd=tmp, capture_output=True, text=True, errors="replace", timeout=timeout_s
            )
        except subprocess.TimeoutExpired as exc:
            raise ReferenceFailure(
                f"nanoBragg timed out after {exc.timeout:g} s: {binary}"
            ) from exc
        except OSError as exc:
            raise ReferenceFailure(f"nanoBragg could not be started ({binary}): {exc}") from exc
        wall = time.perf_counter() - t0
        log = _tail(proc.stdout + "\n" + proc.stderr)
        if proc.returncode != 0:
            raise ReferenceFailure(f"nanoBragg exited with status {proc.returncode}: {log}")
        if not out_path.exists():
            raise ReferenceFailure(f"nanoBragg wrote no -floatfile (exit 0): {log}")
        raw = out_path.read_bytes()
        noise_pixels = _read_noise(Path(tmp) / _NOISEFILE, log) if noise else None
    if shape is None:
        found = _PIXELS_RE.findall(proc.stdout)
        if not found:
            raise ReferenceFailure(
                "cannot tell the image shape: nanoBragg did not report '(FxS pixels)'"
            )
        fpix, spix = (int(v) for v in found[-1])
        shape = (spix, fpix)
    expected = shape[0] * shape[1] * 4
    if len(raw) != expected:
        raise ReferenceFailure(
            f"nanoBragg -floatfile has {len(raw)} bytes, expected {expected} "
            f"({shape[0]}x{shape[1]} float32): truncated or wrong size"
        )
    image = np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float64)
    return ReferenceImage(
        image=image,
        wall_s=wall,
        engine="nanobragg",
        command=argv,
        returncode=proc.returncode,
        log_tail=log,
        noise=noise_pixels,
        noise_report=_noise_line(proc.stdout) if noise else "",
    )


def _read_noise(path: Path, log: str) -> np.ndarray:
    """The uint16 pixels of the noise image the binary wrote."""
    if not path.exists():
        raise ReferenceFailure(f"nanoBragg wrote no -noisefile (exit 0): {log}")
    try:
        return read_smv(path)[1]
    except ImageFileError as exc:
        raise ReferenceFailure(f"nanoBragg -noisefile: {exc}") from exc


def _noise_line(stdout: str) -> str:
    """The program's ``"N photons on noise image (M overloads)"`` line."""
    found = _NOISE_RE.findall(stdout)
    if not found:
        raise ReferenceFailure("nanoBragg did not report its noise image's photons")
    return found[-1]
