"""What runs inside a Ray actor.

The worker, the cell measurement, the memory probe, the targets it measures, and the
job/result messages it exchanges with the driver.
"""

from farm.actors.messages import CellFailure, CellJob, CellResult
from farm.actors.targets import Target, TargetError, resolve_target
from farm.actors.worker import CellWorker

__all__ = [
    "CellFailure",
    "CellJob",
    "CellResult",
    "CellWorker",
    "Target",
    "TargetError",
    "resolve_target",
]
