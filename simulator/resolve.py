"""From what the user asked for to what the pixel loop needs: :func:`resolve`.

Settles every automatic choice the way nanoBragg does (steps, counts, oversampling, pivot,
domains, interpolation) and records what it chose in ``Setup.notes`` so the command line
can report it as the C program does.
"""

from __future__ import annotations

import math
import time

import numpy as np

from simulator import constants
from simulator.c_random import Ran1, mosaic_domains, random_misset
from simulator.config import BeamConfig, CrystalConfig, DetectorConfig, SimulationConfig
from simulator.crystal import build_lattice, phi_rotations, read_mat_file
from simulator.crystal_size import (
    auto_interpolate,
    cell_length_m,
    crystal_size,
    recommended_oversample,
)
from simulator.geometry import DetectorGeometry, detector_geometry
from simulator.hkl import read_hkl
from simulator.image_files import read_smv
from simulator.setup import HKLGrid, Setup
from simulator.sources import divergence_sources, read_source_file, resolve_steps


class SetupError(ValueError):
    """The configuration cannot be turned into a simulation (one clear line)."""


def _phi_steps(
    phi0: float, osc: float | None, phistep: float | None, phisteps: int | None
) -> tuple[float, float, int]:
    """nanoBragg's (osc, phistep, phisteps) from whichever were given (radians)."""
    osc_v = -1.0 if osc is None else osc
    step = -1.0 if phistep is None else phistep
    n = -1 if phisteps is None else phisteps
    if n < 0:
        if osc_v < 0.0:
            if step <= 0.0:
                n, osc_v, step = 1, 0.0, 0.0
            else:
                osc_v, n = step, 2
        elif step <= 0.0:
            n, step = 2, osc_v / 2.0
        else:
            n = math.ceil(osc_v / step)
    else:
        n = max(n, 1)
        if osc_v < 0.0:
            if step <= 0.0:
                osc_v = math.radians(1.0)
                step = osc_v / n
            else:
                osc_v, n = step, 2
        elif step < 0.0:
            step = osc_v / n
    return osc_v, step, n


def _thickness(thick: float, thicksteps: int | None) -> tuple[float, float, int]:
    """nanoBragg's (thickness, layer step, layers) for a sensor ``thick`` metres deep."""
    n = -1 if thicksteps is None else thicksteps
    if n <= 0:
        n = 2
        step = thick / n
    else:
        n = max(n, 2)
        step = thick / (n - 1)
    if thick <= 0.0 or step <= 0.0 or n <= 0:
        return 0.0, 0.0, 1
    return thick, step, n


def _mosaic(spread_deg: float | None, domains: int | None) -> tuple[float, int, list[str]]:
    """(spread in rad, domains, warnings) by nanoBragg's rules."""
    spread = -1.0 if spread_deg is None else math.radians(spread_deg)
    n = -1 if domains is None else domains
    warnings = []
    if n <= 0:
        if spread < 0.0:
            spread, n = 0.0, 1
        elif spread == 0.0:
            n = 1
        else:
            warnings.append("finite mosaicity with only one domain! upping to 10 mosaic domains")
            n = 10
    elif spread < 0.0:
        warnings.append("no mosaic spread specified.  setting mosaic_domains = 1")
        spread, n = 0.0, 1
    elif spread == 0.0:
        n = 1
    return spread, n, warnings


def _mask(path: str) -> tuple[np.ndarray, dict[str, float]]:
    try:
        header_text, pixels = read_smv(path)
    except (ValueError, OSError) as exc:  # ImageFileError: name the flag, as -hkl does
        raise SetupError(f"-mask: {exc}") from None
    header = {}
    for key in (
        "SIZE1",
        "SIZE2",
        "PIXEL_SIZE",
        "DISTANCE",
        "CLOSE_DISTANCE",
        "BEAM_CENTER_X",
        "BEAM_CENTER_Y",
        "ORGX",
        "ORGY",
    ):
        try:
            header[key] = float(header_text[key])
        except (KeyError, ValueError):
            continue
    return pixels != 0, header


def _structure_factors(c: CrystalConfig, notes: dict[str, object]) -> tuple[HKLGrid, bool]:
    """The HKL grid (or only ``-default_F``), and whether F is interpolated (tricubic).

    nanoBragg decides from the ``-N`` values, before the crystal size replaces them, and
    interpolates only an HKL file.
    """
    if c.hkl_file is None and c.default_F == 0.0:
        raise SetupError(
            "no structure factors: give -hkl FILE or a non-zero -default_F "
            "(this port never reads a Fdump.bin left by the C program)"
        )
    hkl = read_hkl(c.hkl_file, c.default_F) if c.hkl_file else HKLGrid(None, default_F=c.default_F)
    interpolate = c.interpolate
    if interpolate is None:
        interpolate = auto_interpolate((c.Na, c.Nb, c.Nc))
        notes["interpolation"] = "auto-selected " + (
            "tricubic interpolation of structure factors" if interpolate else "no interpolation"
        )
    return hkl, bool(interpolate and hkl.F is not None)


