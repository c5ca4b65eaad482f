"""Detector geometry: convention, pivot, rotations and the origin of pixel (0, 0).

Follows nanoBragg's own sequence: size the detector, take beam-centre defaults, let the
convention set its vectors and (except CUSTOM) its pivot, rotate, place ``pix0`` about the
chosen pivot, then re-derive the beam centre, close distance and XDS/DIALS origins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.config import DetectorConfig
from simulator.rotation import rotation_axis, rotation_xyz, unit

# CUSTOM starts from these (nanoBragg's initial values), MOSFLM-like axes.
_DEFAULTS = {
    "beam": (1.0, 0.0, 0.0),
    "fdet": (0.0, 0.0, 1.0),
    "sdet": (0.0, -1.0, 0.0),
    "odet": (1.0, 0.0, 0.0),
    "polar": (0.0, 0.0, 1.0),
    "spindle": (0.0, 0.0, 1.0),
    "twotheta": (0.0, 1.0, 0.0),
}

# beam, fdet, sdet, odet, two-theta axis, polarisation, spindle
_CONVENTION_AXES = {
    "mosflm": ((1, 0, 0), (0, 0, 1), (0, -1, 0), (1, 0, 0), (0, 0, -1), (0, 0, 1), (0, 0, 1)),
    "denzo": ((1, 0, 0), (0, 0, 1), (0, -1, 0), (1, 0, 0), (0, 0, -1), (0, 0, 1), (0, 0, 1)),
    "adxv": ((0, 0, 1), (1, 0, 0), (0, -1, 0), (0, 0, 1), (-1, 0, 0), (1, 0, 0), (1, 0, 0)),
    "xds": ((0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 0), (1, 0, 0), (1, 0, 0)),
    "dials": ((0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 0), (0, 1, 0), (0, 1, 0)),
}
_CONVENTION_PIVOT = {
    "mosflm": "beam",
    "denzo": "beam",
    "adxv": "beam",
    "xds": "sample",
    "dials": "sample",
}


@dataclass(frozen=True)
class DetectorGeometry:
    """The resolved detector (metres, unit vectors in the lab frame)."""

    fpixels: int
    spixels: int
    pixel_size: float
    detsize_f: float
    detsize_s: float
    convention: str
    pivot: str
    beam: np.ndarray
    fdet: np.ndarray
    sdet: np.ndarray
    odet: np.ndarray
    polar: np.ndarray
    spindle: np.ndarray
    pix0: np.ndarray
    distance: float
    close_distance: float
    xbeam: float  # header beam centre (convention's own axes), m
    ybeam: float
    fbeam: float  # direct-beam position along fast/slow from pix0, m
    sbeam: float
    fclose: float
    sclose: float
    orgx: float
    orgy: float
    dials_origin: np.ndarray  # mm
    twotheta: float  # rad


def _nan(value: float | None, scale: float = 1.0) -> float:
    return math.nan if value is None else value * scale


def detector_geometry(
    cfg: DetectorConfig, header: dict[str, float] | None = None
) -> DetectorGeometry:
    """Resolve ``cfg`` the way nanoBragg does.

    Args:
        cfg: the detector as the flags asked for it.
        header: values read from a ``-mask`` image header (SIZE1, SIZE2, PIXEL_SIZE,
            DISTANCE, CLOSE_DISTANCE, BEAM_CENTER_X/Y, ORGX/Y); flags override them.
    """
    header = header or {}
    pixel = (cfg.pixel_mm if cfg.pixel_mm is not None else header.get("PIXEL_SIZE", 0.1)) / 1000.0
    fpixels = cfg.fpixels or int(header.get("SIZE1", 0))
    spixels = cfg.spixels or int(header.get("SIZE2", 0))
    detsize_f = _nan(cfg.detsize_f_mm, 1e-3)
    detsize_s = _nan(cfg.detsize_s_mm, 1e-3)
    if math.isnan(detsize_f):
        detsize_f = 102.4e-3
    if math.isnan(detsize_s):
        detsize_s = 102.4e-3
    if fpixels:
        detsize_f = pixel * fpixels
    if spixels:
        detsize_s = pixel * spixels
    fpixels = math.ceil(detsize_f / pixel - 0.5)
    spixels = math.ceil(detsize_s / pixel - 0.5)

    distance = _nan(cfg.distance_mm, 1e-3)
    if math.isnan(distance):
        distance = header.get("DISTANCE", 100.0) / 1000.0
    close_distance = _nan(cfg.close_distance_mm, 1e-3)
    if math.isnan(close_distance) and "CLOSE_DISTANCE" in header:
        close_distance = header["CLOSE_DISTANCE"] / 1000.0
    xbeam = _nan(cfg.xbeam_mm, 1e-3)
    ybeam = _nan(cfg.ybeam_mm, 1e-3)
    if math.isnan(xbeam) and "BEAM_CENTER_X" in header:
        xbeam = header["BEAM_CENTER_X"] / 1000.0
    if math.isnan(ybeam) and "BEAM_CENTER_Y" in header:
        ybeam = detsize_s - header["BEAM_CENTER_Y"] / 1000.0
    xclose = _nan(cfg.xclose_mm, 1e-3)
    yclose = _nan(cfg.yclose_mm, 1e-3)
    orgx = cfg.orgx if cfg.orgx is not None else header.get("ORGX", math.nan)
    orgy = cfg.orgy if cfg.orgy is not None else header.get("ORGY", math.nan)

    fclose = (orgx - 0.5) * pixel if not math.isnan(orgx) else detsize_f / 2.0
    sclose = (orgy - 0.5) * pixel if not math.isnan(orgy) else detsize_s / 2.0
    if math.isnan(xclose):
        xclose = fclose
    if math.isnan(yclose):
        yclose = sclose
    fbeam, sbeam = fclose, sclose

    vec = {
        "beam": cfg.beam_vector or _DEFAULTS["beam"],
        "fdet": cfg.fdet_vector or _DEFAULTS["fdet"],
        "sdet": cfg.sdet_vector or _DEFAULTS["sdet"],
        "odet": cfg.odet_vector or _DEFAULTS["odet"],
        "polar": cfg.polar_vector or _DEFAULTS["polar"],
        "spindle": cfg.spindle_axis or _DEFAULTS["spindle"],
        "twotheta": cfg.twotheta_axis or _DEFAULTS["twotheta"],
    }
    pivot = cfg.pivot or "beam"
    convention = cfg.convention
    if convention in _CONVENTION_AXES:
        axes = _CONVENTION_AXES[convention]
        for key, value in zip(
            ("beam", "fdet", "sdet", "odet", "twotheta", "polar", "spindle"), axes, strict=True
        ):
            vec[key] = value
        pivot = _CONVENTION_PIVOT[convention]
    if convention in ("mosflm", "denzo"):
        if math.isnan(xbeam):
            xbeam = (detsize_s + pixel) / 2.0
        if math.isnan(ybeam):
            ybeam = (detsize_f + pixel) / 2.0
        offset = 0.5 * pixel if convention == "mosflm" else 0.0
        fbeam, sbeam = ybeam + offset, xbeam + offset
    elif convention == "adxv":
        if math.isnan(xbeam):
            xbeam = (detsize_f + pixel) / 2.0
        if math.isnan(ybeam):
            ybeam = (detsize_s - pixel) / 2.0
        fbeam, sbeam = xbeam, detsize_s - ybeam
    else:  # xds, dials, custom
        if math.isnan(xbeam):
            xbeam = xclose
        if math.isnan(ybeam):
            ybeam = yclose
        fbeam, sbeam = xbeam, ybeam
        if convention == "custom":
            fclose, sclose = xbeam, ybeam

    beam = unit(np.array(vec["beam"], dtype=float))
    fdet = unit(np.array(vec["fdet"], dtype=float))
    sdet = unit(np.array(vec["sdet"], dtype=float))
    odet_raw = np.array(vec["odet"], dtype=float)
    odet = unit(odet_raw)
    if float(np.linalg.norm(odet_raw)) != 1.0:  # nanoBragg regenerates a non-unit normal
        odet = unit(np.cross(fdet, sdet))
    polar = unit(np.array(vec["polar"], dtype=float))
    spindle = unit(np.array(vec["spindle"], dtype=float))
    twotheta_axis = np.array(vec["twotheta"], dtype=float)
    twotheta = math.radians(cfg.twotheta_deg)

    det_rot = rotation_xyz(
        math.radians(cfg.rotx_deg), math.radians(cfg.roty_deg), math.radians(cfg.rotz_deg)
    )
    ratio = float(np.dot(beam, det_rot @ odet))
    if ratio == 0.0:
        ratio = np.finfo(float).tiny
    if math.isnan(close_distance):
        close_distance = abs(ratio * distance)
    distance = close_distance / ratio

    swing = rotation_axis(twotheta_axis, twotheta) @ det_rot
    if pivot == "sample":
        pix0 = swing @ (-fclose * fdet - sclose * sdet + close_distance * odet)
    fdet, sdet, odet = swing @ fdet, swing @ sdet, swing @ odet
    if pivot == "beam":
        pix0 = -fbeam * fdet - sbeam * sdet + distance * beam

    fclose = -float(np.dot(pix0, fdet))
    sclose = -float(np.dot(pix0, sdet))
    close_distance = float(np.dot(pix0, odet))
    hit = close_distance / ratio * beam - pix0
    fbeam = float(np.dot(fdet, hit))
    sbeam = float(np.dot(sdet, hit))
    distance = close_distance / ratio
    dials_origin = 1000.0 * np.array([pix0[2], pix0[1], -pix0[0]])
    return DetectorGeometry(
        fpixels=fpixels,
        spixels=spixels,
        pixel_size=pixel,
        detsize_f=detsize_f,
        detsize_s=detsize_s,
        convention=convention,
        pivot=pivot,
        beam=beam,
        fdet=fdet,
        sdet=sdet,
        odet=odet,
        polar=polar,
        spindle=spindle,
        pix0=pix0,
        distance=distance,
        close_distance=close_distance,
        xbeam=xbeam,
        ybeam=ybeam,
        fbeam=fbeam,
        sbeam=sbeam,
        fclose=fclose,
        sclose=sclose,
        orgx=fclose / pixel + 0.5,
        orgy=sclose / pixel + 0.5,
        dials_origin=dials_origin,
        twotheta=twotheta,
    )
