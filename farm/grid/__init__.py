"""Grids: a sweep's TOML file.

Validated by :mod:`farm.grid.parse` into a :class:`Grid` (:mod:`farm.grid.model`), expanded
into cells by :mod:`farm.grid.cells`.
"""

from farm.grid.cells import BUILTIN_AXES, Cell, expand_axes
from farm.grid.model import DEVICES, DTYPES, KEYS, REFERENCES, Grid, GridError
from farm.grid.parse import load_grid, parse_grid

__all__ = [
    "BUILTIN_AXES",
    "DEVICES",
    "DTYPES",
    "KEYS",
    "REFERENCES",
    "Cell",
    "Grid",
    "GridError",
    "expand_axes",
    "load_grid",
    "parse_grid",
]
