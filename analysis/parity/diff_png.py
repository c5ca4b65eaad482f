"""The difference map ``image - reference`` as a PNG (blue below, white equal, red above)."""

from __future__ import annotations

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


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an 8-bit RGB ``[height, width, 3]`` array as a PNG (zlib + struct, no deps)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB array [h, w, 3], got shape {rgb.shape}")
    h, w, _ = rgb.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1)

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
    png += chunk(b"IEND", b"")
    out = Path(path)
    out.write_bytes(png)
    return out


def write_diff_png(path: str | Path, image: Any, reference: Any) -> Path:
    """Write the difference map of ``image - reference`` to ``path`` as a PNG."""
    return write_png(path, diff_rgb(image, reference))
