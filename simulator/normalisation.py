"""nanoBragg's per-pixel normalisation factors, vectorised: last values or a running product.

The C program multiplies a pixel's sum by the polarisation, solid angle and capture fraction
its loop *leaves behind* (polarisation of the first source it does not skip, solid angle of
the first sub-pixel, capture fraction of the last layer), unless ``-oversample_polar/_omega/
_thick`` ask for a factor per sub-pixel: then the running sum is multiplied by it after every
term. Shapes: ``S`` sources, ``KM`` orientations (φ steps × mosaic domains), ``N`` positions
(pixel × layer × sub-pixel, in the C program's loop order), ``P`` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PerTerm:
    """Which factors multiply the running sum after every term (``-oversample_*``)."""

    thick: bool
    polar: bool
    omega: bool


def first_polarisation(polar: torch.Tensor, keep: torch.Tensor | None, n_pix: int) -> torch.Tensor:
    """Polarisation of the first (layer, subpixel, source) the C loop does not skip.

    Args:
        polar: ``[S, N]`` polarisation factors.
        keep: ``[S, N]`` sources inside the resolution cut, or None (all kept).
        n_pix: pixels P in the block.

    Returns:
        ``[P]`` factors (0 where every source is cut, as in the C program).
    """
    if keep is None:
        first = polar[0]
        return first if first.shape[0] == n_pix else first.view(n_pix, -1)[:, 0]
    per_pixel = polar.T.reshape(n_pix, -1)  # loop order (layer, subpixel, source)
    valid = keep.T.reshape(n_pix, -1)
    index = torch.argmax(valid.to(torch.int8), dim=1)
    chosen = per_pixel.gather(1, index[:, None])[:, 0]
    return torch.where(valid.any(dim=1), chosen, torch.zeros_like(chosen))


def running_product_intensity(
    term: torch.Tensor,
    latt: torch.Tensor,
    keep: torch.Tensor | None,
    polar: torch.Tensor,
    omega: torch.Tensor,
    capture: torch.Tensor | None,
    *,
    n_pix: int,
    layers: int,
    per_term: PerTerm,
    water_background: float,
) -> torch.Tensor:
    """nanoBragg's running-product normalisation for ``-oversample_thick/_polar/_omega``.

    In loop order (layer, subpixel, source, phi, domain) the C program does
    ``I = (I + term_j)·g_j`` with ``g_j`` the product of the per-subpixel factors asked
    for; skipped iterations leave ``I`` alone. So
    ``I = I_bg·Π g + Σ_j term_j·Π_{i>=j} g_i``; the factors not asked for multiply the
    result once, with the values the loop leaves (as in the plain path).

    Args:
        term: ``[S, KM, N]`` F_cell²·F_latt² (photons/sr before scaling).
        latt: ``[S, KM, N]`` F_latt² (zero: an iteration the C loop skips).
        keep: ``[S, N]`` sources inside the resolution cut, or None.
        polar: ``[S, N]`` polarisation factors.
        omega: ``[N]`` solid angles (sr).
        capture: ``[N]`` capture fractions, or None without a sensor model.
        n_pix: pixels P in the block.
        layers: sensor layers per pixel.
        per_term: the factors asked for per term.
        water_background: I_bg, the sum's starting value.

    Returns:
        ``[P]`` normalised sums (times r_e²·fluence/steps gives photons).
    """
    ones = torch.ones_like(omega)
    gain = torch.ones_like(term)
    if per_term.thick:
        gain = gain * (capture if capture is not None else ones)
    if per_term.polar:
        gain = gain * polar[:, None, :]
    if per_term.omega:
        gain = gain * omega
    skipped = torch.zeros_like(term, dtype=torch.bool)
    if water_background == 0.0:  # nanoBragg skips zero lattice factors without water
        skipped = latt == 0
    if keep is not None:
        skipped = skipped | ~keep[:, None, :]
    gain = torch.where(skipped, torch.ones_like(gain), gain)
    order = (2, 0, 1)  # per pixel: (layer, subpixel) outer, then source, orientation
    gain = gain.permute(order).reshape(n_pix, -1)
    suffix = torch.flip(torch.cumprod(torch.flip(gain, dims=[1]), dim=1), dims=[1])
    flat_term = term.permute(order).reshape(n_pix, -1)
    intensity = (flat_term * suffix).sum(-1) + water_background * suffix[:, 0]
    if not per_term.thick and capture is not None:
        intensity = intensity * capture.view(n_pix, layers, -1)[:, -1, 0]
    if not per_term.polar:
        intensity = intensity * first_polarisation(polar, keep, n_pix)
    if not per_term.omega:
        intensity = intensity * omega.view(n_pix, -1)[:, 0]
    return intensity
