"""Source lines of a loop (or any ranked row) for the report, and whether they still match.

A row names ``module`` relative to its package's parent (``simulator/engine.py``) and a line
span. The lines are read from the package folder given by the caller; when the file's sha1
differs from the one recorded at capture (``profile/<cell>/*.capture.json``, key
``sources``), the snippet says so: the line numbers may no longer point at the code that ran.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

#: Lines shown at most per snippet (the rest is counted, not shown).
MAX_LINES = 14


@dataclass(frozen=True)
class Snippet:
    """Numbered source lines of one span.

    Attributes:
        module: the file, relative to its package's parent.
        start: first line shown (1-based); lines: the text of each line shown.
        hidden: lines of the span beyond :data:`MAX_LINES`.
        changed: the file differs from the captured one (None: not recorded).
        missing: why no lines could be read (file not found), else None.
    """

    module: str
    start: int
    lines: tuple[str, ...]
    hidden: int = 0
    changed: bool | None = None
    missing: str | None = None


def captured_sources(bundle_dir: Path) -> dict[str, str]:
    """sha1 of every project file at capture time, merged over the bundle's cells."""
    out: dict[str, str] = {}
    for path in sorted(Path(bundle_dir).glob("profile/*/*.capture.json")):
        try:
            sources = json.loads(path.read_text(encoding="utf-8")).get("sources") or {}
        except (OSError, ValueError):
            continue
        out.update({str(k): str(v) for k, v in sources.items()})
    return out


def _locate(module: str, roots: dict[str, Path]) -> Path | None:
    """The file of ``module`` under the package folder its first part names."""
    head = module.split("/", 1)[0]
    for root in roots.values():
        root = Path(root).resolve()
        if root.name == head or (root.is_file() and root.name == module):
            path = root.parent / module
            if path.is_file():
                return path
    return None


def snippet(
    module: str | None,
    line: int | None,
    end_line: int | None,
    roots: dict[str, Path],
    captured: dict[str, str] | None = None,
    max_lines: int = MAX_LINES,
) -> Snippet | None:
    """The numbered lines ``line..end_line`` of ``module``; None without a source position."""
    if not module or not line:
        return None
    path = _locate(module, roots)
    if path is None:
        return Snippet(module, int(line), (), missing=f"{module} not found in {sorted(roots)}")
    data = path.read_bytes()
    sha = (captured or {}).get(module)
    changed = None if sha is None else hashlib.sha1(data).hexdigest() != sha
    text = data.decode("utf-8", errors="replace").splitlines()
    first = max(int(line), 1)
    last = max(int(end_line or line), first)
    span = text[first - 1 : last]
    shown = tuple(span[:max_lines])
    return Snippet(module, first, shown, max(len(span) - len(shown), 0), changed)
