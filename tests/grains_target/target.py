"""A target with known grains: set-up recomputed per render, a compiled region, eager lines.

``render()`` does, in this order:

1. ``_orientation(params["steps"])``: set-up that does not depend on the image (a Python
   loop of small operators building a rotation), recomputed on every render;
2. ``physics(q, rot)``: a ``torch.compile``d region (``params["backend"]``, default
   ``inductor``), called from one line of ``render``;
3. two eager lines: a normalisation and a solid-angle factor.

The grain tests check that each is found where it is, with the share the trace gives it.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def _orientation(steps: int, dtype: torch.dtype) -> torch.Tensor:
    """A rotation built from ``steps`` small rotations (tiny operators in a Python loop)."""
    rot = torch.eye(3, dtype=dtype)
    for k in range(steps):
        angle = torch.tensor(0.01 * (k + 1), dtype=dtype)
        c, s = torch.cos(angle), torch.sin(angle)
        step = torch.stack([torch.stack([c, -s, 0 * c]), torch.stack([s, c, 0 * c])])
        step = torch.cat([step, torch.tensor([[0.0, 0.0, 1.0]], dtype=dtype)])
        rot = rot @ step
    return rot


def _physics(q: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Lattice factor of a small crystal at every pixel (fused by torch.compile)."""
    h = q @ rot.T
    f = torch.sin(5 * math.pi * h) / (torch.sin(math.pi * h) + 1e-3)
    return (f * f).prod(dim=-1)


def factory(size: int, device: str, dtype: str, params: dict[str, Any]):
    """Grid factory: ``params`` may set ``steps`` (set-up loop length) and ``backend``."""
    tdtype = getattr(torch, dtype)
    steps = int(params.get("steps", 40))
    axis = torch.linspace(-2.0, 2.0, size, dtype=tdtype, device=device)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    q = torch.stack([xx, yy, torch.full_like(xx, 0.5)], dim=-1)
    r2 = xx * xx + yy * yy + 1.0
    physics = torch.compile(_physics, backend=str(params.get("backend", "inductor")))

    def render() -> torch.Tensor:
        rot = _orientation(steps, tdtype).to(device)
        img = physics(q, rot)
        img = img / img.max()
        img = img * torch.rsqrt(r2) ** 3
        return img

    return render
