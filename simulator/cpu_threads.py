"""Blocks of pixels spread over CPU threads, each thread rendering whole blocks.

Left to itself, torch splits every operation of a block over its intra-op threads, which
meet at a barrier after each one: some thirty barriers per block, thousands per image. Where
a thread is late (another process holds its core, a page fault, a thread just started) the
others spin at the barrier, so a render on a busy machine, or the first one in a process,
ran many times slower than a warm one. Here every thread takes a whole block at a time with
single-threaded operations, as the C program's one OpenMP loop over pixels does: no barrier
until the image is done, and a late thread only does fewer blocks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

Block = TypeVar("Block")
_DONE = object()
#: (slow, fast) pixel indices or sizes.
Pixel = tuple[int, int]


def block_workers(device: torch.device, compiled: bool) -> int:
    """Threads that render whole blocks: torch's thread count for eager CPU renders.

    One (the calling thread) on a GPU, for a compiled kernel (its generated code has one
    parallel loop of its own), and under a profiler: every op then keeps the Python stack of
    the loop that issued it, which the farm's loop attribution reads.
    """
    if device.type != "cpu" or compiled or torch._C._autograd._profiler_enabled():
        return 1
    return torch.get_num_threads()


def block_corners(start: Pixel, end: Pixel, shape: Pixel) -> list[Pixel]:
    """Top-left corners of ``shape`` blocks tiling ``start`` up to (not including) ``end``."""
    return [
        (top, left)
        for top in range(start[0], end[0], shape[0])
        for left in range(start[1], end[1], shape[1])
    ]


@contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """Run torch operations on ``count`` intra-op threads inside the block, then restore."""
    before = torch.get_num_threads()
    if count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def for_each_block(work: Callable[[Block], object], blocks: Sequence[Block], workers: int) -> None:
    """Call ``work(block)`` for every block, on ``workers`` threads (in order on one).

    Each thread takes the next block left until none is, without autograd (grad mode is per
    thread). What a call returns (the block's pixels) is held until the same thread's next
    call has returned: the freed temporaries of a block then lie below a live allocation, and
    glibc reuses them for the next block instead of trimming them off the heap top and
    faulting them in again (several times fewer page faults per render at 4096²). The
    first exception raised stops the other threads after their current block and is raised
    here.
    """
    pending = iter(blocks)
    lock = threading.Lock()
    failed = threading.Event()

    @torch.no_grad()
    def drain() -> None:
        held = None
        while not failed.is_set():
            with lock:
                block = next(pending, _DONE)
            if block is _DONE:
                return
            try:
                held = work(block)  # noqa: F841  (kept alive until the next block is done)
            except BaseException:
                failed.set()
                raise

    if workers <= 1 or len(blocks) <= 1:
        drain()
        return
    threads = min(workers, len(blocks))
    with intra_op_threads(1), ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(drain) for _ in range(threads)]:
            future.result()
