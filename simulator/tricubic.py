"""Tricubic structure-factor interpolation (nanoBragg's ``-interpolate``), vectorised.

nanoBragg interpolates ``F_cell`` between reciprocal-lattice points with a tensor product
of cubic Lagrange polynomials through the 4×4×4 grid points around the fractional Miller
index, ``floor(h) − 1 … floor(h) + 2`` on each axis (not a spline). The neighbourhood must
lie well inside the HKL grid: a sample with ``h < h_min + 2`` or ``h > h_max − 2`` (likewise
k, l) is out of range, and at the first such sample the C program prints a warning and
turns interpolation off for the rest of the run (:func:`first_in_order` finds it).

Every kernel is a pure tensor function; Miller indices are dimensionless, amplitudes in
the HKL file's units. Works on any device and floating dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: Offsets of the four interpolation nodes from ``floor(h)`` on each axis.
NODE_OFFSETS = (-1, 0, 1, 2)


@dataclass(frozen=True)
class InterpolationStop:
    """The sample at which nanoBragg turns interpolation off: its pixel and Miller indices."""

    slow: int
    fast: int
    hkl: tuple[float, float, float]


def reached_pixels(
    shape: tuple[int, int],
    inside: tuple[int, int],
    mask: torch.Tensor | None,
    device: torch.device,
) -> torch.Tensor:
    """``[rows, columns]`` bool: a block's pixels the C program renders.

    Args:
        shape: ``(rows, columns)`` of the block.
        inside: how many of its rows and columns lie inside the image and the roi (the
            block runs past the edge and is cropped).
        mask: ``[inside rows, inside columns]`` bool (True: rendered), or None.
        device: where the block is rendered.
    """
    reached = torch.zeros(shape, dtype=torch.bool, device=device)
    reached[: inside[0], : inside[1]] = True if mask is None else mask
    return reached


def stop_in_block(
    first: int,
    hkl: torch.Tensor,
    samples_per_pixel: int,
    corner: tuple[int, int],
    shape: tuple[int, int],
) -> InterpolationStop | None:
    """Where a block of pixels turned interpolation off, or None if it did not.

    Args:
        first: visiting index of the first out-of-range sample in the block (samples per
            pixel × pixels when there is none); pixels are row-major in the block.
        hkl: ``[3]`` Miller indices of that sample.
        samples_per_pixel: layers × sub-pixels × sources × orientations.
        corner: ``(slow, fast)`` of the block's first pixel.
        shape: ``(rows, columns)`` of the block.
    """
    pixel = first // samples_per_pixel
    if pixel >= shape[0] * shape[1]:
        return None
    row, col = divmod(pixel, shape[1])
    return InterpolationStop(corner[0] + row, corner[1] + col, tuple(float(v) for v in hkl))


def lagrange_weights(frac: torch.Tensor) -> torch.Tensor:
    """Cubic Lagrange weights of the nodes ``−1, 0, 1, 2`` at ``t = h − floor(h)``.

    ``w_i(t) = Π_{j≠i} (t − x_j)/(x_i − x_j)`` with nodes ``x = (−1, 0, 1, 2)``:
    ``w = (−t(t−1)(t−2)/6, (t+1)(t−1)(t−2)/2, −(t+1)t(t−2)/2, (t+1)t(t−1)/6)``.
    They sum to 1, and at ``t = 0`` are ``(0, 1, 0, 0)`` (the grid value itself).

    Args:
        frac: ``[...]`` offsets t in [0, 1).

    Returns:
        ``[4, ...]`` weights.
    """
    t = frac
    tp1, tm1, tm2 = t + 1.0, t - 1.0, t - 2.0
    return torch.stack(
        [
            -t * tm1 * tm2 / 6.0,
            tp1 * tm1 * tm2 / 2.0,
            -tp1 * t * tm2 / 2.0,
            tp1 * t * tm1 / 6.0,
        ]
    )


def out_of_range(
    hkl: torch.Tensor, origin: tuple[int, int, int], sizes: tuple[int, int, int]
) -> torch.Tensor:
    """Samples whose interpolation neighbourhood leaves the HKL grid, as nanoBragg tests it.

    Per axis with range ``n`` (= max − min + 1): out when ``h − h_min + 3 > n`` or
    ``h − 2 < h_min``, on the fractional index.

    Args:
        hkl: ``[3, ...]`` fractional Miller indices.
        origin: ``(h_min, k_min, l_min)``.
        sizes: ``(h_range, k_range, l_range)``.

    Returns:
        ``[...]`` bool.
    """
    out = torch.zeros_like(hkl[0], dtype=torch.bool)
    for axis in range(3):  # the three Miller axes
        index = hkl[axis]
        out |= (index - origin[axis] + 3.0 > sizes[axis]) | (index - 2.0 < origin[axis])
    return out


def tricubic_structure_factor(
    hkl: torch.Tensor, table: torch.Tensor, origin: tuple[int, int, int]
) -> torch.Tensor:
    """Tricubic ``F_cell`` at fractional Miller indices.

    ``F(h, k, l) = Σ_{i,j,m} w_i(h) w_j(k) w_m(l) · F[⌊h⌋−1+i, ⌊k⌋−1+j, ⌊l⌋−1+m]`` with the
    weights of :func:`lagrange_weights`. Neighbours outside the table are clamped to its
    edge: such samples are :func:`out_of_range`, and the caller replaces them.

    Args:
        hkl: ``[3, ...]`` fractional Miller indices.
        table: ``[nh, nk, nl]`` amplitudes of ``(h, k, l) − origin``.
        origin: ``(h_min, k_min, l_min)``.

    Returns:
        ``[...]`` interpolated amplitudes.
    """
    batch = hkl.shape[1:]
    flat_hkl = hkl.reshape(3, -1)
    floor = torch.floor(flat_hkl)
    weights = lagrange_weights(flat_hkl - floor)  # [4 nodes, 3 axes, M]
    sizes = table.shape
    index_dtype = torch.int32 if table.numel() < 2**31 else torch.int64
    offsets = torch.tensor(NODE_OFFSETS, device=hkl.device, dtype=index_dtype)
    flat_index = None
    for axis in range(3):  # the three Miller axes: combine the node indices into flat ones
        base = floor[axis].to(index_dtype) - origin[axis]
        nodes = (base[None, :] + offsets[:, None]).clamp_(0, sizes[axis] - 1)  # [4, M]
        shape = [1, 1, 1, nodes.shape[1]]
        shape[axis] = 4
        nodes = nodes.view(shape)
        flat_index = nodes if flat_index is None else flat_index * sizes[axis] + nodes
    values = torch.index_select(table.reshape(-1), 0, flat_index.reshape(-1))
    values = values.view(4, 4, 4, -1)  # [h node, k node, l node, M]
    values = (values * weights[:, 2][None, None]).sum(2)  # over l nodes -> [4, 4, M]
    values = (values * weights[:, 1][None]).sum(1)  # over k nodes -> [4, M]
    values = (values * weights[:, 0]).sum(0)  # over h nodes -> [M]
    return values.view(batch)


def first_in_order(flags: torch.Tensor) -> torch.Tensor:
    """Flat index of the first ``True`` of ``flags`` in row-major order; ``numel`` if none.

    Args:
        flags: ``[...]`` bool, laid out in the order the samples are visited.

    Returns:
        0-d int64 tensor.
    """
    flat = flags.reshape(-1)
    if flat.numel() == 0:
        return torch.zeros((), dtype=torch.int64, device=flags.device)
    first = torch.argmax(flat.to(torch.uint8))
    return torch.where(flat[first], first, torch.full_like(first, flat.numel()))


def amplitudes_until_out_of_range(
    hkl: torch.Tensor,
    table: torch.Tensor,
    origin: tuple[int, int, int],
    nearest: torch.Tensor,
    eligible: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``F_cell`` of a block as nanoBragg computes it while interpolation is on.

    Samples are visited in nanoBragg's order: position ``n`` (pixel, layer, sub-pixel)
    outer, then ``j`` (source, φ step, mosaic domain); the visiting index is
    ``n·J + j``. Samples before the first *eligible* out-of-range one are interpolated;
    that one and every later one take the nearest-neighbour amplitude (the C program
    switches interpolation off there, for the rest of the run).

    Args:
        hkl: ``[3, J, N]`` fractional Miller indices.
        table: ``[nh, nk, nl]`` amplitudes of ``(h, k, l) − origin``.
        origin: ``(h_min, k_min, l_min)``.
        nearest: ``[J, N]`` nearest-neighbour amplitudes.
        eligible: ``[J, N]`` (or broadcastable) samples the C loop reaches this far (inside
            the image, roi and mask, not cut by ``-dmin``, non-zero lattice factor).

    Returns:
        ``([J, N]`` amplitudes, 0-d int64 visiting index of the first out-of-range sample,
        ``J·N`` when there is none``)``.
    """
    n_j, n_pos = hkl.shape[1], hkl.shape[2]
    outside = out_of_range(hkl, origin, tuple(table.shape)) & eligible
    first = first_in_order(outside.T)  # [N, J]: nanoBragg's visiting order
    position = torch.arange(n_pos, device=hkl.device, dtype=torch.int64)
    order = position[None, :] * n_j + torch.arange(n_j, device=hkl.device)[:, None]
    interpolated = tricubic_structure_factor(hkl, table, origin)
    return torch.where(order < first, interpolated, nearest), first


