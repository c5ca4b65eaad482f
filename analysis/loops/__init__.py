"""Loops: the inventory of a package's loops, and each loop's share of a profiled run."""

from analysis.loops.attribution import attribute
from analysis.loops.inventory import (
    InventoryError,
    Loop,
    loops_table,
    resolve_package,
    scan_package,
)

__all__ = ["InventoryError", "Loop", "attribute", "loops_table", "resolve_package", "scan_package"]
