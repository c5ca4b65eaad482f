"""Rotation matrices in nanoBragg's conventions (right-handed, active, radians)."""

from __future__ import annotations

import math

import numpy as np


def rotation_xyz(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation about lab x, then y, then z: ``Rz @ Ry @ Rx`` (3, 3)."""
    cx, sx = math.cos(rx), math.sin(rx)
    cy, sy = math.cos(ry), math.sin(ry)
    cz, sz = math.cos(rz), math.sin(rz)
    rot_x = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    rot_y = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rot_z = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    return rot_z @ rot_y @ rot_x


def rotation_axis(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation by ``angle`` about the unit vector ``axis`` (Rodrigues), (3, 3)."""
    x, y, z = (float(v) for v in axis)
    c, s = math.cos(angle), math.sin(angle)
    t = 1.0 - c
    return np.array(
        [
            [c + t * x * x, t * x * y - s * z, t * x * z + s * y],
            [t * x * y + s * z, c + t * y * y, t * y * z - s * x],
            [t * x * z - s * y, t * y * z + s * x, c + t * z * z],
        ]
    )


def unit(vector: np.ndarray) -> np.ndarray:
    """``vector / |vector|``; the zero vector stays zero (as in nanoBragg)."""
    v = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(v))
    return v / norm if norm != 0.0 else np.zeros(3)


def rotate_xyz_like_c(v: np.ndarray, rx: float, ry: float, rz: float) -> np.ndarray:
    """``v`` rotated about x, then y, then z, with nanoBragg's ``rotate`` arithmetic.

    The same rotation as ``rotation_xyz(rx, ry, rz) @ v``, computed one axis at a time, in
    the C program's operation order, and skipping an axis whose angle is 0: so the result
    is bit-identical to the C program's. Where a cell length is an exact multiple of a
    crystal size, ``ceil(size/|a|)`` depends on those last bits (shape (3,), radians).
    """
    x, y, z = (float(c) for c in v)
    if rx != 0:
        c, s = math.cos(rx), math.sin(rx)
        x, y, z = x, y * c + z * -s, y * s + z * c
    if ry != 0:
        c, s = math.cos(ry), math.sin(ry)
        x, y, z = x * c + y * 0.0 + z * s, y, x * -s + y * 0.0 + z * c
    if rz != 0:
        c, s = math.cos(rz), math.sin(rz)
        x, y, z = x * c + y * -s, x * s + y * c, z
    return np.array([x, y, z])
