"""Loops of known relative cost, for checking time attribution.

Every unit of work is the same: one ``size x size`` matmul added into an accumulator. The
three measured loops run ``a``, ``b`` and ``c`` units per repetition (defaults 6, 3, 1, five
repetitions), so their true shares of the time of the three are 60 %, 30 % and 10 %. They are
interleaved by the ``repeat`` loop so that a pause of the process (a shared host) falls on
each loop in proportion to its time instead of on whichever loop runs at that moment:

- ``warmup``: ``warm`` units first, so that start-up effects (caches, clocks) land there;
- ``loop_a``: the work is written in the loop body;
- ``loop_b``: the loop calls :func:`_unit`, which does the work (a helper's time must be
  attributed to the loop that calls it);
- ``loop_c``: a list comprehension;
- ``nested``/``inner`` and ``countdown``: tiny ops only (nesting, while loops, iteration counts);
- ``side``: a comprehension of plain floats on a line whose torch calls are outside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

DEFAULTS = {
    "warm": 4,
    "reps": 5,
    "a": 6,
    "b": 3,
    "c": 1,
    "outer": 3,
    "inner": 4,
    "countdown": 5,
}


def _unit(acc: torch.Tensor, x: torch.Tensor) -> None:
    """One unit of work, in a helper."""
    acc.add_(x @ x)


def factory(
    size: int, device: str, dtype: str, params: dict[str, Any]
) -> Callable[[], torch.Tensor]:
    """Build the inputs (cold part); return the render callable (warm part)."""
    p = {**DEFAULTS, **{k: int(v) for k, v in (params or {}).items() if k in DEFAULTS}}
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(size, size, generator=gen, dtype=getattr(torch, dtype)) / size).to(device)

    def render() -> torch.Tensor:
        acc = torch.zeros(size, size, dtype=x.dtype, device=x.device)
        for _ in range(p["warm"]):  # warmup
            acc.add_(x @ x)
        for _ in range(p["reps"]):  # repeat
            for _ in range(p["a"]):  # loop_a
                acc.add_(x @ x)
            for _ in range(p["b"]):  # loop_b
                _unit(acc, x)
            _ = [acc.add_(x @ x) for _ in range(p["c"])]  # loop_c
        for i in range(p["outer"]):  # nested
            for j in range(p["inner"]):  # inner
                acc[i, j] += 1e-6
        n = p["countdown"]
        while n > 0:  # countdown
            acc[0, 0] -= 1e-6
            n -= 1
        acc[0, 1] += torch.tensor([float(v) for v in (1, 2)]).sum() * 0  # side
        return acc

    return render
