"""The sweep driver: preflight checks, Ray, slot plan, actor pool, the stages of a sweep."""

from farm.driver.preflight import StartError
from farm.driver.progress import SweepOutcome, SweepProgress
from farm.driver.sweep import SweepOptions, run_sweep

__all__ = ["StartError", "SweepOptions", "SweepOutcome", "SweepProgress", "run_sweep"]
