"""Text of a comparison (terminal and regressions.md) and of a history (terminal)."""

from __future__ import annotations

from typing import Any

from analysis.nights.compare import CellComparison, Comparison
from analysis.nights.history import History
from analysis.plurals import counted


def _num(v: Any, fmt: str = ".4g") -> str:
    return "n/a" if v is None else format(float(v), fmt)


def _timing_cell(c: CellComparison) -> str:
    t = c.timing
    if t is None:
        return "n/a"
    ci = "" if t.ci_low is None else f" [{t.ci_low:.3f}, {t.ci_high:.3f}]"
    p = "" if t.p_value is None else f", p={t.p_value:.2g}"
    return f"x{t.ratio:.3f}{ci}{p}"


def comparison_markdown(cmp: Comparison) -> str:
    """The comparison as Markdown: verdict, regressions by cell, then every cell."""
    o = cmp.options
    lines = [
        f"# {cmp.new.campaign}/{cmp.new.phase}: {cmp.new.stamp} against {cmp.base.stamp}",
        "",
        f"- base: `{cmp.base.path}`",
        f"- new: `{cmp.new.path}`",
        f"- rule: slower by >= {o.threshold:.0%} and significant at alpha = {o.alpha:g} "
        f"(Welch t-test on log warm times) and >= {o.min_delta_s * 1e3:g} ms; "
        f"memory >= {o.threshold:.0%}; corr drop > "
        f"{o.corr_drop:g} or pass -> fail; a hot spot new in the top {o.top} and up >= "
        f"{o.hot_points:g} points (and >= {o.min_delta_s * 1e3:g} ms)",
    ]
    if cmp.metadata:
        head = (
            "- **FORCED: metadata differ, timings may not be comparable:**"
            if cmp.forced
            else "- metadata that differ (expected for a night):"
        )
        lines.append(head)
        lines += [f"  - {d.line()}" for d in cmp.metadata]
    regs = cmp.regressions
    lines += ["", f"## {counted(len(regs), 'regression')}" if regs else "## No regression", ""]
    by_cell: dict[str, list[str]] = {}
    for tag, metric in regs:
        by_cell.setdefault(tag, []).append(metric)
    for tag, metrics in by_cell.items():
        lines.append(f"- `{tag}`")
        lines += [f"  - {m}" for m in metrics]
    lines += [
        "",
        f"## Cells ({len(cmp.cells)} matched)",
        "",
        "| cell | warm base s | warm new s | ratio [CI], p | mem ratio | corr new | hot moves |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in cmp.cells:
        flag = " **REGRESSED**" if c.regressions else ""
        t = c.timing
        lines.append(
            f"| `{c.tag}`{flag} | {_num(t.base_median if t else None)} | "
            f"{_num(t.new_median if t else None)} | {_timing_cell(c)} | "
            f"{_num(c.mem_ratio, '.3f')} | {_num(c.new.get('corr'), '.8f')} | {len(c.hot)} |"
        )
    moved = [(c.tag, h) for c in cmp.cells for h in c.hot]
    if moved:
        lines += ["", "## Hot spots that moved", ""]
        lines += [f"- `{tag}`: {h.line()}" for tag, h in moved]
    notes = [(c.tag, n) for c in cmp.cells for n in c.notes]
    if notes or cmp.only_base or cmp.only_new or cmp.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- `{tag}`: {n}" for tag, n in notes]
        if cmp.only_base:
            lines.append(f"- only in the base night: {', '.join(cmp.only_base)}")
        if cmp.only_new:
            lines.append(f"- only in the new night: {', '.join(cmp.only_new)}")
        lines += [f"- {n}" for n in cmp.notes]
    return "\n".join(lines) + "\n"


def history_text(hist: History, *, points: bool = False) -> str:
    """The history as text: per series its range and change points."""
    lines = [
        f"{hist.campaign}/{hist.phase}: {hist.metric} over {counted(hist.nights, 'night')}, "
        f"{len(hist.series)} series"
    ]
    for s in hist.series:
        got = [v for v in s.values if v is not None]
        name = s.tag + (f"  {s.spot}" if s.spot else "")
        span = f"{_num(min(got))}..{_num(max(got))}" if got else "no values"
        changes = counted(len(s.change_points), "change")
        lines.append(f"{name}: {counted(len(got), 'night')}, {span}, {changes}")
        for cp in s.change_points:
            rel = "" if cp.rel_step is None else f" ({cp.rel_step:+.1%})"
            lines.append(
                f"  change at {cp.stamp} (commit {(cp.commit or 'unknown')[:12]}): "
                f"{_num(cp.before)} -> {_num(cp.after)}, step {cp.step:+.4g}{rel}, "
                f"p = {cp.p_value:.2g}"
            )
        if points:
            lines += [
                f"    {st} {(c or '')[:12]} {_num(v)}"
                for st, c, v in zip(s.stamps, s.commits, s.values, strict=True)
            ]
    lines += [f"note: {n}" for n in hist.notes]
    return "\n".join(lines) + "\n"
