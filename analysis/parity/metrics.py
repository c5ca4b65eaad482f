"""Parity metrics between an image and its reference, built to localise a divergence.

One call, :func:`compare_images`, answers "is it still right?" with global numbers (Pearson r,
sum ratio, max abs error, RMSE, fraction of pixels over a relative tolerance) and "where does it
go wrong?" with a tile map, peak matching and a sum ratio per radial shell. The verdict applies
named thresholds from :mod:`analysis.parity.tolerances`.

Images are ``[spixels, fpixels]`` (slow, fast); numpy arrays or torch tensors are accepted and
compared in float64.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.parity.tolerances import (
    GATE_CORR,
    PEAK_MATCH_PX,
    PIXEL_RTOL,
    STRICT_CORR,
    SUM_RATIO_TOL,
)


@dataclass(frozen=True)
class Thresholds:
    """A named pass/fail rule: ``corr >= min_corr`` and ``|sum_ratio - 1| <= sum_ratio_tol``."""

    name: str
    min_corr: float
    sum_ratio_tol: float


#: Relative brightness within which two pixels of a peak count as a tie (float32 rounding).
_TIE_RTOL = 1e-5

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
class PeakMatch:
    """Top-N local maxima of the reference matched to those of the image.

    ``offset_px`` is the mean Euclidean distance (pixels) between matched, centroid-refined
    peak positions; ``mean_shift`` the mean (slow, fast) displacement image - reference.
    """

    n_reference: int
    n_matched: int
    matched_fraction: float
    offset_px: float
    mean_shift: tuple[float, float]
    unmatched: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Shell:
    """One radial shell: its coordinate range (rad of 2θ, or pixels), pixel count, sums."""

    inner: float
    outer: float
    n_pixels: int
    sum_image: float
    sum_reference: float

    @property
    def sum_ratio(self) -> float:
        """``sum_image / sum_reference`` (NaN where the reference sums to 0)."""
        return _ratio(self.sum_image, self.sum_reference)


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

    def summary_line(self) -> str:
        """One line for ``correlation.txt``: corr, sum ratio, verdict and the first reason."""
        why = f" ({self.reasons[0]})" if self.reasons else ""
        return (
            f"corr={self.corr:.6f} sum_ratio={self.sum_ratio:.6f} "
            f"verdict={self.verdict}[{self.thresholds.name}]{why}"
        )


# --------------------------------------------------------------------------------------------
# global metrics


def _as_array(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [spixels, fpixels] image, got shape {arr.shape}")
    return arr


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den != 0.0 else math.nan


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
                    _ratio(float(a.sum()), float(b.sum())),
                )
            )
    return out


def _badness(t: TileStat) -> tuple[float, float]:
    dev = abs(t.sum_ratio - 1.0) if math.isfinite(t.sum_ratio) else 0.0
    return (t.corr, -dev)


# --------------------------------------------------------------------------------------------
# peaks


def local_maxima(image: np.ndarray, top: int) -> np.ndarray:
    """The ``top`` brightest strict 3x3 local maxima above the image minimum.

    Returns an int array ``[n, 2]`` of (slow, fast) positions, brightest first. A plateau
    yields one maximum (ties broken towards the first pixel in raster order).
    """
    ns, nf = image.shape
    pad = np.pad(image, 1, mode="constant", constant_values=-np.inf)
    centre = pad[1:-1, 1:-1]
    is_max = np.isfinite(centre) & (centre > np.nanmin(image))
    for ds in (-1, 0, 1):
        for df in (-1, 0, 1):
            if ds == 0 and df == 0:
                continue
            nb = pad[1 + ds : 1 + ds + ns, 1 + df : 1 + df + nf]
            # earlier neighbours in raster order must be strictly lower, later ones not higher
            earlier = ds < 0 or (ds == 0 and df < 0)
            is_max &= (centre > nb) if earlier else (centre >= nb)
    idx = np.flatnonzero(is_max)
    order = np.argsort(image.ravel()[idx], kind="stable")[::-1][:top]
    return np.stack(np.unravel_index(idx[order], image.shape), axis=1).astype(int)


def _centroid(image: np.ndarray, s: int, f: int) -> tuple[float, float]:
    """Intensity-weighted 3x3 centroid around (s, f), background = the window minimum."""
    s0, s1 = max(s - 1, 0), min(s + 2, image.shape[0])
    f0, f1 = max(f - 1, 0), min(f + 2, image.shape[1])
    w = image[s0:s1, f0:f1]
    w = w - w.min()
    tot = float(w.sum())
    if tot <= 0.0 or not math.isfinite(tot):
        return float(s), float(f)
    ss, ff = np.mgrid[s0:s1, f0:f1]
    return float((w * ss).sum() / tot), float((w * ff).sum() / tot)


def match_peaks(
    image: np.ndarray, reference: np.ndarray, top: int = 50, radius: float = PEAK_MATCH_PX
) -> PeakMatch:
    """Match the reference's top-N local maxima to the image's, within ``radius`` pixels.

    Each reference peak takes the nearest unused image peak (among the image's top ``2*top``)
    whose integer position lies within ``radius`` (Chebyshev distance); offsets are measured
    between 3x3-centroid-refined positions. Where the image is as bright (within 1e-5) at
    the reference peak's pixel as at its own, a plateau tie, both use the reference pixel.
    """
    ref_pk = local_maxima(reference, top)
    img_pk = local_maxima(image, 2 * top)
    used = np.zeros(len(img_pk), dtype=bool)
    shifts = []
    unmatched = []
    for s, f in ref_pk:
        if len(img_pk):
            cheb = np.max(np.abs(img_pk - (s, f)), axis=1).astype(float)
            cheb[used] = np.inf
            j = int(np.argmin(cheb))
            if cheb[j] <= radius:
                used[j] = True
                js, jf = int(img_pk[j, 0]), int(img_pk[j, 1])
                if image[s, f] >= (1.0 - _TIE_RTOL) * image[js, jf]:
                    js, jf = int(s), int(f)  # a tie within rounding is no offset
                rs, rf = _centroid(reference, int(s), int(f))
                is_, if_ = _centroid(image, js, jf)
                shifts.append((is_ - rs, if_ - rf))
                continue
        unmatched.append((int(s), int(f)))
    n = len(ref_pk)
    if shifts:
        sh = np.asarray(shifts)
        offset = float(np.mean(np.hypot(sh[:, 0], sh[:, 1])))
        mean_shift = (float(sh[:, 0].mean()), float(sh[:, 1].mean()))
    else:
        offset, mean_shift = math.nan, (math.nan, math.nan)
    return PeakMatch(
        n_reference=n,
        n_matched=len(shifts),
        matched_fraction=len(shifts) / n if n else math.nan,
        offset_px=offset,
        mean_shift=mean_shift,
        unmatched=tuple(unmatched),
    )


# --------------------------------------------------------------------------------------------
# radial shells


def twotheta_map(setup: Any) -> np.ndarray:
    """Scattering angle 2θ (rad) at every pixel centre, ``[spixels, fpixels]``.

    Uses a resolved ``Setup``'s ``pix0``, ``fdet``, ``sdet``, ``pixel_size`` and the first
    source's ``incident`` direction: ``2θ = acos(d·i)`` with ``d`` the unit vector to
    ``pix0 + (i+½)px·f + (j+½)px·s``.
    """
    px = float(setup.pixel_size)
    f = (np.arange(setup.fpixels) + 0.5) * px  # [F]
    s = (np.arange(setup.spixels) + 0.5) * px  # [S]
    p0, fd, sd = (np.asarray(v, dtype=np.float64) for v in (setup.pix0, setup.fdet, setup.sdet))
    inc = np.asarray(setup.incident, dtype=np.float64).reshape(-1, 3)[0]
    inc = inc / np.linalg.norm(inc)
    # |P|^2 and P.i from dot products, so no [S, F, 3] array is ever built
    r2 = (
        p0 @ p0
        + (s * s)[:, None] * (sd @ sd)
        + (f * f)[None, :] * (fd @ fd)
        + 2.0 * s[:, None] * (p0 @ sd)
        + 2.0 * f[None, :] * (p0 @ fd)
        + 2.0 * s[:, None] * f[None, :] * (sd @ fd)
    )
    along = (p0 @ inc) + s[:, None] * (sd @ inc) + f[None, :] * (fd @ inc)
    return np.arccos(np.clip(along / np.sqrt(r2), -1.0, 1.0))


def radius_map(shape: tuple[int, int], beam_center: tuple[float, float] | None) -> np.ndarray:
    """Distance (pixels) of each pixel centre from ``beam_center`` = (slow, fast) pixels.

    Without a beam centre, the image centre is used.
    """
    ns, nf = shape
    cs, cf = beam_center if beam_center is not None else (ns / 2.0, nf / 2.0)
    ss, ff = np.mgrid[0:ns, 0:nf]
    return np.hypot(ss + 0.5 - cs, ff + 0.5 - cf)


def radial_shells(
    image: np.ndarray, reference: np.ndarray, coord: np.ndarray, n_shells: int = 10
) -> list[Shell]:
    """Sum of each image in ``n_shells`` equal-width shells of ``coord``."""
    lo, hi = float(np.min(coord)), float(np.max(coord))
    edges = np.linspace(lo, hi, n_shells + 1)
    which = np.clip(np.searchsorted(edges, coord.ravel(), side="right") - 1, 0, n_shells - 1)
    cnt = np.bincount(which, minlength=n_shells)
    si = np.bincount(which, weights=image.ravel(), minlength=n_shells)
    sr = np.bincount(which, weights=reference.ravel(), minlength=n_shells)
    return [
        Shell(float(edges[k]), float(edges[k + 1]), int(cnt[k]), float(si[k]), float(sr[k]))
        for k in range(n_shells)
    ]


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
    img = _as_array(image, "image")
    ref = _as_array(reference, "reference")
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
    sum_ratio = _ratio(float(img.sum()), float(ref.sum()))
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


# --------------------------------------------------------------------------------------------
# difference map


def diff_rgb(image: Any, reference: Any) -> np.ndarray:
    """Diverging colour map of ``image - reference``: blue < 0, white 0, red > 0.

    Scaled symmetrically to the largest finite absolute difference; non-finite pixels are
    drawn black. Returns uint8 ``[spixels, fpixels, 3]``.
    """
    d = _as_array(image, "image") - _as_array(reference, "reference")
    finite = np.isfinite(d)
    m = float(np.max(np.abs(d[finite]))) if finite.any() else 0.0
    t = np.clip(np.where(finite, d, 0.0) / m, -1.0, 1.0) if m > 0 else np.zeros_like(d)
    pos, neg = np.clip(t, 0, 1), np.clip(-t, 0, 1)
    rgb = np.stack([1.0 - neg, 1.0 - pos - neg, 1.0 - pos], axis=-1)
    rgb[~finite] = 0.0
    return np.round(rgb * 255.0).astype(np.uint8)


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an 8-bit RGB ``[height, width, 3]`` array as a PNG (zlib + struct, no deps)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB array [h, w, 3], got shape {rgb.shape}")
    h, w, _ = rgb.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1)

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
    png += chunk(b"IEND", b"")
    out = Path(path)
    out.write_bytes(png)
    return out


def write_diff_png(path: str | Path, image: Any, reference: Any) -> Path:
    """Write the difference map of ``image - reference`` to ``path`` as a PNG."""
    return write_png(path, diff_rgb(image, reference))


__all__ = [
    "GATE",
    "STRICT",
    "ParityReport",
    "PeakMatch",
    "Shell",
    "Thresholds",
    "TileStat",
    "compare_images",
    "write_diff_png",
]
