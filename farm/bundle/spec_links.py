"""summary.md's "Spec links": the spec and README sections a reader of the bundle needs.

Links are **relative to the bundle folder**, computed when summary.md is written. A bundle
sits in ``<checkout>/reports/<campaign>/<phase>/<STAMP>/`` by default, so its links work
in any checkout the bundle is put back into (a clone, another machine, the reports tree
copied with it), and from ``--reports`` elsewhere on the machine that wrote it; an absolute
path would work on that machine only. The section also names the commit the documents are
read at (``git show <sha>:README.md`` gives the exact text anywhere), and every anchor is
taken from a heading that exists in the file when the link is written, so none dangles.

The project's spec documents (physics.md, design.md) are looked for in the checkout (its
root and ``docs/``); where they are not there, the entry names the section and links the
code or README section that carries it out.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

#: The checkout that holds this package (README.md, docs/, analysis/).
PROJECT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SpecLink:
    """One entry: what it is for, the document, the start of its heading, where it is done."""

    why: str
    document: str
    heading: str
    fallback: str = ""  # the file that carries it out, when the document is not here


SPECS = (
    SpecLink(
        "the parity gate every correlation is judged by",
        "physics.md",
        "Parity thresholds our users work to",
        "analysis/parity/tolerances.py",
    ),
    SpecLink("what each file of a bundle holds", "design.md", "Evidence bundle"),
    SpecLink("how loops are ranked", "design.md", "Ranking residual Python loops"),
    SpecLink("every grain from the same profiled renders", "design.md", "Where the time goes"),
    SpecLink("references, the gate and `farm parity`", "README.md", "References and parity"),
    SpecLink("cold, warm and profiled renders", "README.md", "What a cell measures"),
    SpecLink("this bundle's files", "README.md", "The bundle"),
    SpecLink("how time reaches a line of a loop", "README.md", "How time reaches a line"),
    SpecLink("lines, functions, operators, compiled regions", "README.md", "Every grain"),
    SpecLink("partial bundles and `--resume`", "README.md", "Failures, Ctrl-C and --resume"),
    SpecLink("which module owns each step", "docs/architecture.md", "The data flow"),
)

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchor(path: Path, heading: str) -> str | None:
    """The anchor of the first heading of ``path`` that is, or starts with, ``heading``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    titles = []
    in_code = False
    for line in lines:
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else _HEADING.match(line)
        if m:
            titles.append(m.group(1))
    seen: dict[str, int] = {}
    anchors = []
    for title in titles:
        base = slug(title)
        n = seen.get(base, 0)
        seen[base] = n + 1
        anchors.append((title.replace("`", ""), base if n == 0 else f"{base}-{n}"))
    for exact in (True, False):
        for title, a in anchors:
            if title == heading if exact else title.startswith(heading):
                return a
    return None


def _find(document: str, project: Path) -> Path | None:
    for path in (project / document, project / "docs" / Path(document).name):
        if path.is_file():
            return path
    return None


def spec_links(bundle_dir: Path, project: Path = PROJECT) -> list[str]:
    """One Markdown list item per :data:`SPECS` entry (without the bullet)."""
    out = []
    for spec in SPECS:
        path = _find(spec.document, project)
        found = anchor(path, spec.heading) if path is not None else None
        if path is not None and found is not None:
            rel = Path(os.path.relpath(path, bundle_dir)).as_posix()
            name = path.relative_to(project).as_posix()
            out.append(f"[{name} § {spec.heading}]({rel}#{found}): {spec.why}")
            continue
        where = ""
        if spec.fallback and (project / spec.fallback).is_file():
            rel = Path(os.path.relpath(project / spec.fallback, bundle_dir)).as_posix()
            where = f"; carried out in [{spec.fallback}]({rel})"
        out.append(
            f"{spec.document} § {spec.heading}: {spec.why} (a project spec, not in this "
            f"checkout{where})"
        )
    return out


def spec_section(bundle_dir: Path, git_sha: str | None, project: Path = PROJECT) -> list[str]:
    """The section: heading, how the links resolve, the list."""
    at = (
        f"at commit `{git_sha[:12]}` (`git show {git_sha[:12]}:README.md` gives that text)"
        if git_sha and git_sha != "unknown"
        else "in the checkout that ran the sweep"
    )
    note = (
        f"Paths are relative to this bundle's folder, to the documents {at}; they work "
        "wherever the bundle sits in a checkout of the project as it does now.\n"
    )
    body = "\n".join(f"- {item}" for item in spec_links(bundle_dir, project))
    return ["## Spec links\n", note, body + "\n"]
