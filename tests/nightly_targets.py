"""A target whose cost and parity are set from outside: ``python:nightly_targets:scaled``.

Each render renders the simulator's image (so the built-in reference gives a real
correlation), waits ``WAIT_S x work`` seconds, and adds a fixed pattern of relative size
``parity``:

* ``FARM_TEST_WORK`` (default 1) multiplies its work: 1.5 makes every render 1.5x dearer;
* ``FARM_TEST_PARITY`` (default 0) is the pattern's size relative to the image's spread.

The work is a wait (as a render waiting on a device would), not arithmetic: on a 2-core
machine that other jobs load to 5-10 runnable threads, a computed 30 ms render was measured
at 56 ms in an identical rerun seconds later, while a wait keeps its length within a
millisecond or two. The verdicts of the tests then do not depend on the machine's load;
the real engine's false-alarm rate is measured by ``benchmarks/nightly_false_alarms.py``.

A long-lived Ray (the test session's) keeps its workers' environment from its start, so
``FARM_TEST_KNOBS`` may instead name a JSON file ``{"work": 1.5, "parity": 0.01}`` that the
target reads when a cell starts; the tests change that file between sweeps. There,
``"work_dtype": "float64"`` (or ``parity_dtype``) limits a knob to the cells of one dtype.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: Seconds one render waits at work = 1.
WAIT_S = 0.02


def knobs(dtype: str) -> dict[str, float]:
    """``work`` and ``parity`` of a cell of ``dtype`` (see the module docstring)."""
    out = {
        "work": float(os.environ.get("FARM_TEST_WORK", "1") or 1),
        "parity": float(os.environ.get("FARM_TEST_PARITY", "0") or 0),
    }
    path = os.environ.get("FARM_TEST_KNOBS")
    if path and Path(path).is_file():
        data = json.loads(Path(path).read_text())
        for name in ("work", "parity"):
            if name in data and data.get(f"{name}_dtype", dtype) == dtype:
                out[name] = float(data[name])
    return out


def scaled(size: int, device: str, dtype: str, params: dict[str, Any]):
    """The simulator's render, a wait of ``WAIT_S x work``, a pattern of size ``parity``."""
    import time

    import torch

    from simulator.target import factory

    k = knobs(dtype)
    render = factory(size, device, dtype, params)
    wait = WAIT_S * k["work"]
    pattern = None
    if k["parity"]:
        ax = torch.arange(size, dtype=getattr(torch, dtype), device=device)
        pattern = torch.sin(ax[:, None] * 0.7) * torch.cos(ax[None, :] * 1.3)

    def run() -> torch.Tensor:
        image = render()
        time.sleep(wait)
        if pattern is not None:
            image = image + k["parity"] * image.std() * pattern
        return image

    return run
