"""Blocks of pixels spread over CPU threads, each thread rendering whole blocks.

Left to itself, torch splits every operation of a block over its intra-op threads, which
meet at a barrier after each one: some thirty barriers per block, thousands per image. Where
a thread is late (another process holds its core, a page fault, a thread just started) the
others spin at the barrier, so a render on a busy machine, or the first one in a process,
ran many times slower than a warm one. Here every thread takes a whole block at a time with
single-threaded operations, as the C program's one OpenMP loop over pixels does: no barrier
until the image is done, and a late thread only does fewer blocks.

A render runs the same way under a profiler as without one. The calling thread renders
blocks too, beside helper threads that an engine keeps from one render to the next
(:class:`BlockThreads`): a profiler that follows every thread (torch's
``profile_all_threads``) traces the Python frames only of threads that exist when it
starts, so the helpers are started before, when the engine is built. The torch function
modes active on the calling thread (they are per thread) are entered on the helpers for the
blocks they render, so a mode that records or changes torch calls sees every block.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
from torch.overrides import _get_current_function_mode_stack, _pop_mode, _push_mode

Block = TypeVar("Block")
_DONE = object()
#: (slow, fast) pixel indices or sizes.
Pixel = tuple[int, int]


def block_workers(device: torch.device, compiled: bool) -> int:
    """Threads that render whole blocks: torch's thread count for eager CPU renders.

    One (the calling thread) on a GPU and for a compiled kernel (its generated code has one
    parallel loop of its own). A profiler changes nothing: profiled renders are the renders
    that are timed.
    """
    if device.type != "cpu" or compiled:
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


@contextmanager
def function_modes(modes: Sequence[Any]) -> Iterator[None]:
    """Enter another thread's torch function modes (bottom first) on this one, then leave.

    The same mode objects go on this thread's mode stack as they are, without calling their
    ``__enter__`` again (which may change process state, as ``torch.device`` does).
    """
    for mode in modes:
        _push_mode(mode)
    try:
        yield
    finally:
        for _ in modes:
            _pop_mode()


class BlockThreads:
    """Helper threads that render blocks beside the calling thread, kept between renders.

    Every helper is started here, not at the first block: a profiler started later sees
    them all. Threads end when the object is closed or garbage-collected.
    """

    def __init__(self, workers: int = 1) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self.helpers = 0
        self.ensure(workers)

    def __reduce__(self) -> tuple[type, tuple[int]]:
        return BlockThreads, (self.helpers + 1,)

    def ensure(self, workers: int) -> None:
        """Keep ``workers - 1`` helpers (the calling thread is the other worker)."""
        helpers = max(workers - 1, 0)
        if helpers == self.helpers:
            return
        self.close()
        if helpers:
            self._pool = ThreadPoolExecutor(helpers, thread_name_prefix="blocks")
            started = threading.Barrier(helpers)  # each waiting task holds a new thread
            for future in [self._pool.submit(started.wait) for _ in range(helpers)]:
                future.result()
            self.helpers = helpers

    def close(self) -> None:
        """End the helpers."""
        if self._pool is not None:
            self._pool.shutdown()
        self._pool, self.helpers = None, 0

    def for_each_block(
        self, work: Callable[[Block], object], blocks: Sequence[Block], workers: int
    ) -> None:
        """:func:`for_each_block` on the calling thread and these helpers."""
        threads = min(workers, len(blocks))
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

        if threads <= 1:
            drain()
            return
        self.ensure(threads)
        assert self._pool is not None
        modes = _get_current_function_mode_stack()
        with intra_op_threads(1):
            futures = [self._pool.submit(_entered, modes, drain) for _ in range(threads - 1)]
            try:
                drain()
            finally:
                for future in futures:
                    future.exception()  # every helper has stopped before this returns
            for future in futures:
                future.result()


def _entered(modes: Sequence[Any], fn: Callable[[], None]) -> None:
    with function_modes(modes):
        fn()


def for_each_block(
    work: Callable[[Block], object],
    blocks: Sequence[Block],
    workers: int,
    threads: BlockThreads | None = None,
) -> None:
    """Call ``work(block)`` for every block, on ``workers`` threads (in order on one).

    The calling thread and ``workers - 1`` helpers (``threads``' own, else started for this
    call) each take the next block left until none is, without autograd (grad mode is per
    thread) and under the calling thread's torch function modes. What a call returns (the
    block's pixels) is held until the same thread's next call has returned: the freed
    temporaries of a block then lie below a live allocation, and glibc reuses them for the
    next block instead of trimming them off the heap top and faulting them in again (several
    times fewer page faults per render at 4096²). The first exception raised stops the
    other threads after their current block and is raised here.
    """
    if threads is not None:
        threads.for_each_block(work, blocks, workers)
        return
    own = BlockThreads(min(workers, len(blocks)))
    try:
        own.for_each_block(work, blocks, workers)
    finally:
        own.close()
