"""Reading nights' summaries (``cell_stats``, ``hot_shares``) through the catalog.

Bundles written before their summaries existed (or whose sweep stopped before its analysis)
are summarised first, once: the summary is derived data of the bundle, like ``hot_loops``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from analysis.nights.bundles import BundleRef, NightsError
from analysis.nights.summarise import has_summary, summarise_bundle
from analysis.plurals import counted
from analysis.tables.catalog import Catalog

SUMMARY_VIEWS = ("cell_stats", "hot_shares")


def ensure_summaries(refs: Iterable[BundleRef], note: Callable[[str], None]) -> None:
    """Summarise every bundle of ``refs`` that has no ``cell_stats`` part yet.

    Raises:
        NightsError: a summary cannot be written (read-only reports root, ...).
    """
    for ref in refs:
        if has_summary(ref.path):
            continue
        try:
            counts = summarise_bundle(ref.path)
        except OSError as exc:
            raise NightsError(
                f"cannot write the summary of {ref.path}: {exc.strerror or exc}"
            ) from None
        note(
            f"summarised {ref.path} ({counted(counts['cell_stats'], 'cell')}; it had no cell_stats)"
        )


def open_summaries(refs: list[BundleRef], warn: Callable[[str], None]) -> Catalog:
    """A catalog over the summaries of ``refs`` only (their own folders, nothing else)."""
    root = Path(os.path.commonpath([str(r.path.parent) for r in refs]))
    return Catalog(root, warn=warn, views=SUMMARY_VIEWS, bundles=[r.path for r in refs])


def rows_by_bundle(cat: Catalog, table: str, refs: list[BundleRef]) -> dict[BundleRef, list]:
    """Rows of ``table`` per bundle (matched on campaign, phase and stamp)."""
    out: dict[BundleRef, list[dict[str, Any]]] = {r: [] for r in refs}
    key = {(r.campaign, r.phase, r.stamp): r for r in refs}
    order = "cell_tag" if table == "cell_stats" else "cell_id, grain, rank"
    for row in cat.query(f"SELECT * FROM {table} ORDER BY stamp, {order}").records():
        ref = key.get((row["campaign"], row["phase"], row["stamp"]))
        if ref is not None:
            out[ref].append(row)
    return out
