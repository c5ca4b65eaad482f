"""Pure tensor kernels of the diffraction model (nanoBragg's physics, vectorised).

Shapes use ``[...]`` for any leading batch shape. Lengths in metres, reciprocal lengths in
1/m unless stated. Every kernel works on any device and floating dtype.
"""

from __future__ import annotations

import math

import torch

#: nanoBragg's ROUND-shape normalisation: sqrt of the cube-to-sphere volume ratio.
ROUND_SHAPE_SCALE = 0.723601254558268
#: GAUSS spots: exp(-r*²/0.63·fudge) keeps the FWHM and volume near SQUARE spots.
GAUSS_WIDTH = 0.63
#: exp(-x) is 0 in double beyond this x: where nanoBragg's gauss F_latt becomes 0 (skipped).
GAUSS_EXP_UNDERFLOW = 745.13
#: TOPHAT spots: flat inside r*²·fudge < 0.3969 (radius 0.63).
TOPHAT_RADIUS_SQR = 0.3969


def nearest_index(h: torch.Tensor) -> torch.Tensor:
    """nanoBragg's nearest Miller index ``ceil(h - 1/2)`` (halves round up)."""
    return torch.ceil(h - 0.5)


def sincg_squared(frac: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Squared lattice transform of ``N`` cells along an axis.

    ``sincg(πh, N)² = (sin(Nπh)/sin(πh))²`` equals ``(sin(Nπδ)/sin(πδ))²`` for integer N
    with ``δ = h − round(h)``; using δ keeps float32 exact near Bragg peaks. At δ = 0 the
    limit N² comes from a 1e-30 offset of the angle (below any δ a float can hold but 0).

    Args:
        frac: ``[...]`` offsets δ.
        cells: N, broadcastable to ``frac``.

    Returns:
        ``[...]`` squared factor, in [0, N²].
    """
    x = frac * math.pi + 1e-30
    ratio = torch.sin(x * cells) / torch.sin(x)
    return ratio * ratio


def sinc3(x: torch.Tensor) -> torch.Tensor:
    """Fourier transform of a sphere, ``3(sin x / x − cos x)/x²``, 1 at x = 0, as C has it.

    The closed form wherever x ≠ 0, in float64 whatever the dtype of ``x`` (the result is
    cast back). Below |x| ≈ 1e-8 it cancels to 0 in double: the C program's image has that
    hole at a sub-pixel lying on a lattice point (the direct beam, for one), and following
    it keeps the brightest pixel equal to C's. A series would be closer to the sphere's
    transform and farther from the C program. Shapes: ``[...]`` in and out.
    """
    wide = x.to(torch.float64)
    zero = wide == 0
    safe = torch.where(zero, torch.ones_like(wide), wide)
    closed = 3.0 * (torch.sin(safe) / safe - torch.cos(safe)) / (safe * safe)
    return torch.where(zero, torch.ones_like(wide), closed).to(x.dtype)


def lattice_factor_squared(
    hkl: torch.Tensor,
    shape: str,
    cells: tuple[float, float, float],
    fudge: float,
    reciprocal: torch.Tensor | None = None,
) -> torch.Tensor:
    """``F_latt²`` at fractional Miller indices.

    With ``δ_i = h_i − h0_i`` the offset from the nearest reciprocal-lattice point:

    * square: ``Π_i sincg(πh_i, N_i)²`` over axes with ``N_i > 1``;
    * round: ``(NaNbNc·0.7236·sinc3(π·sqrt(fudge·Σ δ_i²N_i²)))²``;
    * gauss: ``(NaNbNc·exp(−r*²·fudge/0.63))²``, ``r*² = |Σ δ_i a*_i|²·(NaNbNc)²``;
    * tophat: ``(NaNbNc·[r*²·fudge < 0.3969])²``.

    Args:
        hkl: ``[3, ...]`` fractional h, k, l.
        shape: ``square | round | gauss | tophat``.
        cells: ``(Na, Nb, Nc)``.
        fudge: shape fudge factor.
        reciprocal: ``[3, 3]`` rows a*, b*, c* in 1/Å (gauss and tophat only).

    Returns:
        ``[...]``
    """
    volume = cells[0] * cells[1] * cells[2]
    if shape == "square":
        axes = [axis for axis, n in enumerate(cells) if n > 1]
        if not axes:
            return torch.ones_like(hkl[0])
        picked = hkl if len(axes) == 3 else hkl[axes]
        frac = picked - torch.round(picked)
        n = hkl.new_tensor([cells[a] for a in axes]).reshape(-1, *([1] * (hkl.dim() - 1)))
        factors = sincg_squared(frac, n)
        return factors.prod(dim=0) if len(axes) > 1 else factors[0]
    frac = hkl - nearest_index(hkl)
    if shape == "round":
        scale = hkl.new_tensor([c * c for c in cells]).reshape(3, *([1] * (hkl.dim() - 1)))
        hrad = (frac * frac * scale).sum(0)
        value = volume * ROUND_SHAPE_SCALE * sinc3(math.pi * torch.sqrt(hrad * fudge))
        return value * value
    if reciprocal is None:
        raise ValueError(f"shape {shape!r} needs the reciprocal vectors")
    delta = torch.tensordot(reciprocal.T, frac, dims=1)  # [3 (x, y, z), ...]
    rad = (delta * delta).sum(0) * (volume * volume)
    if shape == "gauss":
        exponent = rad / GAUSS_WIDTH * fudge
        value = volume * torch.exp(-exponent)
        squared = value * value
        if squared.dtype != torch.float64:
            return squared  # float32 cannot hold C's double tails (below 1e-38) anyway
        # the C loop skips an iteration only where F_latt is 0 in double, exp(-745.14) = 0;
        # its square underflows sooner: such an iteration keeps the smallest normal square
        # (1e-308: nothing in any image), so the per-term factors still multiply it
        alive = (exponent < GAUSS_EXP_UNDERFLOW) & (squared == 0)
        return torch.where(alive, torch.finfo(squared.dtype).tiny, squared)
    if shape == "tophat":
        return (rad * fudge < TOPHAT_RADIUS_SQR).to(hkl.dtype) * (volume * volume)
    raise ValueError(f"unknown crystal shape {shape!r}")


def structure_factor(
    hkl: torch.Tensor,
    table: torch.Tensor,
    origin: tuple[int, int, int],
    default_F: float,
) -> torch.Tensor:
    """Nearest-neighbour ``F_cell``: the table at ``ceil(h − ½)``, ``default_F`` outside it.

    Args:
        hkl: ``[3, ...]`` fractional Miller indices.
        table: ``[nh, nk, nl]`` amplitudes of ``(h, k, l) − origin``.
        origin: ``(h_min, k_min, l_min)``.
        default_F: amplitude of reflections outside the grid.

    Returns:
        ``[...]`` amplitudes.
    """
    sizes = table.shape
    index = nearest_index(hkl).to(torch.int64)
    inside = torch.ones_like(index[0], dtype=torch.bool)
    flat = torch.zeros_like(index[0])
    for axis in range(3):
        local = index[axis] - origin[axis]
        inside &= (local >= 0) & (local < sizes[axis])
        flat = flat * sizes[axis] + local
    values = table.reshape(-1)[torch.where(inside, flat, torch.zeros_like(flat))]
    return torch.where(inside, values, torch.full_like(values, default_F))


def solid_angle(
    inv_distance: torch.Tensor, pixel_size: float, close_distance: float, point_pixel: bool
) -> torch.Tensor:
    """Pixel solid angle (sr): ``px²/R² · close_distance/R``; ``1/R²`` for point pixels.

    Args:
        inv_distance: ``[...]`` 1/R, R the sample-to-pixel distance (m).
        pixel_size: pixel edge (m).
        close_distance: sample to detector plane along its normal (m).
        point_pixel: drop the obliquity factor.
    """
    inv = inv_distance
    if point_pixel:
        return inv * inv
    return (pixel_size * pixel_size * close_distance) * inv * inv * inv


def capture_fraction(
    parallax: torch.Tensor, layer: torch.Tensor, thickstep: float, mu: float
) -> torch.Tensor:
    """Fraction of photons absorbed in sensor layer ``t``.

    ``exp(−t·Δz·µ/ρ) − exp(−(t+1)·Δz·µ/ρ)`` with ``ρ = d·o`` the obliquity.

    Args:
        parallax: ``[...]`` ρ, cosine between the ray and the detector normal.
        layer: ``[...]`` (broadcastable) layer index t.
        thickstep: Δz (m).
        mu: µ, inverse attenuation depth (1/m).
    """
    depth = thickstep * mu / parallax
    return torch.exp(-layer * depth) - torch.exp(-(layer + 1.0) * depth)


def polarization_factor(
    cos2theta: torch.Tensor, e_out: torch.Tensor, b_out: torch.Tensor, kahn: float
) -> torch.Tensor:
    """Kahn polarisation factor ``½(1 + cos²2θ − K·cos2ψ·sin²2θ)``.

    ``ψ = −atan2(d·B_in, d·E_in)`` is the azimuth of the diffracted ray about the incident
    beam, from the E-vector; ``cos2ψ = (E² − B²)/(E² + B²)`` (1 along the beam).

    Args:
        cos2theta: ``[...]`` cosine of the scattering angle, ``i·d``.
        e_out: ``[...]`` component ``d·E_in``.
        b_out: ``[...]`` component ``d·B_in``.
        kahn: K (0 unpolarised, 1 fully polarised along E_in).
    """
    c2 = cos2theta * cos2theta
    if kahn == 0.0:
        return 0.5 * (1.0 + c2)
    e2, b2 = e_out * e_out, b_out * b_out
    norm = e2 + b2
    cos2psi = torch.where(norm > 0, (e2 - b2) / torch.where(norm > 0, norm, 1.0), 1.0)
    return 0.5 * (1.0 + c2 - kahn * cos2psi * (1.0 - c2))
