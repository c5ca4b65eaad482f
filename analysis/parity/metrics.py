"""Parity metrics between an image and its reference, built to localise a divergence.

One call, :func:`compare_images`, answers "is it still right?" with global numbers (Pearson r,
sum ratio, max abs error, RMSE, fraction of pixels over a relative tolerance) and "where does it
go wrong?" with a tile map, peak matching (:mod:`analysis.parity.peaks`) and a sum ratio per
radial shell (:mod:`analysis.parity.shells`). The verdict applies named thresholds from
:mod:`analysis.parity.tolerances`.

Images are ``[spixels, fpixels]`` (slow, fast); numpy arrays or torch tensors are accepted and
compared in float64.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.parity.arrays import as_image, ratio
from analysis.parity.peaks import PeakMatch, match_peaks
from analysis.parity.shells import Shell, radial_shells, radius_map, twotheta_map
from analysis.parity.tolerances import GATE_CORR, PIXEL_RTOL, STRICT_CORR, SUM_RATIO_TOL


@dataclass(frozen=True)
class Thresholds:
    """A named pass/fail rule: ``corr >= min_corr`` and ``|sum_ratio - 1| <= sum_ratio_tol``."""

    name: str
    min_corr: float
    sum_ratio_tol: float


GATE = Thresholds("gate", GATE_CORR, SUM_RATIO_TOL)
STRICT = Thresholds("strict", STRICT_CORR, SUM_RATIO_TOL)


@dataclass(frozen=True)
class TileStat:
    """One tile of the tile map: its index, pixel ranges (half-open), correlation, sum ratio."""

    row: int
    col: int
    slow: tuple[int, int]
    fast: tuple[int, int]
    corr: float
    sum_ratio: float

    @property
    def label(self) -> str:
        """Short name, e.g. ``"(3,7) s192:256 f448:512"``."""
        return (
            f"({self.row},{self.col}) s{self.slow[0]}:{self.slow[1]} f{self.fast[0]}:{self.fast[1]}"
        )


@dataclass(frozen=True)
class ParityReport:
    """Everything :func:`compare_images` measured, plus the verdict and its reasons."""

    corr: float
    sum_ratio: float
    max_abs_err: float
    rmse: float
    frac_over_rtol: float
    rtol: float
    tile_min_corr: float
    tiles: tuple[TileStat, ...]
    worst_tiles: tuple[TileStat, ...]
    peaks: PeakMatch
    shells: tuple[Shell, ...]
    shell_unit: str  # "twotheta_rad" | "radius_px"
    thresholds: Thresholds
    verdict: str  # "pass" | "fail"
    passes_strict: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def worst_tile(self) -> str:
        """Label of the worst tile, or ``""``."""
        return self.worst_tiles[0].label if self.worst_tiles else ""

    def to_row(self) -> dict[str, Any]:
        """Columns of ``analysis.tables.schema.CORRELATIONS`` this report fills."""
        return {
            "corr": self.corr,
            "sum_ratio": self.sum_ratio,
            "max_abs_err": self.max_abs_err,
            "rmse": self.rmse,
            "tile_min_corr": self.tile_min_corr,
            "worst_tile": self.worst_tile,
            "verdict": self.verdict,
        }

    def tile_rows(self) -> list[dict[str, Any]]:
        """Rows of ``analysis.tables.schema.PARITY_TILES`` (without the cell's keys)."""
        return [
            {
                "tile_row": t.row,
                "tile_col": t.col,
                "slow_start": t.slow[0],
                "slow_end": t.slow[1],
                "fast_start": t.fast[0],
                "fast_end": t.fast[1],
                "corr": t.corr,
                "sum_ratio": t.sum_ratio,
            }
            for t in self.tiles
        ]

    def summary_line(self) -> str:
        """One line for ``correlation.txt``: corr, sum ratio, verdict and the first reason."""
        why = f" ({self.reasons[0]})" if self.reasons else ""
        return (
            f"corr={self.corr:.6f} sum_ratio={self.sum_ratio:.6f} "
            f"verdict={self.verdict}[{self.thresholds.name}]{why}"
        )


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays; NaN when either is constant."""
    da = a - a.mean()
    db = b - b.mean()
    den = math.sqrt(float(np.dot(da.ravel(), da.ravel())) * float(np.dot(db.ravel(), db.ravel())))
    if den == 0.0 or not math.isfinite(den):
        return math.nan
    return float(np.dot(da.ravel(), db.ravel()) / den)


def _tile_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Tile correlation: two constant tiles score 1 if equal else 0; one constant scores 0."""
    r = pearson(a, b)
    if math.isnan(r):
        const_a = bool(np.all(a == a.flat[0]))
        const_b = bool(np.all(b == b.flat[0]))
        if const_a and const_b:
            return 1.0 if np.allclose(a, b, rtol=1e-6, atol=0.0) else 0.0
        return 0.0
    return r


# --------------------------------------------------------------------------------------------
# tile map


def tile_map(image: np.ndarray, reference: np.ndarray, tiles: int = 16) -> list[TileStat]:
    """Split both images into ``tiles x tiles`` tiles; correlation and sum ratio of each.

    Tile edges follow ``np.linspace`` so sizes not divisible by ``tiles`` still cover every
    pixel. A size smaller than ``tiles`` gets one tile per pixel row/column.
    """
    ns, nf = reference.shape
    edges_s = np.unique(np.linspace(0, ns, min(tiles, ns) + 1).astype(int))
    edges_f = np.unique(np.linspace(0, nf, min(tiles, nf) + 1).astype(int))
    out = []
    for r, (s0, s1) in enumerate(itertools.pairwise(edges_s)):
        for c, (f0, f1) in enumerate(itertools.pairwise(edges_f)):
            a = image[s0:s1, f0:f1]
            b = reference[s0:s1, f0:f1]
            out.append(
                TileStat(
                    r,
                    c,
                    (int(s0), int(s1)),
                    (int(f0), int(f1)),
                    _tile_corr(a, b),
                    ratio(float(a.sum()), float(b.sum())),
                )
            )
    return out


def _badness(t: TileStat) -> tuple[float, float]:
    dev = abs(t.sum_ratio - 1.0) if math.isfinite(t.sum_ratio) else 0.0
    return (t.corr, -dev)


# --------------------------------------------------------------------------------------------
# the one entry point


def compare_images(
    image: Any,
    reference: Any,
    *,
    tiles: int = 16,
    top_peaks: int = 50,
    rtol: float = PIXEL_RTOL,
    atol: float | None = None,
    thresholds: Thresholds = GATE,
    setup: Any = None,
    beam_center: tuple[float, float] | None = None,
    n_shells: int = 10,
    n_worst: int = 5,
) -> ParityReport:
    """Compare ``image`` with ``reference`` (both ``[spixels, fpixels]``).

    Args:
        image: the image under test (numpy array or torch tensor).
        reference: the reference image, same shape.
        tiles: tiles per side of the tile map.
        top_peaks: number of reference local maxima to match.
        rtol: a pixel is "over" when ``|image - reference| > rtol*|reference| + atol``.
        atol: absolute floor of that test; default ``1e-6 * max|reference|``.
        thresholds: the verdict's rule (:data:`GATE` or :data:`STRICT`).
        setup: optional resolved ``Setup``; gives shells in scattering angle 2θ.
        beam_center: optional (slow, fast) beam centre in pixels for radius shells.
        n_shells: number of radial shells.
        n_worst: number of worst tiles reported.

    Returns:
        A :class:`ParityReport`. Non-finite or constant images give verdict ``"fail"`` with
        the reason, never an exception.

    Raises:
        ValueError: when the two images are not 2-D arrays of the same shape.
    """
    img = as_image(image, "image")
    ref = as_image(reference, "reference")
    if img.shape != ref.shape:
        raise ValueError(f"image shape {img.shape} does not match reference shape {ref.shape}")
    if img.size == 0:
        raise ValueError("images are empty")
    reasons: list[str] = []
    bad_img = int(np.count_nonzero(~np.isfinite(img)))
    bad_ref = int(np.count_nonzero(~np.isfinite(ref)))
    if bad_img:
        reasons.append(f"image has {bad_img} non-finite pixels")
    if bad_ref:
        reasons.append(f"reference has {bad_ref} non-finite pixels")
    if bad_img or bad_ref:  # measure the rest on finite pixels (zeroed) so the map still helps
        ok = np.isfinite(img) & np.isfinite(ref)
        img = np.where(ok, img, 0.0)
        ref = np.where(ok, ref, 0.0)

    diff = img - ref
    corr = pearson(img, ref)
    if math.isnan(corr):
        const = [n for n, a in (("image", img), ("reference", ref)) if np.all(a == a.flat[0])]
        verb = "are" if len(const) == 2 else "is"
        who = " and ".join(const) or "an image"
        reasons.append(f"correlation undefined: {who} {verb} constant")
    sum_ratio = ratio(float(img.sum()), float(ref.sum()))
    if math.isnan(sum_ratio):
        reasons.append("sum ratio undefined: reference sums to 0")
    floor = 1e-6 * float(np.max(np.abs(ref))) if atol is None else atol
    over = np.abs(diff) > rtol * np.abs(ref) + floor

    tile_list = tile_map(img, ref, tiles)
    worst = sorted(tile_list, key=_badness)[:n_worst]
    if setup is not None:
        coord, unit = twotheta_map(setup), "twotheta_rad"
        if coord.shape != ref.shape:
            raise ValueError(f"setup's detector {coord.shape} does not match image {ref.shape}")
    else:
        coord, unit = radius_map(ref.shape, beam_center), "radius_px"

    if not reasons:
        if corr < thresholds.min_corr:
            reasons.append(f"corr {corr:.6f} < {thresholds.min_corr} ({thresholds.name})")
        if abs(sum_ratio - 1.0) > thresholds.sum_ratio_tol:
            reasons.append(
                f"|sum ratio - 1| = {abs(sum_ratio - 1.0):.3g} > {thresholds.sum_ratio_tol}"
            )
    passes_strict = (
        not (bad_img or bad_ref)
        and math.isfinite(corr)
        and corr >= STRICT.min_corr
        and abs(sum_ratio - 1.0) <= STRICT.sum_ratio_tol
    )
    return ParityReport(
        corr=corr,
        sum_ratio=sum_ratio,
        max_abs_err=float(np.max(np.abs(diff))),
        rmse=float(np.sqrt(np.mean(diff * diff))),
        frac_over_rtol=float(np.mean(over)),
        rtol=rtol,
        tile_min_corr=min(t.corr for t in tile_list),
        tiles=tuple(tile_list),
        worst_tiles=tuple(worst),
        peaks=match_peaks(img, ref, top_peaks),
        shells=tuple(radial_shells(img, ref, coord, n_shells)),
        shell_unit=unit,
        thresholds=thresholds,
        verdict="fail" if reasons else "pass",
        passes_strict=passes_strict,
        reasons=tuple(reasons),
    )
