"""The parity case matrix: flag sets that between them cover every flag group.

Used by the parity tests (engine, built-in reference and C binary against each other) and
by ``benchmarks/parity_matrix.py``, which prints the correlation table. Cases that read
files name them as ``{data}/…``; :func:`write_case_data` writes those files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulator.image_files import write_smv

SEED = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 96"
CUBIC = "-default_F 100 -cell 50 60 70 90 90 90 -lambda 1 -N 3 -distance 50 -detpixels 96"
TRICLINIC = (
    "-hkl {data}/P1.hkl -cell 40 50 60 80 95 105 -misset 10 20 30 -lambda 1 -N 4 "
    "-distance 60 -detpixels 96 -pixel 0.2"
)
#: every sample's interpolation neighbourhood inside the HKL grid (|h|, |k|, |l| < 2.1)
SMALL_HKL = "-hkl {data}/P1.hkl -cell 30 30 30 90 90 90 -lambda 1 -distance 100 -detpixels 96"
#: the beam at the top edge: the one-thread C program stops interpolating at pixel (61, 0)
STOP_HKL = (
    "-hkl {data}/P1.hkl -cell 40 40 40 90 90 90 -lambda 1 -N 2 -distance 60 -detpixels 96 "
    "-Xbeam 0 -Ybeam 4.8"
)

PARITY_CASES: dict[str, str] = {
    # crystal and structure factors
    "seed": SEED,
    "triclinic_hkl_misset": TRICLINIC,
    "mat_file": "-hkl {data}/P1.hkl -mat {data}/A.mat -lambda 1 -N 4 -distance 100 "
    "-detpixels 96 -default_F 3",
    "misset_random": CUBIC + " -misset random -misset_seed 7",
    # the C program also reads -misset_seed N A B as -misset N A B (substring match)
    "misset_seed_cross": "-misset random -misset_seed 7 -lambda 1 "
    + CUBIC.replace("-lambda 1 ", ""),
    "round_fudge": SEED + " -round_xtal -fudge 0.8",
    "gauss": TRICLINIC + " -gauss_xtal -fudge 2",
    "tophat": TRICLINIC + " -tophat_spots",
    "N_per_axis": CUBIC + " -Na 2 -Nb 4 -Nc 6",
    # tricubic interpolation: auto-selected (N <= 2), forced, refused, stopped mid-image
    "interpolate_auto": SMALL_HKL + " -N 2",
    "interpolate_forced": "-hkl {data}/P1.hkl -cell 30 35 40 85 95 100 -misset 5 10 15 -lambda 1 "
    "-N 4 -distance 100 -detpixels 96 -interpolate -mosaic 0.5 -mosaic_dom 3 -oversample 2",
    "nointerpolate": SMALL_HKL + " -N 2 -nointerpolate",
    "interpolate_stop": STOP_HKL,
    "interpolate_stop_mask": STOP_HKL + " -mask {data}/mask_stop.img",
    "interpolate_stop_dmin": STOP_HKL + " -dmin 4 -divergence 0.5 -divsteps 2",
    # crystal size: N from size and cell, auto oversampling, before -N and after it
    "xtalsize": "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -distance 100 "
    "-detpixels 96 -xtalsize 0.0005",
    "xtal_axes_N": "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -distance 100 "
    "-detpixels 96 -xtal_thick 0.0002 -xtal_width 0.00031 -N 4",
    # a size that is an exact multiple of a missetted cell: ceil() sees the last bits of |a|
    "xtal_exact_multiple_misset": "-default_F 50 -cell 50 60 70 90 90 90 -lambda 1 "
    "-distance 100 -detpixels 64 -xtal_thick 0.0002 -misset 10 20 30",
    "samplesize_interpolate": SMALL_HKL + " -samplesize 0.0001",
    # beam and sources
    "energy_dispersion": CUBIC + " -energy 12000 -dispersion 2 -dispsteps 3",
    "divergence": TRICLINIC + " -divergence 0.3 -divsteps 3",
    "divergence_steps": CUBIC
    + " -hdivrange 1 -hdivstep 0.5 -vdivrange 1 -vdivstep 0.25 -square_div",
    "dispersion": TRICLINIC + " -dispersion 4 -dispsteps 3",
    "sourcefile": CUBIC + " -sourcefile {data}/sources.txt",
    # rotation and mosaic
    "mosaic": TRICLINIC + " -mosaic 0.8 -mosaic_dom 6",
    "mosaic_seed": CUBIC + " -mosaic 1 -mosaic_domains 5 -mosaic_seed 42",
    "phi": TRICLINIC + " -phi 0 -osc 2 -phisteps 4",
    "phi_start": CUBIC + " -phi 5 -osc 2 -phistep 0.5",
    # detector size and distance
    "rectangular_point_pixel": CUBIC + " -pixel 0.2 -detpixels_f 100 -detpixels_s 80 -point_pixel",
    "detsize_close_distance": "-default_F 100 -cell 50 60 70 90 90 90 -lambda 1 -N 3 "
    "-detsize 9.6 -pixel 0.1 -close_distance 50",
    # detector orientation and conventions
    "rotations_twotheta": CUBIC
    + " -detector_rotx 3 -detector_roty 4 -detector_rotz 5 -twotheta 10",
    "xds_orgx": CUBIC + " -xds -ORGX 40 -ORGY 70",
    "xds_twotheta": TRICLINIC + " -xds -twotheta 10 -close_distance 60",
    "adxv_rotations": TRICLINIC + " -adxv -detector_rotx 3 -detector_roty 4 -detector_rotz 5",
    "denzo_beam": TRICLINIC + " -denzo -Xbeam 5 -Ybeam 7",
    "mosflm_beam": CUBIC + " -mosflm -Xbeam 4 -Ybeam 6",
    "dials": TRICLINIC + " -dials",
    "curved_det": CUBIC + " -curved_det",
    "curved_det_rotated": CUBIC + " -curved_det -detector_rotx 3 -detector_roty 4 -twotheta 10",
    "curved_det_xds_thick": CUBIC + " -curved_det -xds -detector_thick 100 -detector_abs 50"
    " -detector_thicksteps 2 -oversample 2",
    "img_header": "-img {data}/header.img -default_F 100 -cell 100 100 100 90 90 90 -N 5",
    "img_header_flags": "-img {data}/header.img -default_F 100 -cell 100 100 100 90 90 90 -N 5"
    " -lambda 2 -detpixels 64 -xds",
    "custom_vectors": CUBIC + " -fdet_vector 0 0 1 -sdet_vector 0 -1 0 -odet_vector 1 0 0 "
    "-beam_vector 1 0 0 -Xbeam 3 -Ybeam 6",
    "twotheta_axis_pivot": CUBIC + " -twotheta_axis 0 1 0 -twotheta 8 -pivot beam",
    # ... and reads -twotheta_axis X Y Z as -twotheta X too: 2theta 3 deg, sample pivot
    "twotheta_axis_cross": CUBIC + " -twotheta 10 -twotheta_axis 3 1 0",
    # absorption and polarisation
    "thickness": TRICLINIC + " -detector_thick 100 -detector_abs 50 -detector_thicksteps 3",
    "kahn_point_pixel": TRICLINIC + " -polar 0.9 -point_pixel",
    "nopolar": TRICLINIC + " -nopolar",
    # sampling and masking
    "oversample": CUBIC + " -oversample 3",
    "oversample_omega_polar": TRICLINIC + " -oversample 2 -oversample_omega -oversample_polar",
    # -oversample_polar computes the factor even under -nopolar, as the C program does
    "nopolar_oversample_polar": TRICLINIC + " -nopolar -oversample 2 -oversample_polar",
    "oversample_thick": TRICLINIC + " -detector_thick 100 -detector_abs 50 -detector_thicksteps 2"
    " -oversample 2 -oversample_thick",
    "roi": TRICLINIC + " -roi 10 60 20 90",
    "mask": TRICLINIC + " -mask {data}/mask.img",
    # a mask whose header sets the detector, the wavelength and phi, as nanoBragg reads it
    "mask_header": "-mask {data}/mask_header.img -default_F 100 -cell 100 100 100 90 90 90 -N 5",
    "mask_header_flags": "-mask {data}/mask_header.img -default_F 100 -cell 100 100 100 90 90 90"
    " -N 5 -lambda 2 -distance 120 -Ybeam 3 -xds",
    "dmin": TRICLINIC + " -dmin 2.5",
    # intensity and background
    "water": TRICLINIC + " -water 50",
    "flux": CUBIC + " -flux 1e12 -exposure 2 -beamsize 0.05",
    "fluence": CUBIC + " -fluence 1e24",
    # flags that change nothing in the image
    "noop_flags": SEED + " -coherent -printout_pixel 3 4 -stol {data}/water.stol -stolout x.stol"
    " -dump d.bin -density 1.2 -MW 20000 -source_distance 100 -trace_pixel 1 2",
}

#: Cases that write a noise image (``-noisefile`` with ``-seed``), checked pixel for pixel:
#: the direct and rejection branches of the C program's Poisson deviates, -adc, a region of
#: interest, overloads, and a negative -seed that continues the mosaic draws' shuffle table.
#: Counts stay moderate: a float32 render differs from C's float image by ~1e-5 per pixel,
#: and where means reach thousands that changes a draw now and then (see simulator.noise).
NOISE_CASES: dict[str, str] = {
    "noise_seed": SEED + " -seed 5",
    "noise_triclinic": TRICLINIC + " -seed 11",
    "noise_roi_adc": TRICLINIC + " -roi 10 60 20 90 -adc 10 -seed 9",
    "noise_overloads": SEED + " -adc 65500 -seed 4",
    "noise_mosaic_table": CUBIC + " -mosaic 1 -mosaic_domains 3 -seed -7",
}


def write_case_data(directory: str | Path, size: int = 96) -> Path:
    """Write the files the cases read.

    P1.hkl, A.mat, sources.txt, two size² masks, a size x (size - 16) mask whose header sets
    the detector, an SMV header in the C program's key order (header.img) and a stol table
    (water.stol).
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    idx = np.arange(-6, 7)
    lines = [
        f"{h} {k} {l} {rng.uniform(5, 300):.2f}"
        for h in idx
        for k in idx
        for l in idx  # noqa: E741
    ]
    (d / "P1.hkl").write_text("\n".join(lines) + "\n")
    (d / "A.mat").write_text(
        "-0.0121 0.0023 0.0043\n0.0031 0.0151 -0.0011\n-0.0041 0.0017 -0.0131\n"
    )
    (d / "sources.txt").write_text(
        "-10 0 0 1 1e-10\n-10 0.002 0 1 1.01e-10\n-10 0 -0.002 0.5 0.99e-10\n"
    )
    mask = np.ones((size, size), np.uint16)
    mask[30:50, 10:70] = 0
    mask[::7, :] = 0
    write_smv(d / "mask.img", mask, {"PIXEL_SIZE": 0.1})
    mask = np.ones((size, size), np.uint16)
    mask[55:70, 0:20] = 0  # around the pixel where interpolation would stop
    write_smv(d / "mask_stop.img", mask, {"PIXEL_SIZE": 0.1})
    mask = np.ones((size - 16, size), np.uint16)
    mask[20:30, 40:60] = 0
    # nanoBragg's key order: DISTANCE before CLOSE_DISTANCE (its lookup finds the later one),
    # XDS_ORGX for ORGX, and a BEAM_CENTER_Y counted from the mask's far edge
    keys = {"PIXEL_SIZE": 0.11, "DISTANCE": 95, "WAVELENGTH": 6.2, "BEAM_CENTER_X": 5.1}
    keys.update({"BEAM_CENTER_Y": 4.5, "XDS_ORGX": 47.5, "XDS_ORGY": 39.5})
    keys.update({"CLOSE_DISTANCE": 93, "PHI": 2, "OSC_START": 2, "OSC_RANGE": 0.5})
    write_smv(d / "mask_header.img", mask, keys)
    header = {"PIXEL_SIZE": 0.12, "DISTANCE": 90, "WAVELENGTH": 6.2, "BEAM_CENTER_X": 4}
    header.update({"BEAM_CENTER_Y": 5, "XDS_ORGX": 42.5, "XDS_ORGY": 34.2})
    header.update({"CLOSE_DISTANCE": 88, "PHI": 3, "OSC_START": 3, "OSC_RANGE": 1})
    write_smv(d / "header.img", np.zeros((64, 80), np.uint16), header)
    (d / "water.stol").write_text("0.1 2.57\n0.2 2.3\n0.3 1.9\n")
    return d


def case_flags(name: str, data: str | Path) -> str:
    """The flags of case ``name`` (a parity or a noise case) with ``{data}`` filled in."""
    return {**PARITY_CASES, **NOISE_CASES}[name].format(data=str(data))
