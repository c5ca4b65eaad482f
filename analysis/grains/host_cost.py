"""The fixed host cost of an operator call, measured from the render it ran in.

What vectorising a loop or fusing a line removes is the cost every call pays whatever its
size: dispatch, argument checks, allocation, a kernel launch. The trace does not split a
call into that and its compute, but the render holds many calls that compute almost
nothing (views, casts, small set-up arithmetic). An operator's fixed cost is taken as its
fastest call in the render, capped at the median of the fastest calls of all operators in
it: an operator whose every call is large (a matrix product over the image) has a fastest
call that is mostly compute, and the cap keeps that out.
"""

from __future__ import annotations

import statistics

import numpy as np


def fixed_costs(names: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """Per call (row), the fixed host cost of its operator (us); see the module docstring.

    Args:
        names: operator name per call (object array).
        dur: duration per call (us).
    """
    fastest: dict[str, float] = {}
    for name, d in zip(names.tolist(), dur.tolist(), strict=True):
        fastest[name] = min(d, fastest.get(name, d))
    if not fastest:
        return np.zeros(0)
    cap = statistics.median(fastest.values())
    return np.array([min(fastest[name], cap) for name in names.tolist()], float)
