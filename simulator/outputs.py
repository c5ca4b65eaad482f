"""Write the image files a configuration asks for, as nanoBragg writes them."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator import image_files
from simulator.config import OutputConfig
from simulator.geometry import DetectorGeometry
from simulator.setup import Setup


@dataclass(frozen=True)
class ImageStats:
    """nanoBragg's summary statistics of a rendered image."""

    max_value: float
    max_fast: int
    max_slow: int
    mean: float
    rms: float
    rmsd: float


def _silent(line: str) -> None:
    """The default ``say`` of :func:`write_outputs`: the lines are only returned."""


#: Rows per step of the statistics: float64 sums without a float64 copy of the image.
_STATS_ROWS = 256


def _row_steps(rows: int) -> range:
    return range(0, rows, _STATS_ROWS)


def image_stats(image: np.ndarray, setup: Setup) -> ImageStats:
    """Max, mean and rms over the rendered pixels; rmsd about the mean over the ROI."""
    xmin, xmax, ymin, ymax = setup.roi
    roi = image[ymin : ymax + 1, xmin : xmax + 1]
    keep = None if setup.mask is None else setup.mask[ymin : ymax + 1, xmin : xmax + 1]
    total = squares = 0.0
    count = 0
    for start in _row_steps(roi.shape[0]):
        rows = roi[start : start + _STATS_ROWS].astype(np.float64)
        if keep is not None:
            rows = rows[keep[start : start + _STATS_ROWS]]
        total += float(rows.sum())
        squares += float((rows * rows).sum())
        count += rows.size
    mean = total / max(count, 1)
    deviations = 0.0
    for start in _row_steps(roi.shape[0]):
        rows = roi[start : start + _STATS_ROWS].astype(np.float64) - mean
        deviations += float((rows * rows).sum())
    rms = math.sqrt(squares / max(count - 1, 1))
    rmsd = math.sqrt(deviations / max(roi.size - 1, 1))
    # the C program keeps its image in float and takes the first pixel above the running
    # maximum: ties after rounding to float go to the first pixel in (slow, fast) order
    flat = int(np.argmax(image.astype(np.float32, copy=False))) if image.size else 0
    slow, fast = divmod(flat, image.shape[1]) if image.size else (0, 0)
    brightest = float(image.flat[flat]) if image.size else 0.0
    return ImageStats(max(brightest, 0.0), fast, slow, mean, rms, rmsd)


def _detector_position(index: int, setup: Setup) -> float:
    """Where nanoBragg says its brightest pixel is: Fdet (or Sdet) of its last sub-pixel, m.

    ``subpixel*(index*oversample + oversample - 1) + subpixel/2``, the value the C program's
    sub-pixel loop leaves when it records the maximum.
    """
    sub = setup.pixel_size / setup.oversample
    return sub * (index * setup.oversample + setup.oversample - 1) + sub / 2


def smv_header(setup: Setup, wavelength_A: float) -> dict[str, object]:
    """The header keys nanoBragg writes into its SMV images (mm, Å, degrees)."""
    geom: DetectorGeometry = setup.notes["geometry"]  # type: ignore[assignment]
    px = geom.pixel_size
    phi0 = math.degrees(float(setup.phi_angles[0])) if setup.phisteps else 0.0
    osc = math.degrees(float(setup.notes.get("osc", 0.0)))  # type: ignore[arg-type]
    return {
        "PIXEL_SIZE": f"{px * 1000:g}",
        "DISTANCE": f"{geom.distance * 1000:g}",
        "WAVELENGTH": f"{wavelength_A:g}",
        "BEAM_CENTER_X": f"{geom.xbeam * 1000:g}",
        "BEAM_CENTER_Y": f"{geom.ybeam * 1000:g}",
        "ADXV_CENTER_X": f"{geom.fbeam * 1000:g}",
        "ADXV_CENTER_Y": f"{(geom.detsize_s - geom.sbeam) * 1000:g}",
        "MOSFLM_CENTER_X": f"{(geom.sbeam - 0.5 * px) * 1000:g}",
        "MOSFLM_CENTER_Y": f"{(geom.fbeam - 0.5 * px) * 1000:g}",
        "DENZO_X_BEAM": f"{geom.sbeam * 1000:g}",
        "DENZO_Y_BEAM": f"{geom.fbeam * 1000:g}",
        "DIALS_ORIGIN": ",".join(f"{v:g}" for v in geom.dials_origin),
        "XDS_ORGX": f"{geom.orgx:g}",
        "XDS_ORGY": f"{geom.orgy:g}",
        "CLOSE_DISTANCE": f"{geom.close_distance * 1000:g}",
        "PHI": f"{phi0:g}",
        "OSC_START": f"{phi0:g}",
        "OSC_RANGE": f"{osc:g}",
        "TWOTHETA": f"{math.degrees(geom.twotheta):g}",
        "DETECTOR_SN": "000",
        "BEAMLINE": "fake",
    }


