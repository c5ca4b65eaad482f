"""Night against night: every matched cell's timing, memory, parity and hot spots.

Cells match by identity (target, device, dtype, size, params = flags + flag axes + options,
env). Per matched cell:

* warm time: median ratio with a bootstrap interval and Welch's test on the log samples; a
  regression when at least ``1 + threshold`` slower, at least ``min_delta_s`` slower (the
  noise floor) and significant at ``alpha`` (:mod:`analysis.nights.stats`);
* peak memory: ratio of the warm peaks; a regression when at least ``1 + threshold`` and at
  least 1 MiB more;
* parity: verdict pass -> fail, or correlation down by more than ``corr_drop``;
* hot spots: shares moved by ``hot_points`` or more, new top-``top`` entries; a spot that
  entered the top and grew that much, and by at least ``min_delta_s`` of the profiled
  render, is a regression (:mod:`analysis.nights.hotshift`);
* a cell that ran on the base night and failed on the new one.

Refused (:class:`NightsError`, exit 2): nights without a common cell, and nights whose
metadata differ (:mod:`analysis.nights.metadata`) unless ``force`` (the report says so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from analysis.nights.bundles import BundleRef, NightsError
from analysis.nights.hotshift import HotShift, hot_shifts
from analysis.nights.load import ensure_summaries, open_summaries, rows_by_bundle
from analysis.nights.metadata import Difference, differences
from analysis.nights.stats import SampleChange, compare_samples
from analysis.plurals import counted

#: Memory growth below this many MiB never counts (RSS moves by pages and allocator slack).
MEM_MIN_MB = 1.0

#: The timing noise floor, seconds: a warm median (or a hot spot's time) that grew by less
#: never counts. On this project's 2-core CI-class host, ten identical reruns of
#: configs/smoke.toml (renders of 0.25-1.2 ms) flagged 4 of 36 cell comparisons without a
#: floor: between two processes such renders shift by up to 1.8x (0.06-0.54 ms) at p < 0.05
#: on 3 samples each (``benchmarks/nightly_false_alarms.py``).
MIN_DELTA_S = 1e-3


@dataclass(frozen=True)
class CompareOptions:
    """How to judge two nights.

    Attributes:
        threshold: relative slowdown (and memory growth) that matters: 0.10 = 10 %.
        alpha: significance level of the timing test.
        min_delta_s: the timing noise floor in seconds (:data:`MIN_DELTA_S`); 0 turns it off.
        corr_drop: a correlation drop larger than this is a parity regression.
        hot_points: a hot-spot share move of this many points is reported (a regression for
            a spot that entered the top).
        top: the top-N compared for new hot-spot entries.
        force: compare nights whose metadata differ.
        allow_commit: a changed target commit is expected (``farm nightly``) and allowed.
    """

    threshold: float = 0.10
    alpha: float = 0.05
    min_delta_s: float = MIN_DELTA_S
    corr_drop: float = 1e-4
    hot_points: float = 5.0
    top: int = 5
    force: bool = False
    allow_commit: bool = False


@dataclass
class CellComparison:
    """One matched cell.

    Attributes:
        tag: the cell's tag (new night).
        cell_id: its id in the new night.
        base: its ``cell_stats`` row in the base night.
        new: its row in the new night.
        timing: the warm-time comparison (None when a side has no warm sample).
        mem_ratio: new / base warm peak memory.
        corr_drop: base corr - new corr.
        hot: hot-spot moves.
        regressions: one line per regressed metric.
        notes: what could not be compared, and why.
    """

    tag: str
    cell_id: str
    base: Mapping[str, Any]
    new: Mapping[str, Any]
    timing: SampleChange | None = None
    mem_ratio: float | None = None
    corr_drop: float | None = None
    hot: list[HotShift] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        keep = ("status", "verdict", "corr", "warm_median_s", "peak_mem_mb", "node")
        return {
            "tag": self.tag,
            "cell_id": self.cell_id,
            "base": {k: self.base.get(k) for k in keep},
            "new": {k: self.new.get(k) for k in keep},
            "timing": self.timing.to_json() if self.timing else None,
            "mem_ratio": self.mem_ratio,
            "corr_drop": self.corr_drop,
            "hot": [h.to_json() for h in self.hot],
            "regressions": list(self.regressions),
            "notes": list(self.notes),
        }


@dataclass
class Comparison:
    """Two nights compared.

    Attributes:
        base: the base bundle.
        new: the new bundle.
        options: the judging options.
        cells: matched cells, in tag order.
        only_base: tags of cells only the base night has.
        only_new: tags of cells only the new night has.
        metadata: metadata differences (compared anyway: ``forced`` or allowed commit).
        forced: the comparison went ahead despite differences (``--force``).
        notes: what happened on the way (summaries written, skipped parts).
    """

    base: BundleRef
    new: BundleRef
    options: CompareOptions
    cells: list[CellComparison] = field(default_factory=list)
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    metadata: list[Difference] = field(default_factory=list)
    forced: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[tuple[str, str]]:
        """``(cell tag, metric line)`` of every regression."""
        return [(c.tag, r) for c in self.cells for r in c.regressions]

    @property
    def exit_code(self) -> int:
        """1 when anything regressed, else 0."""
        return 1 if self.regressions else 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``farm compare --json``, regressions.json)."""
        return {
            "base": {"stamp": self.base.stamp, "path": str(self.base.path)},
            "new": {"stamp": self.new.stamp, "path": str(self.new.path)},
            "campaign": self.new.campaign,
            "phase": self.new.phase,
            "options": vars(self.options),
            "forced": self.forced,
            "metadata_differences": [d.to_json() for d in self.metadata],
            "regressions": [{"cell": t, "metric": m} for t, m in self.regressions],
            "exit_code": self.exit_code,
            "cells": [c.to_json() for c in self.cells],
            "only_base": self.only_base,
            "only_new": self.only_new,
            "notes": self.notes,
        }


