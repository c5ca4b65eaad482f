"""What the C program reports about its auto-selected choices, in its wording."""

from __future__ import annotations

import math

from simulator.geometry import DetectorGeometry
from simulator.setup import Setup


def setup_report(setup: Setup) -> list[str]:
    """Lines describing the resolved setup: convention, pivot, sampling, sources, domains."""
    geom: DetectorGeometry = setup.notes["geometry"]  # type: ignore[assignment]
    notes = setup.notes
    lines = [f"{geom.convention} convention selected."]
    lines.append(
        "pivoting detector around sample"
        if geom.pivot == "sample"
        else "pivoting detector around direct beam spot"
    )
    if "interpolation" in notes:
        lines.append(str(notes["interpolation"]))
    if "random_misset_deg" in notes:
        rx, ry, rz = notes["random_misset_deg"]  # type: ignore[misc]
        lines.append(f"random orientation misset angles: {rx:f} {ry:f} {rz:f} deg")
    if "crystal_size" in notes:
        a, b, c = (1e6 * v for v in notes["crystal_size"])  # type: ignore[union-attr]
        lines.append(f"crystal is {a:g} x {b:g} x {c:g} microns")
    if "oversample" in notes:
        lines.append(str(notes["oversample"]))
    lines.extend(f"WARNING: {w}" for w in notes.get("warnings", []))  # type: ignore[union-attr]
    lines.append(f"  created a total of {setup.n_sources} sources:")
    lines.append(f"  created a total of {setup.n_domains} mosaic domains")
    count = setup.hkl.count
    lines.append(f"  {count} initialized hkls (all others ={setup.hkl.default_F:g})")
    shape = {"square": "parallelpiped", "round": "ellipsoidal", "gauss": "gaussian"}.get(
        setup.shape, "tophat-spot"
    )
    lines.append(f"  {shape} xtal: {setup.Na:.0f}x{setup.Nb:.0f}x{setup.Nc:.0f} cells")
    lines.append(
        "  polarization effect disabled"
        if setup.nopolar
        else f"  Kahn polarization factor: {setup.kahn_factor:f}"
    )
    lines.append(
        f"  distance={geom.distance:g} detsize={geom.detsize_f:g}x{geom.detsize_s:g}  "
        f"pixel={geom.pixel_size:g} meters ({setup.fpixels}x{setup.spixels} pixels)"
    )
    lines.append(
        f"  sensor is {setup.detector_thick:g} m thick in {setup.thicksteps} layers "
        f"with mu= {setup.detector_mu:g}"
    )
    if setup.curved_detector:
        lines.append("  curved detector: all pixels same distance from origin")
    lines.append(f"  Xbeam={geom.xbeam:g} Ybeam={geom.ybeam:g}")
    lines.append(f"  Fbeam={geom.fbeam:g} Sbeam={geom.sbeam:g}")
    lines.append(f"  Fclose={geom.fclose:g} Sclose={geom.sclose:g}")
    lines.append(f"  {setup.n_sources} sources")
    spread = math.degrees(float(notes.get("mosaic_spread", 0.0)))  # type: ignore[arg-type]
    lines.append(f"  {setup.n_domains} mosaic domains over mosaic spread of {spread:g} degrees")
    phi0 = math.degrees(float(setup.phi_angles[0]))
    osc = math.degrees(float(notes.get("osc", 0.0)))  # type: ignore[arg-type]
    lines.append(f"  {setup.phisteps} phi steps from {phi0:g} to {phi0 + osc:g} degrees")
    extra = "".join(
        f" +{name}"
        for name, on in (
            ("thick", setup.oversample_thick),
            ("polar", setup.oversample_polar),
            ("omega", setup.oversample_omega),
        )
        if on
    )
    lines.append(f"  {setup.oversample}x{setup.oversample} pixel oversample steps{extra}")
    return lines


def interpolation_warning(hkl: tuple[float, float, float]) -> list[str]:
    """nanoBragg's warning when a sample's interpolation neighbourhood leaves the HKL grid."""
    h, k, l = hkl  # noqa: E741
    h0, k0, l0 = (math.ceil(v - 0.5) for v in hkl)
    return [
        "WARNING: out of range for three point interpolation: h,k,l,h0,k0,l0: "
        f"{h:g},{k:g},{l:g},{h0},{k0},{l0} ",
        "WARNING: further warnings will not be printed! ",
    ]