def _sources(
    b: BeamConfig, geom: DetectorGeometry, wavelength: float, notes: dict[str, object]
) -> tuple[np.ndarray, np.ndarray]:
    """Incident directions ``[S, 3]`` and wavelengths ``[S]`` (m): a source file or a grid."""
    if b.source_file:
        incident, wavelengths = read_source_file(b.source_file, geom.beam, wavelength)
        notes["divsteps"] = 0
        return incident, wavelengths
    hdiv = resolve_steps(
        None if b.hdivrange_mrad is None else b.hdivrange_mrad / 1000.0,
        None if b.hdivstep_mrad is None else b.hdivstep_mrad / 1000.0,
        b.hdivsteps,
    )
    vdiv = resolve_steps(
        None if b.vdivrange_mrad is None else b.vdivrange_mrad / 1000.0,
        None if b.vdivstep_mrad is None else b.vdivstep_mrad / 1000.0,
        b.vdivsteps,
    )
    disp = resolve_steps(
        None if b.dispersion_pct is None else b.dispersion_pct / 100.0,
        None,
        b.dispsteps,
        unset_range=0.0,
    )
    incident, wavelengths, directions = divergence_sources(
        geom.beam, geom.polar, wavelength, hdiv, vdiv, disp, b.round_div
    )
    notes.update(divsteps=directions, hdiv=hdiv, vdiv=vdiv, dispersion=disp)
    return incident, wavelengths


def _sensor(d: DetectorConfig, warnings: list[str]) -> tuple[float, float, int, float]:
    """(thickness, layer step, layers, μ): thickness in m, μ in 1/m (0: no absorption)."""
    thick, thickstep, thicksteps = _thickness(d.thick_um * 1e-6, d.thicksteps)
    if d.absorption_um is None:
        mu = -1.0
    elif math.isinf(d.absorption_um):
        mu = 0.0
    else:
        mu = 1.0 / (d.absorption_um * 1e-6)
    if thick > 0.0 and mu < 0.0:
        mu = 1.0 / thick
        warnings.append(f"setting detector attenuation depth to {mu:g} m")
    return thick, thickstep, thicksteps, mu


def resolve(cfg: SimulationConfig) -> Setup:
    """Resolve ``cfg`` into a :class:`Setup`.

    Raises:
        SetupError: no unit cell, no structure factors, unreadable HKL/matrix/source/mask
            files.
    """
    try:
        return _resolve(cfg)
    except SetupError:
        raise
    except (ValueError, OSError) as exc:
        raise SetupError(str(exc)) from None


