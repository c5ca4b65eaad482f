"""A :class:`SimulationConfig` back to nanoBragg flags, ordered so the C program reads what we read.

The C program cross-matches some flags by substring (it also reads ``-misset_seed`` as
``-misset`` and ``-twotheta_axis`` as ``-twotheta``) and applies some in order
(``-detector_abs inf`` zeroes a thickness given before it); the order here accounts for that.
"""

from __future__ import annotations

import math
import os
from typing import Any

from simulator.config import (
    DETECTOR_VECTORS,
    BeamConfig,
    CrystalConfig,
    DetectorConfig,
    OutputConfig,
    SamplingConfig,
    SimulationConfig,
)


class _Flags(list[str]):
    """A flag list being built: values are written the way the parser reads them back."""

    def add(self, flag: str, *values: Any) -> None:
        """Append ``flag`` and its values."""
        self.append(flag)
        self.extend(_fmt(v) for v in values)

    def add_given(self, pairs: tuple[tuple[str, Any], ...]) -> None:
        """Append each ``(flag, value)`` whose value was given (is not ``None``)."""
        for flag, value in pairs:
            if value is not None:
                self.add(flag, value)


def _fmt(value: float | int) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _path(path: str) -> str:
    return os.path.abspath(path)


def to_flags(cfg: SimulationConfig, *, include_outputs: bool = False) -> list[str]:
    """Canonical nanoBragg flags for ``cfg``, ordered so the C program reads what we read.

    File paths become absolute (the C program runs in a fresh directory). Output files are
    left out unless ``include_outputs``; the caller adds its own ``-floatfile``.
    """
    out = _Flags()
    _crystal(out, cfg.crystal)
    _beam(out, cfg.beam)
    _detector_size(out, cfg.detector)
    _detector_orientation(out, cfg.detector)
    _sampling(out, cfg.sampling)
    _output(out, cfg.output, include_outputs)
    c = cfg.crystal
    if c.misset_seed is not None and not c.misset_random and c.misset_deg is None:
        out.add("-misset_seed", c.misset_seed)  # last: three tokens after it would be a misset
    return list(out)


def _crystal(out: _Flags, c: CrystalConfig) -> None:
    """Cell, structure factors, size, orientation, spot shape, mosaic and spindle."""
    if c.cell is not None:
        out.add("-cell", *c.cell)
    if c.mat_file:
        out += ["-mat", _path(c.mat_file)]
    if c.hkl_file:
        out += ["-hkl", _path(c.hkl_file)]
    out.add("-default_F", c.default_F)
    out.add("-Na", c.Na)
    out.add("-Nb", c.Nb)
    out.add("-Nc", c.Nc)
    out.add_given((("-xtal_x", c.size_a_mm), ("-xtal_y", c.size_b_mm), ("-xtal_z", c.size_c_mm)))
    misset = c.misset_random or c.misset_deg is not None
    if c.misset_seed is not None and misset:  # before -misset: C also reads it as -misset
        out.add("-misset_seed", c.misset_seed)
    if c.misset_random:
        out += ["-misset", "random"]
    elif c.misset_deg is not None:
        out.add("-misset", *c.misset_deg)
    out.append({"square": "-square_xtal", "round": "-round_xtal"}.get(c.shape, "-gauss_xtal"))
    if c.shape == "tophat":
        out[-1] = "-tophat_spots"
    out.add("-fudge", c.fudge)
    if c.interpolate is not None:
        out.append("-interpolate" if c.interpolate else "-nointerpolate")
    out.add_given((("-mosaic", c.mosaic_spread_deg), ("-mosaic_domains", c.mosaic_domains)))
    out.add("-mosaic_seed", c.mosaic_seed)
    out.add("-phi", c.phi0_deg)
    out.add_given((("-osc", c.osc_deg), ("-phistep", c.phistep_deg), ("-phisteps", c.phisteps)))


