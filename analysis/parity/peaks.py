"""Peak matching: the reference's brightest local maxima found again in the image.

Peaks that moved point at the geometry, even while the correlation still looks good.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.parity.tolerances import PEAK_MATCH_PX

#: Relative brightness within which two pixels of a peak count as a tie (float32 rounding).
_TIE_RTOL = 1e-5


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
