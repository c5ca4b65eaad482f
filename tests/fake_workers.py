"""Stand-ins for ``farm.actors.worker.CellWorker`` in actor-pool tests (no GPU needed).

:class:`HoldingWorker` answers like a worker on either device but measures nothing: it
holds each cell for :data:`HOLD_S` seconds and reports when it started and ended, so a test
can see which cells of a host overlapped.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from farm.actors.messages import CellJob, CellResult

HOLD_S = 0.3


class HoldingWorker:
    """A fake worker: ``device`` is a label only (a "cuda" one runs on the CPU)."""

    def __init__(self, device: str, threads: int) -> None:
        self.device = device

    def describe(self) -> dict[str, Any]:
        """Where it runs, as the real worker says it (hostname and Ray node id)."""
        import ray

        return {
            "node": socket.gethostname(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "device": self.device,
            "device_name": f"stand-in {self.device}",
        }

    def run(self, job: CellJob, reference: Any) -> CellResult:
        """Hold the cell for HOLD_S seconds; report the wall-clock interval."""
        result = CellResult(job.cell.cell_id, job.cell.tag, "ok")
        start = time.time()
        time.sleep(HOLD_S)
        result.worker = {"t_start": start, "t_end": time.time(), "device": self.device}
        return result
