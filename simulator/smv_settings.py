"""Detector settings from an SMV (ADSC) header, read the way nanoBragg reads ``-mask`` and ``-img``.

nanoBragg opens the ``-mask`` file, then the ``-img`` file, before it reads any other flag,
takes a few header keys of each as the initial values of its settings, and then lets every
flag override them:

=================  ======================================  ===========================
key                sets                                    flag that overrides it
=================  ======================================  ===========================
SIZE1, SIZE2       pixels along fast and slow              ``-detpixels…``
PIXEL_SIZE         pixel size (mm)                         ``-pixel``
DISTANCE           distance (mm; the pivot is not moved)   ``-distance``
CLOSE_DISTANCE     close distance (mm)                     ``-close_distance``
WAVELENGTH         wavelength (Å)                          ``-lambda``, ``-energy``
BEAM_CENTER_X/Y    Xbeam, Ybeam (mm)                       ``-Xbeam``, ``-Ybeam``
ORGX, ORGY         XDS origin (pixels)                     ``-ORGX``, ``-ORGY``
PHI, OSC_RANGE     φ start and range (deg)                 ``-phi``, ``-osc``
=================  ======================================  ===========================

Its key lookup is a substring search that takes the *last* occurrence of the key in the
header and reads the number after the next ``=``: so ``DISTANCE`` finds ``CLOSE_DISTANCE``
when that comes later (as in nanoBragg's own headers), and ``ORGX`` finds ``XDS_ORGX``.
``TWOTHETA`` is read into a variable the detector never uses, so it changes nothing. A
``-mask`` header is read first, so ``-img`` wins where both give a key. One key differs
between them: a mask's ``BEAM_CENTER_Y`` is counted from the other edge, ``Ybeam = detsize_s
- value``, with ``detsize_s`` the mask's pixel size (0.1 mm when its header has none) times
its rows.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

_SMV_START = b"{\nHEADER_BYTES="
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")

#: header key -> (config section, field, factor): the value nanoBragg takes from it.
IMG_KEYS: tuple[tuple[str, str, str], ...] = (
    ("PIXEL_SIZE", "detector", "pixel_mm"),
    ("DISTANCE", "detector", "distance_mm"),
    ("CLOSE_DISTANCE", "detector", "close_distance_mm"),
    ("WAVELENGTH", "beam", "wavelength_A"),
    ("BEAM_CENTER_X", "detector", "xbeam_mm"),
    ("BEAM_CENTER_Y", "detector", "ybeam_mm"),
    ("ORGX", "detector", "orgx"),
    ("ORGY", "detector", "orgy"),
    ("PHI", "crystal", "phi0_deg"),
    ("OSC_RANGE", "crystal", "osc_deg"),
)


class SMVHeaderError(ValueError):
    """The ``-img`` file cannot be read as an SMV image."""


def c_atof(text: str) -> float:
    """C's ``atof``: the longest leading number, 0 when there is none."""
    match = _NUMBER.match(text)
    return float(match.group(0)) if match else 0.0


def header_value(header: str, key: str) -> float:
    """nanoBragg's ``ValueOf``: the number after the last occurrence of ``key``.

    Returns NaN when ``key`` does not occur, 0 when no ``=`` follows it.
    """
    at = header.rfind(key)
    if at < 0:
        return math.nan
    rest = header[at + len(key) :]
    equals = rest.find("=")
    if equals < 0:
        return 0.0
    return c_atof(rest[equals + 1 :])


def read_header(path: str | Path) -> str:
    """The header text of an SMV file (``HEADER_BYTES`` long, 512 by default).

    Raises:
        SMVHeaderError: unreadable, or not an SMV image.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SMVHeaderError(f"{path}: cannot read: {exc.strerror}") from None
    if not raw.startswith(_SMV_START[:12]):
        raise SMVHeaderError(f"{path}: does not look like an ADSC (SMV) image")
    text = raw[:512].decode("ascii", errors="replace")
    size = header_value(text, "HEADER_BYTES")
    if size > 512:
        text = raw[: int(size)].decode("ascii", errors="replace")
    return text


#: nanoBragg's pixel size before any flag or header sets it, mm.
DEFAULT_PIXEL_MM = 0.1


def mask_settings(path: str | Path) -> dict[str, dict[str, float | int]]:
    """The settings ``-mask path`` gives, per config section, before ``-img`` and the flags.

    The keys of :func:`img_settings`, but ``BEAM_CENTER_Y`` is taken from the far edge.

    Raises:
        SMVHeaderError: as :func:`img_settings`.
    """
    settings = img_settings(path)
    detector = settings["detector"]
    if "ybeam_mm" in detector:
        pixel_mm = float(detector.get("pixel_mm", DEFAULT_PIXEL_MM))
        detector["ybeam_mm"] = pixel_mm * int(detector["spixels"]) - float(detector["ybeam_mm"])
    return settings


def img_settings(path: str | Path) -> dict[str, dict[str, float | int]]:
    """The settings ``-img path`` gives, per config section, before any flag overrides them.

    Raises:
        SMVHeaderError: unreadable, not an SMV image, or no SIZE1/SIZE2 (nor
            DETECTOR_DIMENSIONS) to size the detector.
    """
    header = read_header(path)
    width = header_value(header, "SIZE1")
    height = header_value(header, "SIZE2")
    if not width or math.isnan(width):
        width = height = header_value(header, "DETECTOR_DIMENSIONS")
    if math.isnan(width) or math.isnan(height) or int(width) < 1 or int(height) < 1:
        raise SMVHeaderError(f"{path}: the SMV header gives no detector size (SIZE1/SIZE2)")
    settings: dict[str, dict[str, float | int]] = {
        "detector": {"fpixels": int(width), "spixels": int(height)},
        "beam": {},
        "crystal": {},
    }
    for key, section, name in IMG_KEYS:
        value = header_value(header, key)
        if not math.isnan(value):
            settings[section][name] = value
    return settings
