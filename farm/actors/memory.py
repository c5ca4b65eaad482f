"""The memory probe of a cell's phases: the host's RSS peak everywhere, the device's on CUDA.

Each quantity has its own column of table ``runs``; none is mixed into another:

- ``peak_mem_mb``: the process's RSS high-water mark (``VmHWM``) during the phase, reset
  before it through ``/proc/self/clear_refs`` where the kernel allows it, on every device
  (a CUDA cell's host side holds the CUDA context, pinned buffers and the profiler's);
- ``device_peak_allocated_mb``: ``torch.cuda.max_memory_allocated`` since the phase began
  (the tensors);
- ``device_peak_reserved_mb``: ``torch.cuda.max_memory_reserved`` (what the caching
  allocator held: tensors plus its free blocks);
- ``device_free_before_mb``, ``device_free_after_mb``, ``device_total_mb``:
  ``torch.cuda.mem_get_info`` at the start and at the end of the phase: the whole device,
  so the CUDA context, cuBLAS workspaces, compiled kernels and other processes show here
  and in neither peak.

The device columns are NULL for CPU cells.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

MIB = 2**20
DEVICE_COLUMNS = (
    "device_peak_allocated_mb",
    "device_peak_reserved_mb",
    "device_free_before_mb",
    "device_free_after_mb",
    "device_total_mb",
)


class CudaMemoryApi(Protocol):
    """The part of ``torch.cuda`` the probe reads (tests pass a fake)."""

    def reset_peak_memory_stats(self) -> None: ...  # noqa: D102

    def max_memory_allocated(self) -> int: ...  # noqa: D102

    def max_memory_reserved(self) -> int: ...  # noqa: D102

    def mem_get_info(self) -> tuple[int, int]: ...  # noqa: D102


def host_rss_peak_mb() -> float:
    """The process's RSS high-water mark, MiB (``VmHWM``; ``ru_maxrss`` where that is absent)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PhaseMemory:
    """Memory of one phase: :meth:`reset` at its start, :meth:`columns` at its end.

    Args:
        device: ``cpu`` or ``cuda``.
        cuda: the CUDA memory functions (default ``torch.cuda``); only used on CUDA.
    """

    def __init__(self, device: str, cuda: CudaMemoryApi | None = None) -> None:
        self.device = device
        self._cuda = cuda
        self._can_reset = os.path.exists("/proc/self/clear_refs")
        self._free_before: int | None = None

    @property
    def cuda(self) -> CudaMemoryApi | None:
        """The CUDA memory functions on a CUDA cell, else None."""
        if self.device != "cuda":
            return None
        if self._cuda is None:
            import torch

            self._cuda = torch.cuda
        return self._cuda

    def reset(self) -> None:
        """Start a phase: reset the RSS and device peaks, read the free device memory."""
        if self._can_reset:
            try:
                with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                    fh.write("5")
            except OSError:
                self._can_reset = False
        cuda = self.cuda
        if cuda is not None:
            cuda.reset_peak_memory_stats()
            self._free_before = cuda.mem_get_info()[0]

    def columns(self) -> dict[str, Any]:
        """End of the phase: ``peak_mem_mb`` and, on CUDA, the device columns (MiB)."""
        out: dict[str, Any] = {"peak_mem_mb": host_rss_peak_mb()}
        out.update(dict.fromkeys(DEVICE_COLUMNS))
        cuda = self.cuda
        if cuda is not None:
            free, total = cuda.mem_get_info()
            out.update(
                device_peak_allocated_mb=cuda.max_memory_allocated() / MIB,
                device_peak_reserved_mb=cuda.max_memory_reserved() / MIB,
                device_free_before_mb=None
                if self._free_before is None
                else self._free_before / MIB,
                device_free_after_mb=free / MIB,
                device_total_mb=total / MIB,
            )
        return out
