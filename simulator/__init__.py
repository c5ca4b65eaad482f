"""A vectorised PyTorch port of nanoBragg: its physics, its flags, its files.

Library first::

    from simulator import Simulation
    sim = Simulation.from_flags("-default_F 100 -cell 100 100 100 90 90 90 -N 5 -detpixels 256")
    image = sim.render()          # torch.Tensor [spixels, fpixels]

Command line: ``python -m simulator <nanoBragg flags>``.

Importing the package does not import torch: ``Simulation`` (the engine) is loaded on first
use, so the command line controls how torch is imported (see :mod:`simulator.__main__`).
"""

from typing import Any

from simulator.config import ConfigError, SimulationConfig
from simulator.flags import FlagError, parse_flags, to_flags, with_flags
from simulator.resolve import SetupError, resolve
from simulator.setup import Setup

__all__ = [
    "ConfigError",
    "FlagError",
    "Setup",
    "SetupError",
    "Simulation",
    "SimulationConfig",
    "parse_flags",
    "resolve",
    "to_flags",
    "with_flags",
]


def __getattr__(name: str) -> Any:
    """``simulator.Simulation``, imported (with torch) when first asked for."""
    if name == "Simulation":
        from simulator.engine import Simulation

        return Simulation
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
