"""A target for the report tests: ``python:report_targets:with_fault``.

The simulator's own render, then a small residual loop (so the ranking has a loop of this
module to show); the float64 cells of size 64 and up then get a ramp added to the top-left
quarter of the image: their correlation fails and the tile map shows where.
"""

from __future__ import annotations

from typing import Any

import torch

from simulator.target import factory as simulator_factory


def with_fault(size: int, device: str, dtype: str, params: dict[str, Any]):
    """The simulator at ``size``; float64 at size >= 64 spoils one quarter."""
    render = simulator_factory(size, device, dtype, params)
    fault = dtype == "float64" and size >= 64
    quarter = max(size // 4, 1)

    def render_with_loop() -> torch.Tensor:
        image = render()
        for _ in range(3):  # a residual Python loop of tiny operators
            image = image * 1.0
        if fault:
            ramp = torch.linspace(0.0, 1.0, quarter, device=image.device, dtype=image.dtype)
            image[:quarter, :quarter] += image.max() * ramp[None, :]
        return image

    return render_with_loop
