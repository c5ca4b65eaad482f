"""What the driver checks before Ray starts: bad input exits 2, one line, and leaves no bundle.

* the reports root: a folder the bundle can be written in (not below a regular file, not
  read-only, not full);
* every distinct flag set of the grid, resolved as a cell would resolve it (a missing HKL,
  matrix, source or mask file, no structure factors), when the flags reach the simulator or a
  reference engine;
* ``reference = "nanobragg"``: the C binary (``--c-bin``, ``c_bin`` or ``NB_C_BIN``) exists
  and is executable;
* ``--resume STAMP``: the bundle exists and was started with this grid.

:func:`check_sweep` runs them all (the ``--resume`` stamp first, the reports root, which
creates the bundle's parent folders, last); nothing else is written before they pass.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from analysis.tables.parts import remove_stale_temporaries
from farm.bundle.folder import Bundle, open_bundle
from farm.grid import Grid, GridError
from farm.grid.parse import cells_by_flag_set, flag_key


class StartError(RuntimeError):
    """The sweep cannot start (reports root, Ray); the message says why, on one line."""


def check_sweep(
    grid: Grid, reports: Path, resume: str | None, c_bin: str | None
) -> tuple[Bundle | None, str | None]:
    """Every check of one sweep, before Ray starts.

    Returns:
        The bundle to resume (its stale temporaries removed), or ``None`` for a new one; the
        C binary of a ``nanobragg`` reference, or ``None``.

    Raises:
        GridError: a bad ``--resume``, a flag set that does not resolve, no C binary.
        StartError: the reports root cannot hold a bundle.
    """
    resumed = open_bundle(grid, reports, resume) if resume else None
    check_flags(grid)
    binary = check_reference_binary(grid, c_bin)
    # last: it creates <reports>/<campaign>/<phase>, which bad flags must not leave behind
    check_reports_root(resumed.path if resumed else grid.bundle_parent(reports))
    if resumed is not None:
        remove_stale_temporaries(resumed.path)
    return resumed, binary


def check_reports_root(folder: Path) -> None:
    """Make sure a bundle can be written below ``folder`` (created if missing).

    Raises:
        StartError: a part of the path is a file, or the folder cannot be created or
            written in (read-only, no space, no permission).
    """
    folder = Path(folder)
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise StartError(f"--reports: {parent} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".farm-probe-", dir=folder)
        try:
            os.write(fd, b"probe\n")
        finally:
            os.close(fd)
            Path(probe).unlink(missing_ok=True)
    except OSError as exc:
        raise StartError(f"--reports: cannot write in {folder}: {exc.strerror or exc}") from None


def check_flags(grid: Grid) -> None:
    """Resolve every distinct flag set of ``grid`` as its cells would.

    Only where the flags reach the simulator (target ``simulator``) or a reference engine;
    a ``python:`` target without a reference receives them untouched.

    Raises:
        GridError: naming the grid, the key and the cell (an unreadable HKL, matrix, source
            or mask file; no structure factors).
    """
    cells = cells_by_flag_set(grid)
    if not cells:
        return
    from simulator import FlagError, SetupError, parse_flags, resolve

    for cell in cells:
        try:
            resolve(parse_flags(cell.full_flags))
        except (FlagError, SetupError, ValueError) as exc:
            raise GridError(grid.path, flag_key(grid), f"{exc} (cell {cell.tag})") from None


def check_reference_binary(grid: Grid, c_bin: str | None) -> str | None:
    """The nanoBragg binary of a ``reference = "nanobragg"`` grid (``None`` for the others).

    Raises:
        GridError: the binary is not named, missing, or not executable.
    """
    if grid.reference != "nanobragg":
        return None
    from simulator.reference import ReferenceFailure
    from simulator.reference.nanobragg import find_binary

    try:
        return str(find_binary(c_bin or None))
    except ReferenceFailure as exc:
        raise GridError(grid.path, "reference", f"'nanobragg' needs the C binary: {exc}") from None
