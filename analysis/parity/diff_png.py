"""The difference map ``image - reference`` as a PNG (blue below, white equal, red above).

Full size (:func:`write_diff_png`, ``farm parity --diff-png``) or reduced for a bundle and
its report (:func:`diff_preview_png`): at most ``max_side`` pixels a side, each pixel the
block's difference of largest magnitude, so a single bad pixel still shows.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from analysis.parity.arrays import as_image


def diff_rgb(image: Any, reference: Any) -> np.ndarray:
    """Diverging colour map of ``image - reference``: blue < 0, white 0, red > 0.

    Scaled symmetrically to the largest finite absolute difference; non-finite pixels are
    drawn black. Returns uint8 ``[spixels, fpixels, 3]``.
    """
    d = as_image(image, "image") - as_image(reference, "reference")
    finite = np.isfinite(d)
    m = float(np.max(np.abs(d[finite]))) if finite.any() else 0.0
    t = np.clip(np.where(finite, d, 0.0) / m, -1.0, 1.0) if m > 0 else np.zeros_like(d)
    pos, neg = np.clip(t, 0, 1), np.clip(-t, 0, 1)
    rgb = np.stack([1.0 - neg, 1.0 - pos - neg, 1.0 - pos], axis=-1)
    rgb[~finite] = 0.0
    return np.round(rgb * 255.0).astype(np.uint8)


#: Longest side of a reduced difference image, in pixels.
PREVIEW_SIDE = 512


def reduce_difference(image: Any, reference: Any, max_side: int = PREVIEW_SIDE) -> np.ndarray:
    """``image - reference`` reduced by an integer factor to at most ``max_side`` a side.

    Each output pixel holds the largest-magnitude difference of its block; a block with a
    non-finite pixel is NaN. Returns float64 ``[ceil(S/f), ceil(F/f)]``.
    """
    d = as_image(image, "image") - as_image(reference, "reference")
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


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an 8-bit RGB ``[height, width, 3]`` array as a PNG file."""
    out = Path(path)
    out.write_bytes(png_bytes(rgb))
    return out


def diff_preview_png(image: Any, reference: Any, max_side: int = PREVIEW_SIDE) -> bytes:
    """The reduced difference image of ``image - reference`` as PNG bytes."""
    d = reduce_difference(image, reference, max_side)
    return png_bytes(diff_rgb(d, np.zeros_like(d)))


def write_diff_png(path: str | Path, image: Any, reference: Any) -> Path:
    """Write the difference map of ``image - reference`` to ``path`` as a PNG."""
    return write_png(path, diff_rgb(image, reference))
