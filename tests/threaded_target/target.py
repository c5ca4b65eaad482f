"""Blocks of known relative cost rendered on several threads, as the simulator's CPU engine does.

``render()`` hands ``blocks`` blocks to :func:`simulator.cpu_threads.for_each_block` on
``workers`` threads (the calling one and helpers started when the target is built). Every
unit of work is one ``size x size`` matmul added into the block; a block runs

- ``heavy`` units in a loop (``# heavy``), and
- ``light`` units on one line (``# light``),

so the heavy loop's true share of the two is ``heavy / (heavy + light)`` (default 75 %).
The first block of each thread waits for the others' (a barrier), so every thread renders
blocks however late the machine wakes it.
Each thread notes its own busy time per part (``perf_counter``), per render: the
independent truth the profile's shares are checked against.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import torch

from simulator.cpu_threads import BlockThreads, for_each_block

DEFAULTS = {"size": 96, "blocks": 24, "heavy": 3, "light": 1, "workers": 2}


class Render:
    """The warm render; :attr:`busy` holds, per render, each thread's seconds per part."""

    def __init__(self, size: int, dtype: str, params: dict[str, Any]) -> None:
        p = {**DEFAULTS, **{k: int(v) for k, v in params.items() if k in DEFAULTS}}
        self.p = p
        gen = torch.Generator().manual_seed(0)
        self.x = torch.rand(size, size, generator=gen, dtype=getattr(torch, dtype)) / size
        self.threads = BlockThreads(p["workers"])
        self.started = threading.Barrier(p["workers"])
        self.busy: list[dict[tuple[int, str], float]] = []

    def block(self, index: int) -> torch.Tensor:
        if index < self.p["workers"]:
            self.started.wait(timeout=30)
        x = self.x
        acc = torch.zeros_like(x)
        start = time.perf_counter()
        for _ in range(self.p["heavy"]):  # heavy
            acc.add_(x @ x)
        middle = time.perf_counter()
        _ = [acc.add_(x @ x) for _ in range(self.p["light"])]  # light
        end, me = time.perf_counter(), threading.get_ident()
        self.busy[-1][(me, "heavy")] += middle - start
        self.busy[-1][(me, "light")] += end - middle
        return acc

    def __call__(self) -> None:
        self.busy.append(defaultdict(float))
        for_each_block(self.block, range(self.p["blocks"]), self.p["workers"], self.threads)


def factory(size: int, device: str, dtype: str, params: dict[str, Any]) -> Render:
    """Grid factory (CPU only): ``params`` may set ``blocks``, ``heavy``, ``light``, ``workers``."""
    return Render(size, dtype, params)
