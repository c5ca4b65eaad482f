"""A small difference image of a failing cell, for the bundle and its report.

``image - reference`` is reduced to at most ``max_side`` pixels a side by keeping, in each
block, the difference of largest magnitude (so a single bad pixel still shows), then drawn
with :func:`analysis.parity.metrics.diff_rgb` (blue < 0, white 0, red > 0, black: not
finite) and encoded as PNG. ``farm parity --diff-png`` writes the full-resolution map.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Any

import numpy as np

from analysis.parity.metrics import _as_array, diff_rgb

#: Longest side of the preview, in pixels.
MAX_SIDE = 512


def reduce_difference(image: Any, reference: Any, max_side: int = MAX_SIDE) -> np.ndarray:
    """``image - reference`` reduced by an integer factor to at most ``max_side`` a side.

    Each output pixel holds the largest-magnitude difference of its block; a block with a
    non-finite pixel is NaN. Returns float64 ``[ceil(S/f), ceil(F/f)]``.
    """
    d = _as_array(image, "image") - _as_array(reference, "reference")
    ns, nf = d.shape
    f = max(1, math.ceil(max(ns, nf) / max_side))
    if f == 1:
        return d
    hs, hf = math.ceil(ns / f), math.ceil(nf / f)
    pad = np.zeros((hs * f, hf * f))
    pad[:ns, :nf] = d
    blocks = pad.reshape(hs, f, hf, f).transpose(0, 2, 1, 3).reshape(hs, hf, f * f)
    finite = np.isfinite(blocks)
    mag = np.where(finite, np.abs(blocks), -1.0)
    pick = np.take_along_axis(blocks, mag.argmax(axis=2)[..., None], axis=2)[..., 0]
    return np.where(finite.all(axis=2), pick, np.nan)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB ``[height, width, 3]`` array as PNG bytes (zlib + struct, no deps)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB array [h, w, 3], got shape {rgb.shape}")
    h, w, _ = rgb.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1)

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def diff_preview_png(image: Any, reference: Any, max_side: int = MAX_SIDE) -> bytes:
    """The reduced difference image of ``image - reference`` as PNG bytes."""
    d = reduce_difference(image, reference, max_side)
    return png_bytes(diff_rgb(d, np.zeros_like(d)))
