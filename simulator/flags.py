"""nanoBragg's command-line flags: parsing into a :class:`SimulationConfig` and back.

Flags keep nanoBragg's spelling and the synonyms the C program accepts. Like the C program,
flags are read left to right and a later flag wins; flags that move the detector pivot
(``-distance``, ``-Xclose``, ``-twotheta``…) record the pivot they ask for, and conventions
(``-xds``…) or custom vectors (``-fdet_vector``…) record the convention. The C program's
order-dependent side effects that matter are kept (``-detector_abs inf`` zeroes a thickness
given before it); its substring cross-matches are not (``-misset_seed`` does not also set
misset angles here), and :func:`config_to_flags` orders flags so the C program reads what
we read.
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from simulator.config import (
    DETECTOR_VECTORS,
    BeamConfig,
    ConfigError,
    CrystalConfig,
    DetectorConfig,
    OutputConfig,
    SamplingConfig,
    SimulationConfig,
)


class FlagError(ValueError):
    """A command-line flag is unknown, unsupported, or lacks a valid value."""


# --------------------------------------------------------------------------------------
# value readers
# --------------------------------------------------------------------------------------


def _number(flag: str, token: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise FlagError(f"{flag}: expected a number, got {token!r}") from None
    if math.isnan(value):
        raise FlagError(f"{flag}: expected a number, got {token!r}")
    return value


def _integer(flag: str, token: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise FlagError(f"{flag}: expected an integer, got {token!r}") from None


# --------------------------------------------------------------------------------------
# the flag table
# --------------------------------------------------------------------------------------

State = dict[str, dict[str, Any]]
Apply = Callable[[State, str, list[str]], None]


@dataclass(frozen=True)
class FlagSpec:
    """One flag: its spellings, how many values it takes, and what it sets."""

    names: tuple[str, ...]  # exact spellings; a trailing '*' accepts any longer spelling
    nargs: int  # fixed number of values (-1: variable, handled by `apply`)
    apply: Apply
    help: str


def _set(section: str, key: str, kind: str = "float", pivot: str | None = None) -> Apply:
    def apply(state: State, flag: str, args: list[str]) -> None:
        token = args[0]
        if kind == "float":
            value: Any = _number(flag, token)
        elif kind == "int":
            value = _integer(flag, token)
        else:
            value = token
        state[section][key] = value
        if pivot:
            state["detector"]["pivot"] = pivot

    return apply


def _set_many(section: str, keys: tuple[str, ...], kind: str = "float") -> Apply:
    def apply(state: State, flag: str, args: list[str]) -> None:
        reader = _number if kind == "float" else _integer
        value = reader(flag, args[0])
        for key in keys:
            state[section][key] = value

    return apply


def _switch(section: str, key: str, value: Any) -> Apply:
    def apply(state: State, flag: str, args: list[str]) -> None:
        state[section][key] = value

    return apply


def _vector(key: str) -> Apply:
    def apply(state: State, flag: str, args: list[str]) -> None:
        state["detector"][key] = tuple(_number(flag, a) for a in args)
        state["detector"]["convention"] = "custom"
        if key == "twotheta_axis":  # nanoBragg also reads this flag as -twotheta: pivot sample
            state["detector"]["pivot"] = "sample"

    return apply


def _convention(name: str, pivot: str) -> Apply:
    def apply(state: State, flag: str, args: list[str]) -> None:
        state["detector"]["convention"] = name
        state["detector"]["pivot"] = pivot

    return apply


def _pivot(state: State, flag: str, args: list[str]) -> None:
    choice = args[0].lower()
    if "sample" in choice:
        state["detector"]["pivot"] = "sample"
    elif "beam" in choice:
        state["detector"]["pivot"] = "beam"
    else:
        raise FlagError(f"-pivot: expected 'beam' or 'sample', got {args[0]!r}")


def _cell(state: State, flag: str, args: list[str]) -> None:
    state["crystal"]["cell"] = tuple(_number(flag, a) for a in args)


def _misset(state: State, flag: str, args: list[str]) -> None:
    if args and "rand" in args[0].lower():
        state["crystal"]["misset_random"] = True
        state["crystal"]["misset_deg"] = None
    else:
        state["crystal"]["misset_deg"] = tuple(_number(flag, a) for a in args)
        state["crystal"]["misset_random"] = False


def _all_n(state: State, flag: str, args: list[str]) -> None:
    n = _integer(flag, args[0])
    state["crystal"].update(Na=n, Nb=n, Nc=n)


def _absorption(state: State, flag: str, args: list[str]) -> None:
    token = args[0]
    if "inf" in token.lower() or _number(flag, token) == 0.0:
        # nanoBragg: an infinite depth switches the sensor model off, thickness included
        state["detector"]["absorption_um"] = math.inf
        state["detector"]["thick_um"] = 0.0
    else:
        state["detector"]["absorption_um"] = _number(flag, token)


def _energy(state: State, flag: str, args: list[str]) -> None:
    energy = _number(flag, args[0])
    if energy <= 0:
        raise FlagError(f"{flag}: expected a positive energy in eV, got {args[0]!r}")
    state["beam"]["wavelength_A"] = 12398.42 / energy


def _polar(state: State, flag: str, args: list[str]) -> None:
    state["beam"]["kahn_factor"] = _number(flag, args[0])
    state["beam"]["nopolar"] = False  # as in nanoBragg, -polar switches polarisation back on


def _roi(state: State, flag: str, args: list[str]) -> None:
    state["sampling"]["roi"] = tuple(_integer(flag, a) for a in args)


def _unsupported(why: str) -> Apply:
    def apply(state: State, flag: str, args: list[str]) -> None:
        raise FlagError(f"{flag}: {why}")

    return apply


def _ignore(state: State, flag: str, args: list[str]) -> None:
    return None


_SPECS: tuple[FlagSpec, ...] = (
    # crystal and structure factors
    FlagSpec(("-cell",), -1, _cell, "a b c alpha beta gamma (Å, deg)"),
    FlagSpec(("-mat",), 1, _set("crystal", "mat_file", "str"), "MOSFLM A-matrix file"),
    FlagSpec(("-hkl",), 1, _set("crystal", "hkl_file", "str"), "text file of h k l F"),
    FlagSpec(("-default_F",), 1, _set("crystal", "default_F"), "F of unlisted reflections"),
    FlagSpec(("-N",), 1, _all_n, "unit cells along a, b and c"),
    FlagSpec(("-Na",), 1, _set("crystal", "Na", "int"), "unit cells along a"),
    FlagSpec(("-Nb",), 1, _set("crystal", "Nb", "int"), "unit cells along b"),
    FlagSpec(("-Nc",), 1, _set("crystal", "Nc", "int"), "unit cells along c"),
    FlagSpec(("-misset",), -1, _misset, "rotx roty rotz (deg), or 'random'"),
    FlagSpec(("-misset_seed",), 1, _set("crystal", "misset_seed", "int"), "seed of -misset random"),
    FlagSpec(("-square_xtal",), 0, _switch("crystal", "shape", "square"), "parallelepiped"),
    FlagSpec(("-round_xtal",), 0, _switch("crystal", "shape", "round"), "ellipsoid"),
    FlagSpec(("-gauss_xtal",), 0, _switch("crystal", "shape", "gauss"), "Gaussian spots"),
    FlagSpec(
        ("-tophat_spots", "-binary_spots"), 0, _switch("crystal", "shape", "tophat"), "flat spots"
    ),
    FlagSpec(("-fudge",), 1, _set("crystal", "fudge"), "spot-shape fudge factor"),
    FlagSpec(("-nointerpolate",), 0, _switch("crystal", "interpolate", False), "nearest F"),
    FlagSpec(
        ("-interpolate",),
        0,
        _unsupported(
            "tricubic structure-factor interpolation is not implemented yet; "
            "use -nointerpolate (nearest-neighbour F)"
        ),
        "tricubic F interpolation (not yet)",
    ),
    # beam and sources
    FlagSpec(("-lambda", "-wave", "-wavelength"), 1, _set("beam", "wavelength_A"), "Å"),
    FlagSpec(("-energy",), 1, _energy, "photon energy, eV (λ = 12398.42/E Å)"),
    FlagSpec(("-dispersion",), 1, _set("beam", "dispersion_pct"), "Δλ/λ in percent"),
    FlagSpec(("-dispsteps",), 1, _set("beam", "dispsteps", "int"), "wavelength steps"),
    FlagSpec(
        ("-divergence",),
        1,
        _set_many("beam", ("hdivrange_mrad", "vdivrange_mrad")),
        "h and v divergence range, mrad",
    ),
    FlagSpec(("-hdivrange",), 1, _set("beam", "hdivrange_mrad"), "mrad"),
    FlagSpec(("-vdivrange",), 1, _set("beam", "vdivrange_mrad"), "mrad"),
    FlagSpec(("-hdivstep",), 1, _set("beam", "hdivstep_mrad"), "mrad"),
    FlagSpec(("-vdivstep",), 1, _set("beam", "vdivstep_mrad"), "mrad"),
    FlagSpec(("-hdivsteps",), 1, _set("beam", "hdivsteps", "int"), "horizontal source points"),
    FlagSpec(("-vdivsteps",), 1, _set("beam", "vdivsteps", "int"), "vertical source points"),
    FlagSpec(
        ("-divsteps",), 1, _set_many("beam", ("hdivsteps", "vdivsteps"), "int"), "h and v points"
    ),
    FlagSpec(("-round_div",), 0, _switch("beam", "round_div", True), "elliptical divergence"),
    FlagSpec(("-square_div",), 0, _switch("beam", "round_div", False), "full divergence grid"),
    FlagSpec(("-sourcefile",), 1, _set("beam", "source_file", "str"), "X Y Z weight λ per line"),
    FlagSpec(("-polar",), 1, _polar, "Kahn polarisation factor"),
    FlagSpec(("-nopolar",), 0, _switch("beam", "nopolar", True), "no polarisation factor"),
    FlagSpec(("-fluence",), 1, _set("beam", "fluence"), "photons/m²"),
    FlagSpec(("-flux",), 1, _set("beam", "flux"), "photons/s"),
    FlagSpec(("-exposure",), 1, _set("beam", "exposure_s"), "s"),
    FlagSpec(("-beamsize",), 1, _set("beam", "beamsize_mm"), "mm"),
    FlagSpec(("-water",), 1, _set("beam", "water_um"), "µm of water background"),
    # rotation and mosaic
    FlagSpec(
        ("-mosaic", "-mosaici*", "-mosaic_spr*"), 1, _set("crystal", "mosaic_spread_deg"), "deg"
    ),
    FlagSpec(("-mosaic_dom*",), 1, _set("crystal", "mosaic_domains", "int"), "mosaic domains"),
    FlagSpec(("-mosaic_seed",), 1, _set("crystal", "mosaic_seed", "int"), "mosaic seed"),
    FlagSpec(("-phi",), 1, _set("crystal", "phi0_deg"), "start of rotation, deg"),
    FlagSpec(("-osc",), 1, _set("crystal", "osc_deg"), "rotation range, deg"),
    FlagSpec(("-phistep",), 1, _set("crystal", "phistep_deg"), "rotation step, deg"),
    FlagSpec(("-phisteps",), 1, _set("crystal", "phisteps", "int"), "rotation steps"),
    # detector size and distance
    FlagSpec(("-pixel",), 1, _set("detector", "pixel_mm"), "pixel size, mm"),
    FlagSpec(("-detpixels",), 1, _set_many("detector", ("fpixels", "spixels"), "int"), "pixels"),
    FlagSpec(("-detpixels_f", "-detpixels_x"), 1, _set("detector", "fpixels", "int"), "fast"),
    FlagSpec(("-detpixels_s", "-detpixels_y"), 1, _set("detector", "spixels", "int"), "slow"),
    FlagSpec(("-detsize",), 1, _set_many("detector", ("detsize_f_mm", "detsize_s_mm")), "size, mm"),
    FlagSpec(("-detsize_f",), 1, _set("detector", "detsize_f_mm"), "fast size, mm"),
    FlagSpec(("-detsize_s",), 1, _set("detector", "detsize_s_mm"), "slow size, mm"),
    FlagSpec(("-distance",), 1, _set("detector", "distance_mm", pivot="beam"), "mm"),
    FlagSpec(("-close_distance",), 1, _set("detector", "close_distance_mm", pivot="sample"), "mm"),
    FlagSpec(("-point_pixel",), 0, _switch("detector", "point_pixel", True), "ω = 1/R²"),
    # detector orientation and conventions
    FlagSpec(("-detector_rotx",), 1, _set("detector", "rotx_deg"), "deg"),
    FlagSpec(("-detector_roty",), 1, _set("detector", "roty_deg"), "deg"),
    FlagSpec(("-detector_rotz",), 1, _set("detector", "rotz_deg"), "deg"),
    FlagSpec(("-twotheta",), 1, _set("detector", "twotheta_deg", pivot="sample"), "deg"),
    FlagSpec(("-twotheta_axis",), 3, _vector("twotheta_axis"), "x y z"),
    FlagSpec(("-mosflm",), 0, _convention("mosflm", "beam"), "MOSFLM convention"),
    FlagSpec(("-xds",), 0, _convention("xds", "sample"), "XDS convention"),
    FlagSpec(("-adxv",), 0, _convention("adxv", "beam"), "ADXV convention"),
    FlagSpec(("-denzo",), 0, _convention("denzo", "beam"), "DENZO convention"),
    FlagSpec(("-dials",), 0, _convention("dials", "beam"), "DIALS convention"),
    FlagSpec(("-pivot",), 1, _pivot, "beam | sample"),
    FlagSpec(("-fdet_vector",), 3, _vector("fdet_vector"), "x y z"),
    FlagSpec(("-sdet_vector",), 3, _vector("sdet_vector"), "x y z"),
    FlagSpec(("-odet_vector",), 3, _vector("odet_vector"), "x y z"),
    FlagSpec(("-beam_vector",), 3, _vector("beam_vector"), "x y z"),
    FlagSpec(("-polar_vector",), 3, _vector("polar_vector"), "x y z"),
    FlagSpec(("-spindle_axis",), 3, _vector("spindle_axis"), "x y z"),
    FlagSpec(("-pix0_vector",), 3, _vector("pix0_vector"), "x y z (m)"),
    FlagSpec(("-Xbeam",), 1, _set("detector", "xbeam_mm", pivot="beam"), "mm"),
    FlagSpec(("-Ybeam",), 1, _set("detector", "ybeam_mm", pivot="beam"), "mm"),
    FlagSpec(("-Xclose",), 1, _set("detector", "xclose_mm", pivot="sample"), "mm"),
    FlagSpec(("-Yclose",), 1, _set("detector", "yclose_mm", pivot="sample"), "mm"),
    FlagSpec(("-ORGX",), 1, _set("detector", "orgx", pivot="sample"), "pixels"),
    FlagSpec(("-ORGY",), 1, _set("detector", "orgy", pivot="sample"), "pixels"),
    # absorption
    FlagSpec(("-detector_abs*",), 1, _absorption, "attenuation depth, µm, or 'inf'"),
    FlagSpec(("-detector_thick",), 1, _set("detector", "thick_um"), "sensor thickness, µm"),
    FlagSpec(
        ("-detector_thicksteps", "-thicksteps"), 1, _set("detector", "thicksteps", "int"), "layers"
    ),
    # sampling and masking
    FlagSpec(("-oversample",), 1, _set("sampling", "oversample", "int"), "subpixels per axis"),
    FlagSpec(
        ("-oversample_thick",), 0, _switch("sampling", "oversample_thick", True), "per subpixel"
    ),
    FlagSpec(
        ("-oversample_polar",), 0, _switch("sampling", "oversample_polar", True), "per subpixel"
    ),
    FlagSpec(
        ("-oversample_omega",), 0, _switch("sampling", "oversample_omega", True), "per subpixel"
    ),
    FlagSpec(("-roi",), 4, _roi, "xmin xmax ymin ymax (pixels, inclusive)"),
    FlagSpec(("-mask",), 1, _set("sampling", "mask_file", "str"), "SMV image; 0 = skip"),
    FlagSpec(("-dmin",), 1, _set("sampling", "dmin_A"), "resolution cut, Å"),
    # output
    FlagSpec(("-floatfile", "-floatimage"), 1, _set("output", "floatfile", "str"), "raw float32"),
    FlagSpec(("-intfile", "-intimage"), 1, _set("output", "intfile", "str"), "SMV image"),
    FlagSpec(("-noisefile", "-noiseimage"), 1, _set("output", "noisefile", "str"), "SMV+noise"),
    FlagSpec(("-pgmfile", "-pgmimage"), 1, _set("output", "pgmfile", "str"), "8-bit preview"),
    FlagSpec(("-scale",), 1, _set("output", "scale"), "intfile scale (0: auto)"),
    FlagSpec(("-pgmscale",), 1, _set("output", "pgmscale"), "pgm scale (0: auto)"),
    FlagSpec(("-adc",), 1, _set("output", "adc"), "offset added to SMV pixels"),
    FlagSpec(("-seed",), 1, _set("output", "seed", "int"), "noise seed"),
    FlagSpec(("-nonoise", "-nopgm", "-noprogress", "-progress"), 0, _ignore, "accepted, no effect"),
    # nanoBragg flags this port does not implement
    *(
        FlagSpec((name,), 0, _unsupported("this nanoBragg option is not supported by the port"), "")
        for name in (
            "-img",
            "-curved_det",
            "-stol",
            "-4stol",
            "-Q",
            "-stolout",
            "-xtalsize",
            "-xtal_size",
            "-samplesize",
            "-sample_size",
            "-coherent",
            "-printout",
            "-printout_pixel",
            "-dump",
        )
    ),
)


def _lookup(flag: str) -> FlagSpec | None:
    for spec in _SPECS:
        for name in spec.names:
            if name.endswith("*"):
                if flag.startswith(name[:-1]):
                    return spec
            elif flag == name:
                return spec
    return None


def known_flags() -> list[str]:
    """Every accepted spelling (``*`` marks a prefix family)."""
    return [name for spec in _SPECS for name in spec.names]


def split_flags(flags: str | Sequence[str]) -> list[str]:
    """Split a flag string the way a shell would; sequences pass through."""
    if isinstance(flags, str):
        return shlex.split(flags)
    return [str(f) for f in flags]


def _take_values(spec: FlagSpec, flag: str, tokens: list[str], i: int) -> list[str]:
    """The values following ``tokens[i]`` for ``spec``."""
    if spec.nargs >= 0:
        values = tokens[i + 1 : i + 1 + spec.nargs]
        if len(values) < spec.nargs:
            raise FlagError(f"{flag}: missing value ({spec.nargs} expected: {spec.help})")
        return values
    # variable: -cell takes up to 6 numbers; -misset takes 'random' or 3 numbers
    if flag == "-misset":
        if i + 1 < len(tokens) and "rand" in tokens[i + 1].lower():
            return [tokens[i + 1]]
        values = tokens[i + 1 : i + 4]
        if len(values) < 3:
            raise FlagError("-misset: missing value (expected rotx roty rotz in deg, or 'random')")
        return values
    values = []
    for token in tokens[i + 1 : i + 7]:
        try:
            float(token)
        except ValueError:
            break
        values.append(token)
    if not values:
        raise FlagError(f"{flag}: missing value ({spec.help})")
    return values


def parse_flags(flags: str | Sequence[str]) -> SimulationConfig:
    """Parse nanoBragg flags into a validated :class:`SimulationConfig`.

    Raises:
        FlagError: unknown or unsupported flag, missing or malformed value, or a value the
            configuration rejects; the message is one line naming the flag.
    """
    tokens = split_flags(flags)
    state: State = {"crystal": {}, "beam": {}, "detector": {}, "sampling": {}, "output": {}}
    i = 0
    while i < len(tokens):
        flag = tokens[i]
        if not flag.startswith("-") or len(flag) < 2:
            raise FlagError(f"unexpected argument {flag!r}: every value must follow its flag")
        spec = _lookup(flag)
        if spec is None:
            raise FlagError(f"unknown flag {flag!r} (see `python -m simulator -help`)")
        values = _take_values(spec, flag, tokens, i)
        spec.apply(state, flag, values)
        i += 1 + len(values)
    try:
        return SimulationConfig(
            crystal=CrystalConfig(**state["crystal"]),
            beam=BeamConfig(**state["beam"]),
            detector=DetectorConfig(**state["detector"]),
            sampling=SamplingConfig(**state["sampling"]),
            output=OutputConfig(**state["output"]),
            flags=tuple(tokens),
        )
    except ConfigError as exc:
        raise FlagError(str(exc)) from None


# --------------------------------------------------------------------------------------
# config -> canonical flags (for the C program)
# --------------------------------------------------------------------------------------


def _fmt(value: float | int) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _path(path: str) -> str:
    return os.path.abspath(path)


def config_to_flags(cfg: SimulationConfig, *, include_outputs: bool = False) -> list[str]:
    """Canonical nanoBragg flags for ``cfg``, ordered so the C program reads what we read.

    File paths become absolute (the C program runs in a fresh directory). Output files are
    left out unless ``include_outputs``; the caller adds its own ``-floatfile``.
    """
    c, b, d, s, o = cfg.crystal, cfg.beam, cfg.detector, cfg.sampling, cfg.output
    out: list[str] = []

    def add(flag: str, *values: Any) -> None:
        out.append(flag)
        out.extend(_fmt(v) for v in values)

    # crystal
    if c.cell is not None:
        add("-cell", *c.cell)
    if c.mat_file:
        out += ["-mat", _path(c.mat_file)]
    if c.hkl_file:
        out += ["-hkl", _path(c.hkl_file)]
    add("-default_F", c.default_F)
    add("-Na", c.Na)
    add("-Nb", c.Nb)
    add("-Nc", c.Nc)
    if c.misset_random:
        if c.misset_seed is not None:  # before -misset: the C program also reads it as -misset
            add("-misset_seed", c.misset_seed)
        out += ["-misset", "random"]
    elif c.misset_deg is not None:
        add("-misset", *c.misset_deg)
    out.append({"square": "-square_xtal", "round": "-round_xtal"}.get(c.shape, "-gauss_xtal"))
    if c.shape == "tophat":
        out[-1] = "-tophat_spots"
    add("-fudge", c.fudge)
    if c.interpolate is False:
        out.append("-nointerpolate")
    if c.mosaic_spread_deg is not None:
        add("-mosaic", c.mosaic_spread_deg)
    if c.mosaic_domains is not None:
        add("-mosaic_domains", c.mosaic_domains)
    add("-mosaic_seed", c.mosaic_seed)
    add("-phi", c.phi0_deg)
    for flag, value in (("-osc", c.osc_deg), ("-phistep", c.phistep_deg)):
        if value is not None:
            add(flag, value)
    if c.phisteps is not None:
        add("-phisteps", c.phisteps)

    # beam
    add("-lambda", b.wavelength_A)
    for flag, value in (
        ("-dispersion", b.dispersion_pct),
        ("-dispsteps", b.dispsteps),
        ("-hdivrange", b.hdivrange_mrad),
        ("-vdivrange", b.vdivrange_mrad),
        ("-hdivstep", b.hdivstep_mrad),
        ("-vdivstep", b.vdivstep_mrad),
        ("-hdivsteps", b.hdivsteps),
        ("-vdivsteps", b.vdivsteps),
        ("-fluence", b.fluence),
    ):
        if value is not None:
            add(flag, value)
    out.append("-round_div" if b.round_div else "-square_div")
    if b.source_file:
        out += ["-sourcefile", _path(b.source_file)]
    if b.nopolar:
        out.append("-nopolar")
    else:
        add("-polar", b.kahn_factor)
    if b.flux:
        add("-flux", b.flux)
    add("-exposure", b.exposure_s)
    add("-beamsize", b.beamsize_mm)
    add("-water", b.water_um)

    # detector size
    if d.pixel_mm is not None:
        add("-pixel", d.pixel_mm)
    for flag, value in (
        ("-detsize_f", d.detsize_f_mm),
        ("-detsize_s", d.detsize_s_mm),
        ("-detpixels_f", d.fpixels),
        ("-detpixels_s", d.spixels),
    ):
        if value is not None:
            add(flag, value)
    if d.point_pixel:
        out.append("-point_pixel")
    # sensor: -detector_abs before -detector_thick (an 'inf' depth zeroes the thickness)
    if d.absorption_um is not None:
        out += ["-detector_abs", "inf" if math.isinf(d.absorption_um) else _fmt(d.absorption_um)]
    add("-detector_thick", d.thick_um)
    if d.thicksteps is not None:
        add("-detector_thicksteps", d.thicksteps)

    # orientation: convention or custom vectors, then angles, centres, distances, pivot
    if d.convention == "custom":
        for name in DETECTOR_VECTORS:
            value = getattr(d, name)
            if value is not None:
                add(f"-{name}", *value)
        if all(
            getattr(d, n) is None
            for n in ("fdet_vector", "sdet_vector", "odet_vector", "beam_vector")
        ):
            add("-beam_vector", 1.0, 0.0, 0.0)  # any vector flag selects the custom convention
    add("-detector_rotx", d.rotx_deg)
    add("-detector_roty", d.roty_deg)
    add("-detector_rotz", d.rotz_deg)
    add("-twotheta", d.twotheta_deg)
    for flag, value in (
        ("-Xbeam", d.xbeam_mm),
        ("-Ybeam", d.ybeam_mm),
        ("-Xclose", d.xclose_mm),
        ("-Yclose", d.yclose_mm),
        ("-ORGX", d.orgx),
        ("-ORGY", d.orgy),
        ("-distance", d.distance_mm),
        ("-close_distance", d.close_distance_mm),
    ):
        if value is not None:
            add(flag, value)
    out += ["-pivot", d.pivot or "beam"]
    if d.convention != "custom":
        out.append(f"-{d.convention}")  # last: a convention settles its own pivot anyway

    # sampling
    if s.oversample is not None:
        add("-oversample", s.oversample)
    for name in ("oversample_thick", "oversample_polar", "oversample_omega"):
        if getattr(s, name):
            out.append(f"-{name}")
    if s.roi is not None:
        add("-roi", *s.roi)
    if s.mask_file:
        out += ["-mask", _path(s.mask_file)]
    if s.dmin_A:
        add("-dmin", s.dmin_A)

    if o.seed is not None:
        add("-seed", o.seed)
    if include_outputs:
        for flag in ("floatfile", "intfile", "noisefile", "pgmfile"):
            value = getattr(o, flag)
            if value:
                out += [f"-{flag}", value]
        add("-scale", o.scale)
        add("-adc", o.adc)
    return out


def usage() -> str:
    """One line per flag family, for ``-help``."""
    lines = ["usage: python -m simulator [flags]  (nanoBragg spelling)", ""]
    for spec in _SPECS:
        if spec.help:
            lines.append(f"  {' / '.join(spec.names):<44} {spec.help}")
    return "\n".join(lines)


def config_fields() -> dict[str, list[str]]:
    """Field names per config section (used by docs and tests)."""
    return {
        "crystal": [f.name for f in fields(CrystalConfig)],
        "beam": [f.name for f in fields(BeamConfig)],
        "detector": [f.name for f in fields(DetectorConfig)],
        "sampling": [f.name for f in fields(SamplingConfig)],
        "output": [f.name for f in fields(OutputConfig)],
    }
