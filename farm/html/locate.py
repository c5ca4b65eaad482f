"""Finding bundles by stamp below a reports root, and what the report needs to know of them."""

from __future__ import annotations

import re
from pathlib import Path

from analysis.tables.parts import cells_with_part
from farm.actors.targets import TargetError, resolve_target
from farm.grid import GridError, load_grid

_STAMP = re.compile(r"^\d{8}T\d{6}Z$")


class BundleNotFound(LookupError):
    """No bundle (or more than one) answers to the stamp; the message is one line."""


def bundles(reports: Path) -> list[Path]:
    """Every bundle folder (``.../<STAMP>/tables``) below ``reports``, oldest stamp first."""
    found = {p.parent for p in Path(reports).glob("**/tables") if _STAMP.match(p.parent.name)}
    return sorted(found, key=lambda p: (p.name, str(p)))


def find_bundle(reports: Path, stamp: str | None) -> Path:
    """The bundle with ``stamp`` (the newest when None).

    Raises:
        BundleNotFound: no bundle under ``reports``, a malformed stamp, an unknown stamp, or
            a stamp held by two campaigns (their paths are named).
    """
    reports = Path(reports)
    if not reports.is_dir():
        raise BundleNotFound(f"--reports {reports}: no such folder")
    if stamp is not None and not _STAMP.match(stamp):
        raise BundleNotFound(f"{stamp!r} is not a stamp (YYYYMMDDTHHMMSSZ)")
    found = bundles(reports)
    if stamp is None:
        if not found:
            raise BundleNotFound(f"no bundle under {reports} (farm sweep writes them)")
        return found[-1]
    matches = [p for p in found if p.name == stamp]
    if not matches:
        raise BundleNotFound(f"no bundle with stamp {stamp} under {reports}")
    if len(matches) > 1:
        raise BundleNotFound(
            f"stamp {stamp} is in {len(matches)} bundles: {', '.join(map(str, matches))}; "
            "pass --reports <campaign>/<phase> to choose"
        )
    return matches[0]


def bundle_packages(bundle: Path) -> tuple[dict[str, Path], str | None]:
    """Target name -> package folder, read from the bundle's grid.toml, and the cells' state.

    Returns:
        The packages (empty when the grid or its target cannot be read here) and a one-line
        state: ``complete``, or ``PARTIAL: n of m cells ...``; None when unknown.
    """
    try:
        grid = load_grid(bundle / "grid.toml")
    except GridError:
        return {}, None
    packages: dict[str, Path] = {}
    try:
        pkg = resolve_target(grid.target).package_dir()
    except TargetError:
        pkg = None
    if pkg is not None:
        packages[grid.target] = pkg
    done = cells_with_part(bundle, "runs")
    cells = grid.cells()
    pending = sum(1 for c in cells if c.cell_id not in done)
    if not pending:
        return packages, "complete"
    return packages, (
        f"PARTIAL: {pending} of {len(cells)} cells have no rows yet; complete it with "
        f"farm sweep --grid <the grid> --resume {bundle.name}"
    )
