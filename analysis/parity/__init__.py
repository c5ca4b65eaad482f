"""Parity: how far an image is from its reference, and where it diverges."""

from analysis.parity.diff_png import write_diff_png
from analysis.parity.metrics import GATE, STRICT, ParityReport, Thresholds, compare_images
from analysis.parity.peaks import local_maxima
from analysis.parity.shells import SHELL_SCALES, ShellScale, twotheta_map

__all__ = [
    "GATE",
    "SHELL_SCALES",
    "STRICT",
    "ParityReport",
    "ShellScale",
    "Thresholds",
    "compare_images",
    "local_maxima",
    "twotheta_map",
    "write_diff_png",
]
