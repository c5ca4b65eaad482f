"""Follow-up hypotheses that a bundle's profiles suggest, each citing the figure behind it.

summary.md's "Follow-up hypotheses" (the seed task's section) joins these to what the
farm knows of its cells (parity failures, timing anomalies: :mod:`farm.bundle.hypotheses`).
From the evidence cells' grain tables:

- the best backlog candidate of each kind (:func:`analysis.evidence.candidates.candidates`,
  the same list and numbers as backlog.md): what to change, its estimated gain, its share
  (one whose gain is under :data:`MIN_GAIN_PCT` of the render is only named, with it);
- what the profiles are blind to: a loop view that explains little of a render (the time
  is not in Python loops), a package whose lines hold little of it (the time is outside
  the package), set-up that cannot be told from per-pixel work (one size per device and
  dtype), a device with no evidence cell.

Every line is built from measured values; none is written without one.
"""

from __future__ import annotations

from collections import defaultdict

from analysis.evidence.backlog import TOP_BACKLOG
from analysis.evidence.candidates import KINDS, Candidate, candidates
from analysis.evidence.grain_sections import GrainEvidence, explained
from analysis.grains import SHARE_OF

#: Below this explained share (%) of a render, a view is called blind to the cell.
BLIND_LOOPS_PCT = 20.0
BLIND_LINES_PCT = 50.0
#: A candidate whose estimated gain is below this share (%) of the render is only named.
MIN_GAIN_PCT = 0.5


def evidence_hypotheses(ev: GrainEvidence) -> list[str]:
    """Markdown list items (without the bullet) for summary.md's "Follow-up hypotheses"."""
    if not (ev.loops or ev.lines or ev.functions or ev.ops):
        return [
            "No cell is evidence (none passed the parity gate with a profile): nothing about "
            "where the time goes can be said from this bundle."
        ]
    return [*_candidate_lines(ev), *_blind_lines(ev)]


def _candidate_lines(ev: GrainEvidence) -> list[str]:
    """The best candidate of each kind whose gain reaches :data:`MIN_GAIN_PCT`; the rest named."""
    chosen = candidates(ev, TOP_BACKLOG)
    out, small = [], []
    for kind in KINDS:
        found = [(n, c) for n, c in enumerate(chosen, 1) if c.kind == kind]
        if not found:
            continue
        n, c = found[0]
        if c.best >= MIN_GAIN_PCT:
            out.append(_candidate_line(n, c))
        else:
            small.append(f"{kind} `{c.where}` {c.best:.2f}% (backlog.md #{n})")
    if small:
        out.append(
            f"No gain of {MIN_GAIN_PCT:g}% or more of the profiled render is estimated for the "
            f"best candidate of these kinds: {'; '.join(small)}."
        )
    return out


def _candidate_line(n: int, c: Candidate) -> str:
    best = max(c.cells, key=lambda x: x["gain_pct"])
    share = 1 - best["gain_pct"] / 100
    speed = f"{1 / share:.2f}x" if share > 0 else "more than 100x"
    label = (
        "; from an unrepresentative profile: re-measure before acting"
        if best["unrepresentative"]
        else ""
    )
    return (
        f"Best {c.kind} candidate (backlog.md #{n}): `{c.where}` ({c.what}): {c.action}. "
        f"Estimated gain in {best['device']} {best['dtype']} {best['size']}²: "
        f"{best['gain_us'] / 1000:.2f} ms, {best['gain_pct']:.1f}% of {SHARE_OF} (a {speed} "
        f"render speed-up); it holds {_pct(best['pct'])}% of that render "
        f"({best['counts']}){label}."
    )


def _blind_lines(ev: GrainEvidence) -> list[str]:
    out = []
    cells = sorted(
        {r["cell_id"]: r for r in (*ev.lines, *ev.loops, *ev.functions)}.items(),
        key=lambda kv: (kv[1]["device"], kv[1]["dtype"], kv[1]["size"] or 0),
    )
    for cell_id, row in cells:
        tag = ev.cells.get(cell_id, {}).get("tag") or cell_id
        share = explained(ev, cell_id)
        if share["loops"] is not None and share["loops"] < BLIND_LOOPS_PCT:
            out.append(
                f"The loop view is blind in `{tag}`: its top loops hold "
                f"{share['loops']:.1f}% of the profiled render, so the time is not in Python "
                f"loops; the lines (top 5: {_pct(share['lines'])}%) and operators (self "
                f"time of the top 5: {_pct(share['ops_self'])}%) say where it is."
            )
        if share["all_lines"] is not None and share["all_lines"] < BLIND_LINES_PCT:
            out.append(
                f"Only {share['all_lines']:.1f}% of `{tag}`'s profiled render is on lines of "
                f"the target package ({row['device']} {row['dtype']} {row['size']}²): the "
                "rest runs outside it (torch's own Python, set-up before the render), where "
                "the loop and line views cannot see."
            )
    sizes: dict[tuple[str, str], set[int]] = defaultdict(set)
    for _, row in cells:
        sizes[(row["device"], row["dtype"])].add(row["size"])
    single = sorted(f"{d} {t} ({next(iter(s))}²)" for (d, t), s in sizes.items() if len(s) < 2)
    if single:
        out.append(
            "Set-up recomputed on every render cannot be told from per-pixel work where a "
            f"device and dtype has one size: {', '.join(single)}. A second size on the grid's "
            "`size` axis lets the backlog find it."
        )
    sides = {"cuda" if str(d).startswith("cuda") else "cpu" for d, _ in sizes}
    for side, name in (("cpu", "CPU"), ("cuda", "CUDA")):
        if side not in sides:
            out.append(
                f"No {name} cell is evidence: the CPU-vs-GPU comparison sees one side only "
                f"({', '.join(sorted(f'{d} {t}' for d, t in sizes))} measured)."
            )
    return out


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{float(v):.1f}"
