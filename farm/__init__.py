"""bragg-farm: sweep the profiled simulator over a grid, keep timings, traces and parity as data."""

__version__ = "0.1.0"
