"""The built-in farm target: the simulator, as a ``factory(size, device, dtype, params)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from simulator.engine import Simulation
from simulator.flags import parse_flags, split_flags

#: Grid ``[options]`` the simulator target understands, with the type each takes.
OPTIONS: dict[str, type] = {"compile": bool, "chunk_elements": int}


def factory(
    size: int, device: str, dtype: str, params: dict[str, Any]
) -> Callable[[], torch.Tensor]:
    """Build the simulation for one farm cell (the cold part); return its warm render.

    Args:
        size: detector pixels per side (``-detpixels size``).
        device: torch device of the cell.
        dtype: ``"float32"`` or ``"float64"``.
        params: ``params["flags"]`` holds the grid's nanoBragg flags with the cell's
            flag axes appended; the grid's ``[options]`` may add ``compile`` (fuse the
            kernel with torch.compile; the cold run pays the compilation) and
            ``chunk_elements`` (bound on the per-block tensors).
    """
    flags = [*split_flags(params.get("flags", "")), "-detpixels", str(int(size))]
    simulation = Simulation(
        parse_flags(flags),
        device=device,
        dtype=dtype,
        chunk_elements=int(params["chunk_elements"]) if "chunk_elements" in params else None,
        compile=bool(params.get("compile", False)),
    )
    return simulation.render
