"""Can two nights' timings be compared? The metadata that must agree (as pyperf checks).

Compared: the torch version, the node count of the Ray cluster, the target's commit (per
bundle, from env.json and the cells), and per matched cell its device name and torch threads.
Any difference makes the nights incomparable unless the user forces the comparison; the
differences are then printed with the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from analysis.nights.bundles import BundleRef


@dataclass(frozen=True)
class Difference:
    """One piece of metadata that differs between the nights.

    Attributes:
        what: its name (``torch``, ``node count``, ``target commit``, ``device name``, ...).
        base: the base night's value.
        new: the new night's value.
        cells: tags of the cells it concerns (empty: the whole bundle).
    """

    what: str
    base: Any
    new: Any
    cells: tuple[str, ...] = ()

    def line(self) -> str:
        """One line for the report."""
        where = ""
        if self.cells:
            more = f" and {len(self.cells) - 3} more" if len(self.cells) > 3 else ""
            where = f" (cells {', '.join(self.cells[:3])}{more})"
        return f"{self.what}: {self.base} -> {self.new}{where}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "cells": list(self.cells)}


def _node_count(env: Mapping[str, Any]) -> int | None:
    nodes = (env.get("ray") or {}).get("nodes")
    if not isinstance(nodes, list):
        return None
    return sum(1 for n in nodes if isinstance(n, dict) and n.get("alive", True))


def _values(rows: Iterable[Mapping[str, Any]], key: str) -> str | None:
    found = sorted({str(r[key]) for r in rows if r.get(key) not in (None, "", "unknown")})
    return ", ".join(found) if found else None


def bundle_facts(ref: BundleRef, rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Bundle-wide metadata: torch version, node count, target commit."""
    env = ref.env()
    commit = _values(rows, "target_commit") or _values(rows, "git_sha") or env.get("git_sha")
    return {
        "torch": env.get("torch") or _values(rows, "torch_version"),
        "node count": _node_count(env),
        "target commit": commit,
    }


def differences(
    base: BundleRef,
    new: BundleRef,
    base_rows: list[Mapping[str, Any]],
    new_rows: list[Mapping[str, Any]],
    pairs: list[tuple[Mapping[str, Any], Mapping[str, Any]]],
) -> list[Difference]:
    """Every difference that makes the nights' timings incomparable.

    Args:
        base: the base bundle.
        new: the new bundle.
        base_rows: the base's ``cell_stats`` rows.
        new_rows: the new's ``cell_stats`` rows.
        pairs: matched cells (base row, new row), measured on both sides.
    """
    out = []
    fb, fn = bundle_facts(base, base_rows), bundle_facts(new, new_rows)
    for what in fb:
        if fb[what] is not None and fn[what] is not None and fb[what] != fn[what]:
            out.append(Difference(what, fb[what], fn[what]))
    for what, key in (("device name", "device_name"), ("threads", "threads")):
        changed: dict[tuple[Any, Any], list[str]] = {}
        for b, n in pairs:
            if b.get(key) is not None and n.get(key) is not None and b[key] != n[key]:
                changed.setdefault((b[key], n[key]), []).append(str(n.get("cell_tag")))
        for (bv, nv), tags in changed.items():
            out.append(Difference(what, bv, nv, tuple(tags)))
    return out