def compare_bundles(
    base: BundleRef,
    new: BundleRef,
    options: CompareOptions = CompareOptions(),
    warn: Callable[[str], None] | None = None,
) -> Comparison:
    """Compare two nights (see the module docstring).

    Raises:
        NightsError: the same bundle twice, no common cell, or metadata differ without force.
    """
    if base.path.resolve() == new.path.resolve():
        raise NightsError(f"both arguments name the same bundle {new.path}")
    notes: list[str] = []
    ensure_summaries([base, new], notes.append)
    with open_summaries([base, new], warn or notes.append) as cat:
        stats = rows_by_bundle(cat, "cell_stats", [base, new])
        shares = rows_by_bundle(cat, "hot_shares", [base, new])
    b_cells = {r["identity"]: r for r in stats[base]}
    n_cells = {r["identity"]: r for r in stats[new]}
    common = sorted(set(b_cells) & set(n_cells), key=lambda i: str(n_cells[i]["cell_tag"]))
    if not common:
        raise NightsError(
            f"no cell in common between {base.stamp} ({counted(len(b_cells), 'cell')}) and "
            f"{new.stamp} ({counted(len(n_cells), 'cell')}): different grids (target, flags, "
            "axes, options or env)"
        )
    pairs = [(b_cells[i], n_cells[i]) for i in common]
    measured = [(b, n) for b, n in pairs if b["status"] == "ok" and n["status"] == "ok"]
    diffs = differences(base, new, stats[base], stats[new], measured)
    blocking = [d for d in diffs if not (options.allow_commit and d.what == "target commit")]
    if blocking and not options.force:
        raise NightsError(
            f"{base.stamp} and {new.stamp} are not comparable: "
            + "; ".join(d.line() for d in blocking)
            + " (--force compares them anyway)"
        )
    out = Comparison(base, new, options, metadata=diffs, forced=bool(blocking), notes=notes)
    out.only_base = sorted(str(b_cells[i]["cell_tag"]) for i in set(b_cells) - set(n_cells))
    out.only_new = sorted(str(n_cells[i]["cell_tag"]) for i in set(n_cells) - set(b_cells))
    hot_b = _by_cell(shares[base])
    hot_n = _by_cell(shares[new])
    for b, n in pairs:
        cell = CellComparison(str(n["cell_tag"]), str(n["cell_id"]), b, n)
        judge_cell(cell, options, hot_b.get(b["cell_id"], []), hot_n.get(n["cell_id"], []))
        out.cells.append(cell)
    return out


