"""Number and time formatting and the parity gate line, shared by the bundle's text files."""

from __future__ import annotations

import math
from typing import Any

from analysis.parity.tolerances import GATE_CORR, STRICT_CORR, SUM_RATIO_TOL


def num(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals (floats), as text (others), ``-`` when unknown."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def significant(value: Any, digits: int = 4) -> str:
    """``digits`` significant digits (floats), as text (others), ``-`` when unknown."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def seconds(value: Any) -> str:
    """A time in seconds with 4 significant digits (``-`` when unknown)."""
    return significant(value, 4)


def thresholds_line() -> str:
    """``# gate: corr >= … and |sum_ratio - 1| <= …; strict: corr >= …``."""
    return (
        f"# gate: corr >= {GATE_CORR} and |sum_ratio - 1| <= {SUM_RATIO_TOL}; "
        f"strict: corr >= {STRICT_CORR}"
    )