def _beam(out: _Flags, b: BeamConfig) -> None:
    """Wavelength, spectrum, divergence, sources, polarisation, fluence and background."""
    out.add("-lambda", b.wavelength_A)
    out.add_given(
        (
            ("-dispersion", b.dispersion_pct),
            ("-dispsteps", b.dispsteps),
            ("-hdivrange", b.hdivrange_mrad),
            ("-vdivrange", b.vdivrange_mrad),
            ("-hdivstep", b.hdivstep_mrad),
            ("-vdivstep", b.vdivstep_mrad),
            ("-hdivsteps", b.hdivsteps),
            ("-vdivsteps", b.vdivsteps),
            ("-fluence", b.fluence),
        )
    )
    out.append("-round_div" if b.round_div else "-square_div")
    if b.source_file:
        out += ["-sourcefile", _path(b.source_file)]
    if b.nopolar:
        out.append("-nopolar")
    else:
        out.add("-polar", b.kahn_factor)
    if b.flux:
        out.add("-flux", b.flux)
    out.add("-exposure", b.exposure_s)
    out.add("-beamsize", b.beamsize_mm)
    out.add("-water", b.water_um)


def _detector_size(out: _Flags, d: DetectorConfig) -> None:
    """Pixel size and count, then the sensor (-detector_abs before -detector_thick)."""
    out.add_given(
        (
            ("-pixel", d.pixel_mm),
            ("-detsize_f", d.detsize_f_mm),
            ("-detsize_s", d.detsize_s_mm),
            ("-detpixels_f", d.fpixels),
            ("-detpixels_s", d.spixels),
        )
    )
    if d.point_pixel:
        out.append("-point_pixel")
    if d.curved:  # never last: nanoBragg reads -curved_det only when another token follows
        out.append("-curved_det")
    # an 'inf' depth zeroes the thickness: the depth goes first
    if d.absorption_um is not None:
        out += ["-detector_abs", "inf" if math.isinf(d.absorption_um) else _fmt(d.absorption_um)]
    out.add("-detector_thick", d.thick_um)
    out.add_given((("-detector_thicksteps", d.thicksteps),))


def _detector_orientation(out: _Flags, d: DetectorConfig) -> None:
    """Custom vectors, then angles, centres, distances, the pivot, and last the convention."""
    if d.convention == "custom":
        for name in DETECTOR_VECTORS:
            value = getattr(d, name)
            if value is not None:
                out.add(f"-{name}", *value)
        if all(
            getattr(d, n) is None
            for n in ("fdet_vector", "sdet_vector", "odet_vector", "beam_vector")
        ):
            out.add("-beam_vector", 1.0, 0.0, 0.0)  # any vector flag selects the custom convention
    out.add("-detector_rotx", d.rotx_deg)
    out.add("-detector_roty", d.roty_deg)
    out.add("-detector_rotz", d.rotz_deg)
    out.add("-twotheta", d.twotheta_deg)
    out.add_given(
        (
            ("-Xbeam", d.xbeam_mm),
            ("-Ybeam", d.ybeam_mm),
            ("-Xclose", d.xclose_mm),
            ("-Yclose", d.yclose_mm),
            ("-ORGX", d.orgx),
            ("-ORGY", d.orgy),
            ("-distance", d.distance_mm),
            ("-close_distance", d.close_distance_mm),
        )
    )
    out += ["-pivot", d.pivot or "beam"]
    if d.convention != "custom":
        out.append(f"-{d.convention}")  # last: a convention settles its own pivot anyway


def _sampling(out: _Flags, s: SamplingConfig) -> None:
    """Oversampling, region of interest, mask and resolution cut."""
    out.add_given((("-oversample", s.oversample),))
    for name in ("oversample_thick", "oversample_polar", "oversample_omega"):
        if getattr(s, name):
            out.append(f"-{name}")
    if s.roi is not None:
        out.add("-roi", *s.roi)
    if s.mask_file:
        out += ["-mask", _path(s.mask_file)]
    if s.dmin_A:
        out.add("-dmin", s.dmin_A)


def _output(out: _Flags, o: OutputConfig, include_outputs: bool) -> None:
    """The noise seed; the output files and their scaling only when asked for."""
    out.add_given((("-seed", o.seed),))
    if include_outputs:
        for flag in ("floatfile", "intfile", "noisefile", "pgmfile"):
            value = getattr(o, flag)
            if value:
                out += [f"-{flag}", value]
        out.add("-scale", o.scale)
        out.add("-adc", o.adc)
