"""The built-in farm target: the simulator, as a ``factory(size, device, dtype, params)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from simulator.engine import Simulation
from simulator.flags import parse_flags, split_flags


def factory(
    size: int, device: str, dtype: str, params: dict[str, Any]
) -> Callable[[], torch.Tensor]:
    """Build the simulation for one farm cell (the cold part); return its warm render.

    Args:
        size: detector pixels per side (``-detpixels size``).
        device: torch device of the cell.
        dtype: ``"float32"`` or ``"float64"``.
        params: ``params["flags"]`` holds the grid's nanoBragg flags with the cell's
            flag axes appended; ``params["chunk_elements"]`` optionally bounds chunk memory.
    """
    flags = [*split_flags(params.get("flags", "")), "-detpixels", str(int(size))]
    kwargs = {}
    if "chunk_elements" in params:
        kwargs["chunk_elements"] = int(params["chunk_elements"])
    simulation = Simulation(parse_flags(flags), device=device, dtype=dtype, **kwargs)
    return simulation.render
