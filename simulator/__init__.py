"""A vectorised PyTorch port of nanoBragg: its physics, its flags, its files.

Library first::

    from simulator import Simulation
    sim = Simulation.from_flags("-default_F 100 -cell 100 100 100 90 90 90 -N 5 -detpixels 256")
    image = sim.render()          # torch.Tensor [spixels, fpixels]

Command line: ``python -m simulator <nanoBragg flags>``.
"""

from simulator.config import ConfigError, SimulationConfig
from simulator.engine import Simulation
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