def check_output_paths(output: OutputConfig) -> None:
    """Refuse, before any rendering, an output file whose folder is missing or read-only.

    Raises:
        ValueError: naming the flag and the file, e.g. ``-floatfile: cannot write x/f.bin:
            no folder x``.
    """
    for flag in ("floatfile", "intfile", "noisefile", "pgmfile"):
        path = getattr(output, flag)
        if not path:
            continue
        folder = Path(path).parent
        if not folder.is_dir():
            raise ValueError(f"-{flag}: cannot write {path}: no folder {folder}")
        if not os.access(folder, os.W_OK):
            raise ValueError(f"-{flag}: cannot write {path}: folder {folder} is not writable")


def write_outputs(
    image: np.ndarray,
    setup: Setup,
    output: OutputConfig,
    wavelength_A: float,
    say: Callable[[str], None] = _silent,
) -> list[str]:
    """Write -floatfile, -intfile, -noisefile and -pgmfile if asked; return the report lines.

    Each line is also handed to ``say`` as soon as it is true (a file's line once the file is
    written), so a file that then fails to be written leaves the earlier ones reported.
    """
    lines: list[str] = []

    def report(line: str) -> None:
        lines.append(line)
        say(line)

    stats = image_stats(image, setup)
    report(
        f"max_I = {stats.max_value:g}  at {_detector_position(stats.max_fast, setup):g} "
        f"{_detector_position(stats.max_slow, setup):g}  (pixel {stats.max_fast} "
        f"{stats.max_slow})\n"
        f"mean= {stats.mean:g} rms= {stats.rms:g} rmsd= {stats.rmsd:g}"
    )
    if output.floatfile:
        image_files.write_floatfile(output.floatfile, image)
        report(f"writing {output.floatfile} as {image.size} 4-byte floats")
    scale = output.scale
    if scale <= 0.0:
        scale = image_files.INTFILE_AUTOSCALE_MAX / stats.max_value if stats.max_value > 0 else 1.0
    header = smv_header(setup, wavelength_A)
    if output.intfile:
        report(f"intfile_scale = {scale:g}")
        image_files.write_smv(
            output.intfile, image_files.to_intfile(image, scale, output.adc, setup.roi), header
        )
        report(f"writing {output.intfile} as 2-byte integers")
    if output.pgmfile:
        pgm_scale = output.pgmscale
        if pgm_scale <= 0.0:
            pgm_scale = 250.0 / (5.0 * stats.rmsd) if stats.rmsd > 0 else scale
        report(f"pgm_scale = {pgm_scale:g}")
        image_files.write_pgm(output.pgmfile, image, pgm_scale)
        report(f"writing {output.pgmfile} as 1-byte integers")
    if output.noisefile:
        from simulator.noise import noise_image  # Numba: imported only when noise is asked for

        seed = output.seed
        if seed is None:  # the C program seeds from the clock
            seed = int(time.time())
            report(f"noise seed from the clock: -seed {seed}")
        table = setup.notes.get("ran1_state")  # the shuffle table the mosaic draws left
        noisy = noise_image(image, seed, output.adc, setup.roi, table)  # type: ignore[arg-type]
        report(noisy.report())
        image_files.write_smv(output.noisefile, noisy.pixels, header)
        report(f"writing {output.noisefile} as 2-byte integers")
    return lines