def _by_cell(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(str(r["cell_id"]), []).append(r)
    return out


def judge_cell(
    cell: CellComparison,
    options: CompareOptions,
    hot_base: list[dict[str, Any]],
    hot_new: list[dict[str, Any]],
) -> None:
    """Fill in one matched cell's comparisons and regressions."""
    b, n = cell.base, cell.new
    if b["status"] != "ok" or n["status"] != "ok":
        if b["status"] == "ok" and n["status"] == "failed":
            cell.regressions.append("status: ok -> failed")
        else:
            cell.notes.append(f"not compared: status {b['status']} -> {n['status']}")
        return
    cell.timing = compare_samples(
        b.get("warm_samples"),
        n.get("warm_samples"),
        threshold=options.threshold,
        alpha=options.alpha,
        min_delta=options.min_delta_s,
    )
    t = cell.timing
    if t is None:
        cell.notes.append("warm time: no warm samples on one side")
    else:
        if t.note:
            cell.notes.append(f"warm time: {t.note}")
        if t.below_floor and t.significant and t.ratio >= 1 + options.threshold:
            cell.notes.append(
                f"warm time: x{t.ratio:.3f} (p = {t.p_value:.2g}) but "
                f"{(t.new_median - t.base_median) * 1e3:+.3g} ms, under the "
                f"{options.min_delta_s * 1e3:g} ms noise floor: not counted"
            )
        if t.slower:
            cell.regressions.append(
                f"warm_s: {t.base_median:.4g} s -> {t.new_median:.4g} s "
                f"(x{t.ratio:.3f}, CI {_ci(t)}, p = {t.p_value:.2g})"
            )
    bm, nm = b.get("peak_mem_mb"), n.get("peak_mem_mb")
    if bm and nm:
        cell.mem_ratio = nm / bm
        if cell.mem_ratio >= 1 + options.threshold and nm - bm >= MEM_MIN_MB:
            cell.regressions.append(
                f"peak_mem_mb: {bm:.1f} -> {nm:.1f} MiB (x{cell.mem_ratio:.3f})"
            )
    if b.get("verdict") == "pass" and n.get("verdict") == "fail":
        cell.regressions.append(
            f"parity: pass -> fail (corr {_f(b.get('corr'))} -> {_f(n.get('corr'))})"
        )
    if b.get("corr") is not None and n.get("corr") is not None:
        cell.corr_drop = float(b["corr"]) - float(n["corr"])
        if cell.corr_drop > options.corr_drop and not any(
            r.startswith("parity") for r in cell.regressions
        ):
            cell.regressions.append(
                f"corr: {_f(b['corr'])} -> {_f(n['corr'])} (drop {cell.corr_drop:.2e})"
            )
    cell.hot = hot_shifts(
        hot_base,
        hot_new,
        points=options.hot_points,
        top=options.top,
        render_s=(b.get("profiled_s"), n.get("profiled_s")),
        min_delta_s=options.min_delta_s,
    )
    for h in cell.hot:
        if h.grew:
            cell.regressions.append(f"hot spot: {h.line()}")


def _ci(t: SampleChange) -> str:
    if t.ci_low is None or t.ci_high is None:
        return "n/a"
    return f"{t.ci_low:.3f}-{t.ci_high:.3f}"


def _f(v: Any) -> str:
    return "n/a" if v is None else f"{float(v):.6f}"