def _resolve(cfg: SimulationConfig) -> Setup:
    c, b, d, s, o = cfg.crystal, cfg.beam, cfg.detector, cfg.sampling, cfg.output
    notes: dict[str, object] = {"warnings": []}
    warnings: list[str] = notes["warnings"]  # type: ignore[assignment]

    mask, header = (None, {}) if not s.mask_file else _mask(s.mask_file)
    geom = detector_geometry(d, header)
    if mask is not None and mask.shape != (geom.spixels, geom.fpixels):
        raise SetupError(
            f"-mask {s.mask_file}: {mask.shape[1]}x{mask.shape[0]} pixels, but the detector "
            f"is {geom.fpixels}x{geom.spixels}"
        )
    notes["geometry"] = geom

    wavelength = b.wavelength_A * 1e-10
    beamsize = b.beamsize_mm / 1000.0
    fluence = constants.DEFAULT_FLUENCE if b.fluence is None else b.fluence
    if b.flux != 0.0 and b.exposure_s > 0.0 and beamsize >= 0.0:
        fluence = b.flux * b.exposure_s / beamsize / beamsize

    hkl, interpolate = _structure_factors(c, notes)

    # crystal orientation
    rng = Ran1()
    misset = None
    if c.misset_random:
        seed = c.misset_seed if c.misset_seed is not None else o.seed
        if seed is None:
            seed = int(time.time())
        misset = random_misset(seed, rng)
        notes["random_misset_deg"] = tuple(math.degrees(v) for v in misset)
        notes["misset_seed"] = seed
    elif c.misset_deg is not None:
        misset = tuple(math.radians(v) for v in c.misset_deg)
    reciprocal = read_mat_file(c.mat_file, b.wavelength_A) if c.mat_file else None
    lattice = build_lattice(c.cell, reciprocal, misset)
    notes["lattice"] = lattice
    size = crystal_size(
        (c.Na, c.Nb, c.Nc),
        (c.size_a_mm, c.size_b_mm, c.size_c_mm),
        (cell_length_m(lattice.a), cell_length_m(lattice.b), cell_length_m(lattice.c)),
        b.beamsize_mm,
    )
    warnings.extend(size.warnings)
    Na, Nb, Nc = size.counts
    notes["crystal_size"] = size.dimensions

    # oversampling
    recommended = recommended_oversample(size.largest, wavelength, geom.distance, geom.pixel_size)
    oversample = s.oversample if s.oversample is not None and s.oversample > 0 else recommended
    if s.oversample is None or s.oversample <= 0:
        notes["oversample"] = f"auto-selected {oversample}-fold oversampling"
    elif oversample < recommended:
        warnings.append(f"recommend -oversample {recommended}: intensity may vary across a pixel")

    # spindle and mosaic
    osc, phistep, phisteps = _phi_steps(
        math.radians(c.phi0_deg),
        None if c.osc_deg is None else math.radians(c.osc_deg),
        None if c.phistep_deg is None else math.radians(c.phistep_deg),
        c.phisteps,
    )
    rotations, angles = phi_rotations(geom.spindle, math.radians(c.phi0_deg), phistep, phisteps)
    notes["osc"] = osc
    spread, domains, mosaic_warnings = _mosaic(c.mosaic_spread_deg, c.mosaic_domains)
    warnings.extend(mosaic_warnings)
    umats = mosaic_domains(spread, domains, c.mosaic_seed, rng)
    notes["ran1_state"] = rng.state.copy()  # a -noisefile with a negative -seed continues it
    if spread <= 0.0:
        umats = np.broadcast_to(np.eye(3), (domains, 3, 3)).copy()
    notes["mosaic_spread"] = spread

    incident, wavelengths = _sources(b, geom, wavelength, notes)
    thick, thickstep, thicksteps, mu = _sensor(d, warnings)

    # region of interest
    xmin, xmax, ymin, ymax = s.roi if s.roi is not None else (-1, -1, -1, -1)
    roi = (
        xmin if xmin >= 0 else 0,
        xmax if xmax >= 0 else geom.fpixels,
        ymin if ymin >= 0 else 0,
        ymax if ymax >= 0 else geom.spixels,
    )

    water = b.water_um / 1e6
    background = (
        constants.WATER_F**2
        * constants.R_E_SQR
        * fluence
        * water**3
        * constants.WATER_DENSITY
        * constants.AVOGADRO
        / constants.WATER_MW
    )
    steps = len(wavelengths) * domains * phisteps * oversample * oversample
    return Setup(
        fpixels=geom.fpixels,
        spixels=geom.spixels,
        pixel_size=geom.pixel_size,
        oversample=oversample,
        fdet=geom.fdet,
        sdet=geom.sdet,
        odet=geom.odet,
        pix0=geom.pix0,
        distance=geom.distance,
        close_distance=geom.close_distance,
        point_pixel=d.point_pixel,
        thicksteps=thicksteps,
        thickstep=thickstep,
        detector_thick=thick,
        detector_mu=mu,
        oversample_thick=s.oversample_thick,
        oversample_polar=s.oversample_polar,
        oversample_omega=s.oversample_omega,
        roi=roi,
        mask=mask,
        incident=incident,
        wavelengths=wavelengths,
        polar_vector=geom.polar,
        kahn_factor=b.kahn_factor,
        nopolar=b.nopolar,
        a0=lattice.a * 1e-10,
        b0=lattice.b * 1e-10,
        c0=lattice.c * 1e-10,
        a_star=lattice.a_star,
        b_star=lattice.b_star,
        c_star=lattice.c_star,
        phi_rotations=rotations,
        phi_angles=angles,
        mosaic_umats=umats,
        Na=Na,
        Nb=Nb,
        Nc=Nc,
        interpolate=interpolate,
        curved_detector=d.curved,
        beam=geom.beam,
        shape=c.shape,
        fudge=c.fudge,
        hkl=hkl,
        dmin=s.dmin_A * 1e-10,
        fluence=fluence,
        r_e_sqr=constants.R_E_SQR,
        water_background=background,
        steps=steps,
        notes=notes,
    )