def eligible_samples(
    reached: torch.Tensor,
    per_pixel: int,
    latt: torch.Tensor,
    keep: torch.Tensor | None,
    orientations: int,
    water: bool,
) -> torch.Tensor:
    """The samples nanoBragg's loop takes as far as ``F_cell``: ``[J, N]`` bool.

    A sample is reached when its pixel is rendered (inside the image, the roi and the
    mask), its source is not cut by ``-dmin``, and its lattice factor is not zero (the C
    program skips zero lattice factors before ``F_cell``, unless there is water).

    Args:
        reached: ``[P]`` pixels the C program renders.
        per_pixel: positions per pixel (layers × sub-pixels).
        latt: ``[J, N]`` F_latt², J = sources × orientations.
        keep: ``[S, N]`` sources inside the resolution cut, or None.
        orientations: φ steps × mosaic domains (J / S).
        water: a water background is on.
    """
    eligible = reached.reshape(-1, 1).expand(-1, per_pixel).reshape(1, -1)
    if not water:
        eligible = eligible & (latt != 0)
    if keep is not None:
        n_src = keep.shape[0]
        by_source = keep[:, None, :].expand(n_src, orientations, keep.shape[1])
        eligible = eligible & by_source.reshape(n_src * orientations, -1)
    return eligible
