"""The built-in farm target: the simulator, as a ``factory(size, device, dtype, params)``."""

from __future__ import annotations

import functools
from typing import Any

from simulator.engine import Simulation
from simulator.flags import parse_flags, split_flags

#: Grid ``[options]`` the simulator target understands, with the type each takes.
OPTIONS: dict[str, type] = {"compile": bool, "chunk_elements": int}


class SimulatorRender(functools.partial):
    """``simulation.render`` that also reports how the engine renders.

    A partial, so calling it adds no Python frame to the profile; :meth:`report` is
    :meth:`Simulation.report`.
    """

    def report(self) -> dict[str, Any]:
        """Compiled or eager (and why), matmul precision, block size."""
        return self.func.__self__.report()


def factory(size: int, device: str, dtype: str, params: dict[str, Any]) -> SimulatorRender:
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
    return SimulatorRender(simulation.render)
