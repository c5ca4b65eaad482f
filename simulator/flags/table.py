"""The flag table: every nanoBragg flag this port reads, and what each one sets.

Each :class:`FlagSpec` names a flag's spellings, how many values it takes, and an ``apply``
that reads those values (:func:`_number`, :func:`_integer`) and writes them into the parse
state, one dict of config keyword arguments per section. Pivot and convention side effects
live here, in the setters (``-distance`` asks for the beam pivot, ``-xds`` sets its own).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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
    """One flag: its spellings, how many values it takes, and what it sets.

    ``nargs`` is the flag's exact arity: a count, or the counts it accepts (``-misset``
    takes ``random`` or three angles: ``(1, 3)``). The parser gives ``apply`` every value
    that follows the flag (up to the next flag) and refuses any other count.
    """

    names: tuple[str, ...]  # exact spellings; a trailing '*' accepts any longer spelling
    nargs: int | tuple[int, ...]
    apply: Apply
    help: str

    def __post_init__(self) -> None:
        counts = self.nargs if isinstance(self.nargs, tuple) else (self.nargs,)
        if not counts or any(not isinstance(n, int) or n < 0 for n in counts):
            raise ValueError(f"{self.names[0]}: nargs must be counts >= 0, got {self.nargs!r}")

    @property
    def counts(self) -> tuple[int, ...]:
        """The numbers of values the flag accepts."""
        return self.nargs if isinstance(self.nargs, tuple) else (self.nargs,)


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
        state["detector"]["convention"] = "custom"  # -twotheta_axis: see cross_matches

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
    """Six numbers, or ``a b c`` alone: the C program then keeps its right angles."""
    values = tuple(_number(flag, a) for a in args)
    state["crystal"]["cell"] = values if len(values) == 6 else (*values, 90.0, 90.0, 90.0)


def _misset(state: State, flag: str, args: list[str]) -> None:
    if len(args) == 1:
        if "rand" not in args[0].lower():
            raise FlagError(f"{flag}: expected rotx roty rotz (deg) or 'random', got {args[0]!r}")
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


def _size(keys: tuple[str, ...]) -> Apply:
    def apply(state: State, flag: str, args: list[str]) -> None:
        value = _number(flag, args[0])
        for key in keys:
            state["crystal"][key] = value

    return apply


def _ignore(state: State, flag: str, args: list[str]) -> None:
    return None


SPECS: tuple[FlagSpec, ...] = (
    # crystal and structure factors
    FlagSpec(("-cell",), (6, 3), _cell, "a b c alpha beta gamma (Å, deg), or a b c at 90°"),
    FlagSpec(("-mat",), 1, _set("crystal", "mat_file", "str"), "MOSFLM A-matrix file"),
    FlagSpec(("-hkl",), 1, _set("crystal", "hkl_file", "str"), "text file of h k l F"),
    FlagSpec(("-default_F",), 1, _set("crystal", "default_F"), "F of unlisted reflections"),
    FlagSpec(("-N",), 1, _all_n, "unit cells along a, b and c"),
    FlagSpec(("-Na",), 1, _set("crystal", "Na", "int"), "unit cells along a"),
    FlagSpec(("-Nb",), 1, _set("crystal", "Nb", "int"), "unit cells along b"),
    FlagSpec(("-Nc",), 1, _set("crystal", "Nc", "int"), "unit cells along c"),
    FlagSpec(("-misset",), (1, 3), _misset, "rotx roty rotz (deg), or 'random'"),
    FlagSpec(("-misset_seed",), 1, _set("crystal", "misset_seed", "int"), "seed of -misset random"),
    FlagSpec(("-square_xtal",), 0, _switch("crystal", "shape", "square"), "parallelepiped"),
    FlagSpec(("-round_xtal",), 0, _switch("crystal", "shape", "round"), "ellipsoid"),
    FlagSpec(("-gauss_xtal",), 0, _switch("crystal", "shape", "gauss"), "Gaussian spots"),
    FlagSpec(
        ("-tophat_spots", "-binary_spots"), 0, _switch("crystal", "shape", "tophat"), "flat spots"
    ),
    FlagSpec(("-fudge",), 1, _set("crystal", "fudge"), "spot-shape fudge factor"),
    FlagSpec(("-nointerpolate",), 0, _switch("crystal", "interpolate", False), "nearest F"),
    FlagSpec(("-interpolate",), 0, _switch("crystal", "interpolate", True), "tricubic F"),
    # crystal size (mm): wins over -N/-Na… on its axis, whatever the order (N = ceil(size/|a|))
    FlagSpec(
        ("-xtalsize", "-xtal_size", "-samplesize", "-sample_size"),
        1,
        _size(("size_a_mm", "size_b_mm", "size_c_mm")),
        "crystal size along a, b and c, mm",
    ),
    FlagSpec(
        ("-xtal_thick", "-xtal_x", "-sample_thick", "-sample_x"),
        1,
        _size(("size_a_mm",)),
        "crystal size along a (x), mm",
    ),
    FlagSpec(
        ("-xtal_width", "-xtal_y", "-sample_width", "-sample_y", "-width"),
        1,
        _size(("size_b_mm",)),
        "crystal size along b (y), mm",
    ),
    FlagSpec(
        ("-xtal_heigh*", "-xtal_z", "-sample_heigh*", "-sample_z", "-heigh*"),
        1,
        _size(("size_c_mm",)),
        "crystal size along c (z), mm",
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
    FlagSpec(("-curved_det",), 0, _switch("detector", "curved", True), "pixels all at -distance"),
    # read before every other flag by the parser (its header values are the defaults)
    FlagSpec(("-img",), 1, _ignore, "SMV image whose header sets the detector (flags win)"),
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
    FlagSpec(
        ("-nonoise", "-nopgm", "-noprogress", "-progress"),
        0,
        _ignore,
        "accepted; this port writes only the files named",
    ),
)
