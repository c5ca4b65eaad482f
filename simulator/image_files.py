"""Image files: raw float32, SMV (ADSC) integer images, 8-bit PGM previews.

All images are ``[slow, fast]`` arrays, written with the fast index varying fastest.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SMV_HEADER_BYTES = 512
INTFILE_AUTOSCALE_MAX = 55000.0  # the brightest pixel of an auto-scaled intfile


class ImageFileError(ValueError):
    """An image file cannot be read or is not what it claims to be."""


def write_floatfile(path: str | Path, image: np.ndarray) -> None:
    """Raw 4-byte native floats, fast index fastest (nanoBragg's ``-floatfile``)."""
    np.ascontiguousarray(image, dtype=np.float32).tofile(path)


def read_floatfile(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """Read a raw float32 image of ``shape`` = (spixels, fpixels).

    Raises:
        ImageFileError: the file is missing or holds fewer than ``spixels*fpixels`` floats.
    """
    path = Path(path)
    if not path.exists():
        raise ImageFileError(f"{path}: no such float image")
    data = np.fromfile(path, dtype=np.float32)
    expected = shape[0] * shape[1]
    if data.size < expected:
        raise ImageFileError(
            f"{path}: truncated float image ({data.size} of {expected} floats, "
            f"{path.stat().st_size} bytes)"
        )
    return data[:expected].reshape(shape)


def byte_order() -> str:
    """SMV's name for this machine's byte order."""
    return "little_endian" if sys.byteorder == "little" else "big_endian"


def encode_smv_header(values: dict[str, object]) -> bytes:
    r"""A 512-byte SMV header ``{\\nKEY=value;\\n…}\\f`` padded with spaces."""
    lines = ["{", f"HEADER_BYTES={SMV_HEADER_BYTES};", "DIM=2;", f"BYTE_ORDER={byte_order()};"]
    lines.append("TYPE=unsigned_short;")
    lines += [f"{key}={value};" for key, value in values.items()]
    text = ("\n".join(lines) + "\n}\f").encode("ascii")
    if len(text) > SMV_HEADER_BYTES:
        raise ImageFileError(f"SMV header of {len(text)} bytes exceeds {SMV_HEADER_BYTES}")
    return text.ljust(SMV_HEADER_BYTES, b" ")


def write_smv(path: str | Path, pixels: np.ndarray, header: dict[str, object]) -> None:
    """Write unsigned 16-bit pixels ``[slow, fast]`` behind an SMV header.

    ``SIZE1`` (fast) and ``SIZE2`` (slow) come from the array's shape.
    """
    data = np.ascontiguousarray(pixels, dtype=np.uint16)
    values = {"SIZE1": data.shape[1], "SIZE2": data.shape[0], **header}
    with open(path, "wb") as handle:
        handle.write(encode_smv_header(values))
        handle.write(data.tobytes())


def parse_smv_header(raw: bytes) -> dict[str, str]:
    """``KEY=value`` pairs of an SMV header (values as text)."""
    text = raw.split(b"}", 1)[0].decode("ascii", errors="replace")
    values = {}
    for entry in text.replace("\n", ";").split(";"):
        if "=" in entry:
            key, value = entry.split("=", 1)
            values[key.strip().lstrip("{").strip()] = value.strip()
    return values


def read_smv(path: str | Path) -> tuple[dict[str, str], np.ndarray]:
    """Read an SMV image: (header values, uint16 pixels [SIZE2, SIZE1]).

    Raises:
        ImageFileError: unreadable, no SMV header, or fewer pixels than the header says.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImageFileError(f"{path}: cannot read: {exc.strerror}") from None
    if not raw.startswith(b"{"):
        raise ImageFileError(f"{path}: not an SMV image (no '{{' header)")
    header = parse_smv_header(raw[:8192])
    try:
        size = int(header.get("HEADER_BYTES", SMV_HEADER_BYTES))
        fast, slow = int(header["SIZE1"]), int(header["SIZE2"])
    except (KeyError, ValueError):
        raise ImageFileError(f"{path}: SMV header lacks HEADER_BYTES/SIZE1/SIZE2") from None
    order = ">" if header.get("BYTE_ORDER", "little_endian").startswith("big") else "<"
    data = np.frombuffer(raw, dtype=f"{order}u2", offset=size)
    if data.size < fast * slow:
        raise ImageFileError(f"{path}: truncated SMV image ({data.size} of {fast * slow} pixels)")
    return header, data[: fast * slow].reshape(slow, fast).astype(np.uint16)


def to_intfile(
    image: np.ndarray,
    scale: float,
    adc: float,
    roi: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """nanoBragg's noiseless intfile: ``floorf(clip(image·scale + adc, 0, 65535) + 0.5)``.

    As in the C program, the sum is taken in double and rounded to float by ``floorf``, and
    pixels outside the inclusive ``roi`` ``(xmin, xmax, ymin, ymax)`` (fast, slow) are 0, not
    ``adc``. Shapes: ``image [slow, fast]`` in, uint16 of the same shape out.
    """
    value = np.clip(image.astype(np.float64) * scale + adc, 0.0, 65535.0)
    out = np.floor((value + 0.5).astype(np.float32)).astype(np.uint16)
    if roi is not None:
        x0, x1, y0, y1 = roi
        inside = np.zeros(out.shape, dtype=bool)
        inside[max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1] = True
        out[~inside] = 0
    return out


def write_pgm(path: str | Path, image: np.ndarray, scale: float) -> None:
    """8-bit binary PGM (P5): ``min(image·scale, 255)`` truncated to integers."""
    data = np.clip(image.astype(np.float64) * scale, 0.0, 255.0).astype(np.uint8)
    head = f"P5\n{data.shape[1]} {data.shape[0]}\n# pixels scaled by {scale:g}\n255\n"
    with open(path, "wb") as handle:
        handle.write(head.encode("ascii"))
        handle.write(data.tobytes())
