"""Typed simulation configuration: what the user asked for, in nanoBragg's units.

Values stay in the units of the command line (Angstrom, mm, degrees, mrad, percent, µm);
``None`` means "not given", so :func:`simulator.resolve.resolve` can apply nanoBragg's
auto-selection rules. Every dataclass validates itself at construction and raises
:class:`ConfigError` with an "expected …, got …" message. This module is plain data: reading
flags into a config and writing one back as flags is :mod:`simulator.flags`'s job
(:func:`simulator.flags.parse_flags`, :func:`simulator.flags.to_flags`,
:func:`simulator.flags.with_flags`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from simulator.setup import SHAPES

CONVENTIONS = ("mosflm", "xds", "adxv", "denzo", "dials", "custom")
#: The detector's user vectors, in the order nanoBragg documents them (each a flag ``-name``).
DETECTOR_VECTORS = (
    "fdet_vector",
    "sdet_vector",
    "odet_vector",
    "beam_vector",
    "polar_vector",
    "spindle_axis",
    "twotheta_axis",
    "pix0_vector",
)
PIVOTS = ("beam", "sample")
Vector3 = tuple[float, float, float]


class ConfigError(ValueError):
    """A configuration value is out of range or of the wrong kind."""


def _expect(ok: bool, name: str, expected: str, got: Any) -> None:
    if not ok:
        raise ConfigError(f"{name}: expected {expected}, got {got!r}")


def _finite(name: str, value: float | None, *, positive: bool = False, nonneg: bool = False):
    if value is None:
        return
    _expect(isinstance(value, int | float) and math.isfinite(value), name, "a finite number", value)
    if positive:
        _expect(value > 0, name, "a positive number", value)
    if nonneg:
        _expect(value >= 0, name, "a number >= 0", value)


def _vector(name: str, value: Vector3 | None) -> None:
    if value is None:
        return
    _expect(
        isinstance(value, tuple) and len(value) == 3 and all(math.isfinite(v) for v in value),
        name,
        "three finite numbers",
        value,
    )


def _count(name: str, value: int | None, minimum: int = 0) -> None:
    if value is None:
        return
    _expect(isinstance(value, int) and value >= minimum, name, f"an integer >= {minimum}", value)


@dataclass(frozen=True)
class CrystalConfig:
    """Unit cell, orientation, size, spot shape, structure factors, spindle and mosaic."""

    cell: tuple[float, ...] | None = None  # a b c (Å) alpha beta gamma (deg)
    mat_file: str | None = None  # MOSFLM A matrix (reciprocal vectors scaled by 1/λ)
    hkl_file: str | None = None
    default_F: float = 0.0
    Na: int = 1
    Nb: int = 1
    Nc: int = 1
    # crystal size along a, b, c (mm; -xtal_thick/-xtal_width/-xtal_height, -xtalsize…):
    # > 0 wins over Na, Nb, Nc (N = ceil(size/|a|)); None: not given
    size_a_mm: float | None = None
    size_b_mm: float | None = None
    size_c_mm: float | None = None
    misset_deg: Vector3 | None = None
    misset_random: bool = False
    misset_seed: int | None = None  # None: the noise seed, as in nanoBragg
    shape: str = "square"
    fudge: float = 1.0
    interpolate: bool | None = None  # None: automatic (nanoBragg: on when any N <= 2 with HKL)
    mosaic_spread_deg: float | None = None
    mosaic_domains: int | None = None
    mosaic_seed: int = 12345678  # nanoBragg's default seed is -12345678; we store the flag value
    phi0_deg: float = 0.0
    osc_deg: float | None = None
    phistep_deg: float | None = None
    phisteps: int | None = None

    def __post_init__(self) -> None:
        if self.cell is not None:
            _expect(
                isinstance(self.cell, tuple) and len(self.cell) == 6,
                "-cell",
                "6 numbers (a b c alpha beta gamma)",
                self.cell,
            )
            for v in self.cell:
                _finite("-cell", v)
        _finite("-default_F", self.default_F)
        for name in ("Na", "Nb", "Nc"):
            _expect(
                isinstance(getattr(self, name), int), f"-{name}", "an integer", getattr(self, name)
            )
        for name in ("size_a_mm", "size_b_mm", "size_c_mm"):
            _finite(f"crystal {name}", getattr(self, name))
        _vector("-misset", self.misset_deg)
        _expect(self.shape in SHAPES, "crystal shape", f"one of {SHAPES}", self.shape)
        _finite("-fudge", self.fudge)
        _finite("-mosaic", self.mosaic_spread_deg)
        _expect(
            self.mosaic_domains is None or isinstance(self.mosaic_domains, int),
            "-mosaic_dom",
            "an integer",
            self.mosaic_domains,
        )
        _finite("-phi", self.phi0_deg)
        _finite("-osc", self.osc_deg)
        _finite("-phistep", self.phistep_deg)
        _expect(
            self.phisteps is None or isinstance(self.phisteps, int),
            "-phisteps",
            "an integer",
            self.phisteps,
        )


@dataclass(frozen=True)
class BeamConfig:
    """Wavelength, spectrum, divergence, sources, polarisation, fluence and background."""

    wavelength_A: float = 1.0
    dispersion_pct: float | None = None
    dispsteps: int | None = None
    hdivrange_mrad: float | None = None
    vdivrange_mrad: float | None = None
    hdivstep_mrad: float | None = None
    vdivstep_mrad: float | None = None
    hdivsteps: int | None = None
    vdivsteps: int | None = None
    round_div: bool = True
    source_file: str | None = None
    kahn_factor: float = 0.0
    nopolar: bool = False
    fluence: float | None = None  # photons/m^2
    flux: float = 0.0  # photons/s
    exposure_s: float = 1.0
    beamsize_mm: float = 0.1
    water_um: float = 0.0

    def __post_init__(self) -> None:
        _finite("-lambda", self.wavelength_A, positive=True)
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and f.name != "wavelength_A":
                _finite(f.name, value)
        _finite("-water", self.water_um, nonneg=True)


@dataclass(frozen=True)
class DetectorConfig:
    """Detector size, distance, orientation, convention, beam centre and sensor."""

    pixel_mm: float | None = None  # None: 0.1 mm (or the -mask header's)
    fpixels: int | None = None
    spixels: int | None = None
    detsize_f_mm: float | None = None
    detsize_s_mm: float | None = None
    distance_mm: float | None = None
    close_distance_mm: float | None = None
    point_pixel: bool = False
    curved: bool = False  # -curved_det: every pixel at the same distance from the sample
    rotx_deg: float = 0.0
    roty_deg: float = 0.0
    rotz_deg: float = 0.0
    twotheta_deg: float = 0.0
    convention: str = "mosflm"
    pivot: str | None = None  # the pivot the flags asked for; the convention may override it
    fdet_vector: Vector3 | None = None
    sdet_vector: Vector3 | None = None
    odet_vector: Vector3 | None = None
    beam_vector: Vector3 | None = None
    polar_vector: Vector3 | None = None
    spindle_axis: Vector3 | None = None
    twotheta_axis: Vector3 | None = None
    pix0_vector: Vector3 | None = None
    xbeam_mm: float | None = None
    ybeam_mm: float | None = None
    xclose_mm: float | None = None
    yclose_mm: float | None = None
    orgx: float | None = None
    orgy: float | None = None
    absorption_um: float | None = None  # attenuation depth; None: not given; inf: off
    thick_um: float = 0.0
    thicksteps: int | None = None

    def __post_init__(self) -> None:
        _finite("-pixel", self.pixel_mm, positive=True)
        _count("-detpixels_f", self.fpixels, 1)
        _count("-detpixels_s", self.spixels, 1)
        _finite("-detsize_f", self.detsize_f_mm, positive=True)
        _finite("-detsize_s", self.detsize_s_mm, positive=True)
        _finite("-distance", self.distance_mm)
        _finite("-close_distance", self.close_distance_mm)
        _expect(
            self.convention in CONVENTIONS, "convention", f"one of {CONVENTIONS}", self.convention
        )
        _expect(
            self.pivot is None or self.pivot in PIVOTS, "-pivot", f"one of {PIVOTS}", self.pivot
        )
        for name in DETECTOR_VECTORS:
            _vector(f"-{name}", getattr(self, name))
        _finite("-detector_thick", self.thick_um, nonneg=True)
        if self.absorption_um is not None:
            _expect(
                self.absorption_um > 0,
                "-detector_abs",
                "a depth > 0 µm or 'inf'",
                self.absorption_um,
            )


@dataclass(frozen=True)
class SamplingConfig:
    """Oversampling, region of interest, mask and resolution cut."""

    oversample: int | None = None
    oversample_thick: bool = False
    oversample_polar: bool = False
    oversample_omega: bool = False
    roi: tuple[int, int, int, int] | None = None  # xmin xmax ymin ymax (inclusive)
    mask_file: str | None = None
    dmin_A: float = 0.0

    def __post_init__(self) -> None:
        _expect(
            self.oversample is None or isinstance(self.oversample, int),
            "-oversample",
            "an integer",
            self.oversample,
        )
        if self.roi is not None:
            _expect(
                len(self.roi) == 4 and all(isinstance(v, int) for v in self.roi),
                "-roi",
                "four integers xmin xmax ymin ymax",
                self.roi,
            )
        _finite("-dmin", self.dmin_A, nonneg=True)


@dataclass(frozen=True)
class OutputConfig:
    """Files to write and how to scale them."""

    floatfile: str | None = None
    intfile: str | None = None
    noisefile: str | None = None
    pgmfile: str | None = None
    scale: float = 0.0  # 0: auto (max pixel -> 55000)
    pgmscale: float = 0.0
    adc: float = 40.0
    seed: int | None = None  # noise seed; None: from the clock, as in nanoBragg

    def __post_init__(self) -> None:
        _finite("-scale", self.scale)
        _finite("-adc", self.adc)


@dataclass(frozen=True)
class SimulationConfig:
    """Everything one simulation needs, as the user asked for it."""

    crystal: CrystalConfig = field(default_factory=CrystalConfig)
    beam: BeamConfig = field(default_factory=BeamConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    flags: tuple[str, ...] = ()  # the flags this config was parsed from, if any

    def replace(self, **changes: Any) -> SimulationConfig:
        """A copy with whole sections replaced (``crystal=…``, ``detector=…``)."""
        return replace(self, **changes)


def config_fields() -> dict[str, list[str]]:
    """Field names per config section."""
    return {
        "crystal": [f.name for f in fields(CrystalConfig)],
        "beam": [f.name for f in fields(BeamConfig)],
        "detector": [f.name for f in fields(DetectorConfig)],
        "sampling": [f.name for f in fields(SamplingConfig)],
        "output": [f.name for f in fields(OutputConfig)],
    }
