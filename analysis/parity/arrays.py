"""Array helpers shared by the parity measures: images as float64 arrays, safe ratios."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def as_image(x: Any, name: str) -> np.ndarray:
    """``x`` (numpy array or torch tensor) as a float64 ``[spixels, fpixels]`` array.

    Raises:
        ValueError: ``x`` is not 2-D; the message names it as ``name``.
    """
    if hasattr(x, "detach"):  # torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [spixels, fpixels] image, got shape {arr.shape}")
    return arr


def ratio(num: float, den: float) -> float:
    """``num / den``, NaN where ``den`` is 0."""
    return float(num / den) if den != 0.0 else math.nan
