"""The curved detector of ``-curved_det``: every pixel at ``distance`` from the sample.

nanoBragg first places a (sub)pixel on the flat detector, ``P = pix0 + Fdet·f + Sdet·s +
Odet·o`` (m), and then treats the lab y and z components of ``P`` as arc lengths on a sphere
of radius ``distance`` about the sample: the point ``distance·b`` (b the beam direction) is
rotated about the slow axis s by ``P_y/distance`` and then about the fast axis f by
``P_z/distance`` (radians)::

    P_curved = R(f, P_z/d) · R(s, P_y/d) · (d·b)

with ``R(u, θ)v = v cosθ + (u × v) sinθ + u (u·v)(1 − cosθ)``. Rotations keep lengths, so
``|P_curved| = d`` for every pixel, sub-pixel and sensor layer.
"""

from __future__ import annotations

import torch


def rotate_about(vectors: torch.Tensor, axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues rotation of ``vectors`` about the unit ``axis`` by ``angle`` (rad).

    Args:
        vectors: ``[3, N]`` (or ``[3]``, broadcast against ``angle``).
        axis: ``[3]`` unit vector.
        angle: ``[N]`` angles, radians.

    Returns:
        ``[3, N]`` rotated vectors, same units as ``vectors``.
    """
    if vectors.dim() == 1:
        vectors = vectors[:, None].expand(3, angle.shape[0])
    cos, sin = torch.cos(angle), torch.sin(angle)
    u = axis[:, None]
    along = (u * vectors).sum(0) * (1.0 - cos)
    cross = torch.linalg.cross(u.expand_as(vectors), vectors, dim=0)
    return u * along + vectors * cos + cross * sin


def curved_positions(
    flat_y: torch.Tensor,
    flat_z: torch.Tensor,
    distance: float,
    beam: torch.Tensor,
    sdet: torch.Tensor,
    fdet: torch.Tensor,
) -> torch.Tensor:
    """Positions on the curved detector from the flat positions' lab y and z.

    Args:
        flat_y: ``[N]`` lab y of the flat-detector positions (m).
        flat_z: ``[N]`` lab z of the flat-detector positions (m).
        distance: sample-to-detector distance d (m), along the beam.
        beam: ``[3]`` unit beam direction b.
        sdet: ``[3]`` unit slow axis s.
        fdet: ``[3]`` unit fast axis f.

    Returns:
        ``[3, N]`` positions (m), each at distance d from the sample.
    """
    start = beam * distance
    after_slow = rotate_about(start, sdet, flat_y / distance)
    return rotate_about(after_slow, fdet, flat_z / distance)
