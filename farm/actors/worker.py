"""The worker: a Ray actor (or an in-process object) that measures cells on one device slot.

For one cell, :meth:`CellWorker.run` does, in this order (:mod:`farm.actors.measurement`
holds the details):

1. a cold run: the factory call (construction, ``setup_s``) and the first render (``sim_s``);
2. ``warmups`` untimed warm renders, then ``iterations`` warm renders, each timed (the
   bundle reports their median and spread);
3. when profiling is on, ``profile_renders`` more warm renders under
   ``analysis.traces.capture.profile_call`` (torch.profiler, one session, one window each);
   their times are kept separately, with their overhead against the warm median;
4. the correlation of the cold and the last warm image against the shared reference image;
5. ingestion of the trace into ``ops`` rows (``analysis.traces.ingest.trace_to_ops``).

Peak memory per phase is the process's peak RSS on CPU and the peak allocated on CUDA
(:mod:`farm.actors.memory`).
Torch's intra-op threads are set explicitly (Ray rewrites ``OMP_NUM_THREADS`` in workers)
and recorded in every row. The cell's ``env`` is set in ``os.environ`` while it runs (and,
with ``cold = "process"``, from the start of its fresh actor process: see
:mod:`farm.driver.actor_pool`); every row records it, and what was already warm
(:mod:`farm.actors.warm_state`). Nothing here raises for a failing cell: the failure is
returned.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from typing import Any

from farm.actors.measurement import CellMeasurement, WorkerContext
from farm.actors.messages import CellJob, CellResult
from farm.actors.warm_state import cell_environment
from farm.host import cpu_name, nvidia_driver_version
from farm.references import ReferenceOutcome


def _ray_node() -> tuple[str | None, str | None]:
    """The Ray node id and IP this process runs on, or ``(None, None)`` outside Ray."""
    try:
        import ray

        if not ray.is_initialized():
            return None, None
        return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()
    except Exception:  # Ray absent or not a worker process
        return None, None


class CellWorker:
    """Runs cells on one device slot; Ray wraps it as an actor (one per slot).

    Args:
        device: ``cpu`` or ``cuda``.
        threads: torch intra-op threads to set (Ray changes ``OMP_NUM_THREADS``).
    """

    def __init__(self, device: str, threads: int) -> None:
        import torch

        self.device = device
        self.threads = max(1, int(threads))
        torch.set_num_threads(self.threads)
        if device == "cuda":
            torch.cuda.init()
            name = torch.cuda.get_device_name(0)
        else:
            name = cpu_name()
        node_id, node_ip = _ray_node()
        self.context = WorkerContext(
            socket.gethostname(), name, self.threads, node_id=node_id, node_ip=node_ip
        )

    def describe(self) -> dict[str, Any]:
        """Where and how this worker runs: node, threads, devices, versions."""
        import torch

        info: dict[str, Any] = {
            "node": self.context.node,
            "node_id": self.context.node_id,
            "node_ip": self.context.node_ip,
            "pid": os.getpid(),
            "device": self.device,
            "device_name": self.context.device_name,
            "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
            "env_threads": {
                k: os.environ.get(k)
                for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
            },
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "cuda_available": torch.cuda.is_available(),
        }
        if self.device == "cuda":
            info["gpu_names"] = [
                torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
            ]
            info["cudnn"] = torch.backends.cudnn.version()
            info["driver_version"] = nvidia_driver_version()
        return info

    def ping(self) -> int:
        """Cheap call to check the actor is alive; returns its pid."""
        return os.getpid()

    # ----------------------------------------------------------------------------------------

    def run(self, job: CellJob, reference: ReferenceOutcome | None) -> CellResult:
        """Measure one cell (see the module docstring). Never raises for a failing cell."""
        import torch

        torch.set_num_threads(self.threads)  # a previous target may have changed it
        cell = job.cell
        result = CellResult(cell.cell_id, cell.tag, "ok")
        result.worker = {
            "node": self.context.node,
            "node_id": self.context.node_id,
            "node_ip": self.context.node_ip,
            "pid": os.getpid(),
            "threads": self.threads,
            "device_name": self.context.device_name,
        }
        start = time.perf_counter()
        result.worker["t_start"] = time.time()  # wall clock: the driver measures latency
        state = CellMeasurement(job, self.context, result)
        try:
            with cell_environment(cell.env):
                state.measure(reference)
        except Exception as exc:
            state.fail(exc)
        finally:
            state.release()
            self.context.cells_done += 1
        result.record = state.record(reference)
        result.worker["run_s"] = time.perf_counter() - start
        result.worker["steps_s"] = state.steps
        result.record["steps_s"] = dict(state.steps)
        result.worker["t_end"] = time.time()
        return result
