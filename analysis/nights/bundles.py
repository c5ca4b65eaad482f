"""Finding nights: bundle folders under a reports root, by stamp, path or recency.

A bundle is ``<root>/<campaign>/<phase>/<STAMP>/`` (STAMP = ``YYYYMMDDTHHMMSSZ``), with
``env.json`` and ``tables/``. :func:`resolve_bundle` accepts what a user types: a bundle
path, or a stamp looked up below the root.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAMP_RE = re.compile(r"^\d{8}T\d{6}Z$")


class NightsError(ValueError):
    """Bad input or bundles that cannot be compared; the message is one line (exit 2)."""


@dataclass(frozen=True, order=True)
class BundleRef:
    """One bundle folder.

    Attributes:
        stamp: its stamp (the sort key: stamps sort in time order).
        campaign: the campaign folder.
        phase: the phase folder.
        path: the folder.
    """

    stamp: str
    campaign: str
    phase: str
    path: Path

    @classmethod
    def of(cls, path: Path) -> BundleRef:
        """The bundle at ``path`` (``.../<campaign>/<phase>/<STAMP>``)."""
        path = Path(path)
        return cls(path.name, path.parent.parent.name, path.parent.name, path)

    @property
    def series(self) -> tuple[str, str]:
        """``(campaign, phase)``: the nights that follow each other."""
        return self.campaign, self.phase

    def env(self) -> dict[str, Any]:
        """``env.json`` (empty when missing or unreadable)."""
        try:
            return json.loads((self.path / "env.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}

    def grid_text(self) -> str | None:
        """``grid.toml`` as it ran, or None."""
        try:
            return (self.path / "grid.toml").read_text(encoding="utf-8")
        except OSError:
            return None


def list_bundles(
    root: Path, campaign: str | None = None, phase: str | None = None
) -> list[BundleRef]:
    """Bundles under ``root`` (oldest first), optionally of one campaign and phase."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for path in root.glob(f"{campaign or '*'}/{phase or '*'}/*"):
        if STAMP_RE.match(path.name) and path.is_dir() and (path / "tables").is_dir():
            found.append(BundleRef.of(path))
    return sorted(found)


def resolve_bundle(root: Path, arg: str) -> BundleRef:
    """A bundle from a path or a stamp.

    Raises:
        NightsError: not a bundle, no such stamp, or a stamp found in several campaigns.
    """
    path = Path(arg)
    if path.is_dir():
        if not STAMP_RE.match(path.resolve().name) or not (path / "tables").is_dir():
            raise NightsError(f"{arg}: not a bundle folder (<campaign>/<phase>/<STAMP>/tables)")
        return BundleRef.of(path.resolve())
    if not STAMP_RE.match(arg):
        raise NightsError(f"{arg}: neither a bundle folder nor a stamp (YYYYMMDDTHHMMSSZ)")
    hits = [b for b in list_bundles(root) if b.stamp == arg]
    if not hits:
        raise NightsError(f"no bundle with stamp {arg} under {root}")
    if len(hits) > 1:
        where = ", ".join(f"{b.campaign}/{b.phase}" for b in hits)
        raise NightsError(f"stamp {arg} is in several campaigns ({where}): pass a bundle path")
    return hits[0]


def newest_pair(root: Path) -> tuple[BundleRef, BundleRef]:
    """The two newest bundles of the campaign and phase of the newest bundle under ``root``.

    Raises:
        NightsError: fewer than two bundles in that series.
    """
    every = list_bundles(root)
    if not every:
        raise NightsError(f"no bundles under {root}")
    newest = every[-1]
    same = [b for b in every if b.series == newest.series]
    if len(same) < 2:
        raise NightsError(
            f"only one bundle of {newest.campaign}/{newest.phase} under {root}: "
            "name two bundles to compare"
        )
    return same[-2], same[-1]
