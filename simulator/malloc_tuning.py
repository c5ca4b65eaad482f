"""glibc's malloc told to keep freed memory, for a process that renders once and exits.

Every block of a render allocates its temporaries afresh (up to a megabyte each) and frees
them. glibc hands memory that size back to the kernel (``mmap`` per allocation at first, then
trimming the heap top once enough is free), so the next block faults those pages in again and
the kernel zeroes them. A 4096² seed-case render on two threads faulted 180 000 to 360 000
pages (a 4 KiB page each), 55 000 to 77 000 with each thread holding its last block (see
:mod:`simulator.cpu_threads`), and 16 400 with these thresholds raised: the image itself.

This is a process-wide setting, so the command line (a one-shot process) applies it; a
library user may call :func:`keep_freed_memory` too. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Allocations up to this size come from the heap, not from their own ``mmap``.
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit machines
#: Free memory at the heap's top is returned to the kernel only beyond this.
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; False where there is no ``mallopt``."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
