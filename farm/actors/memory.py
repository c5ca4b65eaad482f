"""The memory probe of a cell's phases: peak RSS on CPU, max allocated on CUDA.

On CPU the peak is the process's RSS high-water mark (``VmHWM``), reset before each phase
through ``/proc/self/clear_refs`` where the kernel allows it; on CUDA it is
``torch.cuda.max_memory_allocated``, reset with ``torch.cuda.reset_peak_memory_stats``.
"""

from __future__ import annotations

import os


class PeakMemory:
    """Peak memory of one phase: RSS high-water mark on CPU, max allocated on CUDA."""

    def __init__(self, device: str) -> None:
        self.cuda = device == "cuda"
        self._can_reset = os.path.exists("/proc/self/clear_refs")

    def reset(self) -> None:
        """Start a phase: reset the peak."""
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
        elif self._can_reset:
            try:
                with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                    fh.write("5")
            except OSError:
                self._can_reset = False

    def peak_mb(self) -> float:
        """Peak of the phase, in MiB."""
        if self.cuda:
            import torch

            return torch.cuda.max_memory_allocated() / 2**20
        try:
            with open("/proc/self/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
