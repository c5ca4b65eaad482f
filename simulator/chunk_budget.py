"""Block size of the engine: cache-sized on CPU, from the free device memory on a GPU.

On a GPU the block holds as many elements as a share of the device's free memory, read
when the engine is built. A render's peak allocation is at most :data:`BYTES_PER_ELEMENT`
times the dtype's size per element of the largest block tensor (``[3, sources ×
orientations, pixels × layers × subpixels]``): eager renders measured 5.8 to 10.1 across
the seed, tophat with oversampling, gauss with mosaic and φ steps, divergence with
dispersion, and thick sensor cases (``python benchmarks/block_memory.py``: CPU, 256², blocks
of 2¹⁶ and 2¹⁸ elements; on a GPU it also reads the allocator's peaks);
12 leaves room for the caching allocator's rounding. A GPU block uses at
most :data:`FREE_FRACTION` of the free memory (the rest stays for the image, cuBLAS
workspaces, the profiler's buffers and whoever else shares the device), is a power of two
(the same free memory gives the same block shape, so a compiled kernel is reused), and
lies between :data:`GPU_MIN_ELEMENTS` and :data:`GPU_MAX_ELEMENTS` (beyond which blocks no
longer save launches worth having: 2²⁶ holds a whole 4096² seed-case image).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: On CPU a block that stays in cache is fastest.
CPU_CHUNK_ELEMENTS = 1 << 18
#: A GPU block when the free memory cannot be read (a device without ``mem_get_info``).
GPU_CHUNK_ELEMENTS = 1 << 24
GPU_MIN_ELEMENTS = 1 << 16
GPU_MAX_ELEMENTS = 1 << 26
#: Peak bytes of a render per element of its largest block tensor, in units of the dtype size.
BYTES_PER_ELEMENT = 12
#: Share of the free device memory one block may use.
FREE_FRACTION = 0.25


def gpu_chunk_elements(free_bytes: int, itemsize: int) -> int:
    """Elements of a GPU block for ``free_bytes`` of free device memory (see the module doc).

    Args:
        free_bytes: free memory of the device, bytes (``torch.cuda.mem_get_info()[0]``).
        itemsize: bytes per element of the engine's dtype (4 or 8).

    Returns:
        A power of two in ``[GPU_MIN_ELEMENTS, GPU_MAX_ELEMENTS]``.
    """
    if itemsize < 1:
        raise ValueError(f"itemsize: expected a positive byte count, got {itemsize}")
    fits = int(max(free_bytes, 0) * FREE_FRACTION) // (BYTES_PER_ELEMENT * itemsize)
    power = 1 << max(fits, 1).bit_length() - 1  # the largest power of two <= fits
    return max(GPU_MIN_ELEMENTS, min(GPU_MAX_ELEMENTS, power))


def default_chunk_elements(
    device: torch.device,
    dtype: torch.dtype,
    mem_get_info: Callable[[torch.device], tuple[int, int]] | None = None,
) -> tuple[int, int | None]:
    """The block size for ``device`` and the free bytes it was chosen from (None on CPU).

    Args:
        device: the engine's device.
        dtype: the engine's floating dtype.
        mem_get_info: ``(free, total)`` of a device; default ``torch.cuda.mem_get_info``.
    """
    if device.type != "cuda":
        return CPU_CHUNK_ELEMENTS, None
    read = mem_get_info or torch.cuda.mem_get_info
    try:
        free, _total = read(device)
    except (RuntimeError, AssertionError, AttributeError):  # no CUDA runtime to ask
        return GPU_CHUNK_ELEMENTS, None
    itemsize = torch.empty((), dtype=dtype).element_size()
    return gpu_chunk_elements(int(free), itemsize), int(free)
