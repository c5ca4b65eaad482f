"""A night: sweep the grid, compare it with the baseline, write the verdict into the bundle.

:func:`run_nightly` runs the sweep (:func:`farm.driver.run_sweep`), picks the baseline
(``last-good``: the stamp in ``<reports>/<campaign>/<phase>/LAST_GOOD``; or a stamp), compares
(:func:`analysis.nights.compare.compare_bundles`, a changed target commit allowed: that is
what a night compares) and writes ``regressions.md`` and ``regressions.json`` into the new
bundle. A clean night (no regression, no failed cell) becomes the new last-good. The first
night of a series has no baseline: it is written as such and becomes the last-good.

Exit code: compare's (0 clean, 1 regression, 2 not comparable), 1 when cells failed and
nothing else regressed, 130 after Ctrl-C.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.nights.bundles import BundleRef, NightsError, resolve_bundle
from analysis.nights.compare import CompareOptions, Comparison, compare_bundles
from analysis.nights.render import comparison_markdown
from analysis.plurals import counted
from analysis.tables.parts import write_json_atomic, write_text_atomic
from farm.driver.progress import SweepOutcome
from farm.driver.sweep import ProgressFn, SweepOptions, run_sweep
from farm.grid import Grid

LAST_GOOD = "LAST_GOOD"


@dataclass
class NightOutcome:
    """What a night did.

    Attributes:
        sweep: the sweep's outcome.
        baseline: the bundle compared against (None: the first night).
        comparison: the comparison (None: no baseline, or not comparable).
        refused: why the nights could not be compared.
        promoted: this night became the last-good.
        exit_code: see the module docstring.
    """

    sweep: SweepOutcome
    baseline: BundleRef | None
    comparison: Comparison | None
    refused: str | None
    promoted: bool
    exit_code: int


def last_good_file(grid: Grid, reports: Path) -> Path:
    """``<reports>/<campaign>/<phase>/LAST_GOOD``."""
    return grid.bundle_parent(reports) / LAST_GOOD


def read_last_good(grid: Grid, reports: Path) -> BundleRef | None:
    """The last-good bundle of the grid's series, or None (none yet, or it was removed)."""
    path = last_good_file(grid, reports)
    if not path.is_file():
        return None
    stamp = path.read_text(encoding="utf-8").strip()
    bundle = grid.bundle_parent(reports) / stamp
    return BundleRef.of(bundle) if (bundle / "tables").is_dir() else None


def pick_baseline(grid: Grid, reports: Path, baseline: str) -> BundleRef | None:
    """The baseline named by ``--baseline`` (``last-good`` or a stamp/path).

    Raises:
        NightsError: an unknown stamp.
    """
    if baseline == "last-good":
        return read_last_good(grid, reports)
    return resolve_bundle(reports, baseline)


def run_nightly(
    grid: Grid,
    options: SweepOptions,
    *,
    baseline: str = "last-good",
    compare: CompareOptions | None = None,
    on_progress: ProgressFn | None = None,
) -> NightOutcome:
    """Sweep, compare, write the verdict, move last-good (see the module docstring).

    Raises:
        NightsError: ``baseline`` names no bundle (checked before the sweep runs).
        GridError: bad input found by the sweep before anything ran.
    """
    reports = Path(options.reports)
    base = pick_baseline(grid, reports, baseline)
    compare = compare or CompareOptions(allow_commit=True)
    sweep = run_sweep(grid, options, on_progress)
    new = BundleRef.of(sweep.bundle.path)
    cmp: Comparison | None = None
    refused = None
    if sweep.interrupted:
        refused = "the sweep was interrupted: nothing compared (--resume completes it)"
    elif base is not None:
        try:
            cmp = compare_bundles(base, new, compare)
        except NightsError as exc:
            refused = str(exc)
    failed = sweep.counts.get("failed", 0)
    if sweep.interrupted:
        code = 130
    elif refused:
        code = 2
    elif cmp is not None and cmp.exit_code:
        code = cmp.exit_code
    else:
        code = 1 if failed else 0
    promoted = code == 0
    write_verdict(new, base, cmp, refused, failed, promoted)
    if promoted:
        write_text_atomic(last_good_file(grid, reports), new.stamp + "\n")
    return NightOutcome(sweep, base, cmp, refused, promoted, code)


def write_verdict(
    new: BundleRef,
    base: BundleRef | None,
    cmp: Comparison | None,
    refused: str | None,
    failed: int,
    promoted: bool,
) -> None:
    """Write ``regressions.md`` and ``regressions.json`` into the new bundle."""
    data: dict[str, Any]
    if cmp is not None:
        text = comparison_markdown(cmp)
        data = cmp.to_json()
    else:
        why = refused or "the first night of this series: no baseline to compare with"
        text = f"# {new.campaign}/{new.phase}: {new.stamp}\n\n{why}\n"
        data = {
            "new": {"stamp": new.stamp, "path": str(new.path)},
            "base": None if base is None else {"stamp": base.stamp, "path": str(base.path)},
            "refused": refused,
            "regressions": [],
        }
    if failed:
        text += f"\n{counted(failed, 'cell')} failed in this night's sweep (see summary.md).\n"
    text += "\nThis night is now the last-good.\n" if promoted else ""
    data.update(failed_cells=failed, promoted=promoted)
    write_text_atomic(new.path / "regressions.md", text)
    write_json_atomic(new.path / "regressions.json", data)
