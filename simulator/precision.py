"""Float32 matmul precision: the engine renders with full float32 matmuls, whatever the process.

The gauss and tophat lattice shapes contract the fractional Miller indices with
``tensordot`` (a matmul). A process that allows TF32 (``set_float32_matmul_precision("high")``
or ``torch.backends.cuda.matmul.allow_tf32 = True``, as many training scripts do) rounds
those products to a 10-bit mantissa on Ampere and later GPUs and moves pixels near the
tophat edge across it. :func:`pinned_matmul_precision` sets ``"highest"`` for the duration of
a render and puts the caller's setting back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

#: What the engine renders under.
ENGINE_MATMUL_PRECISION = "highest"


@contextmanager
def pinned_matmul_precision(precision: str = ENGINE_MATMUL_PRECISION) -> Iterator[None]:
    """Run the body under ``torch.set_float32_matmul_precision(precision)``, then restore."""
    before = torch.get_float32_matmul_precision()
    if before == precision:
        yield
        return
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def precision_settings() -> dict[str, Any]:
    """The process's float32 precision settings right now (what a cell records)."""
    return {
        "matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
    }
