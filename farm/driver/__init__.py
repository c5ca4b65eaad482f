"""The sweep driver: Ray connection and slot plan, the actor pool, the stages of a sweep."""

from farm.driver.progress import SweepOutcome, SweepProgress
from farm.driver.sweep import SweepOptions, run_sweep

__all__ = ["SweepOptions", "SweepOutcome", "SweepProgress", "run_sweep"]
