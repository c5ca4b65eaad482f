"""The vectorised PyTorch engine: render a :class:`Setup` on any device, in float32 or float64.

The detector is processed in chunks of pixels; inside a chunk every sensor layer, subpixel,
source, phi step and mosaic domain is a tensor dimension, so the only Python loop left is
the one over chunks (sized from those dimensions so memory stays bounded).

Normalisation follows nanoBragg: ``pixel = r_e²·fluence·(I_bg + Σ F_cell²·F_latt²)/steps``
times the capture fraction (last layer), polarisation (first source) and solid angle (first
subpixel) left over from its loop — unless ``-oversample_thick/_polar/_omega`` ask for them
per subpixel, in which case the running sum is multiplied by the factor after every term,
exactly as the C program does.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from simulator import kernels
from simulator.config import SimulationConfig
from simulator.flags import parse_flags
from simulator.resolve import resolve
from simulator.setup import Setup

#: Elements of the largest per-chunk tensor ([3, sources × orientations, pixels × layers ×
#: subpixels]); bounds memory whatever the detector size. On CPU a block that stays in
#: cache is fastest; GPUs want enough work per launch.
CPU_CHUNK_ELEMENTS = 1 << 18
GPU_CHUNK_ELEMENTS = 1 << 24

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def as_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float32" | "float64"`` (or a torch dtype) as a torch floating dtype."""
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ValueError(f"dtype: expected float32 or float64, got {dtype}")
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype: expected one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


@dataclass(frozen=True)
class _Tensors:
    """The Setup's constants on the engine's device and dtype.

    ``projection`` maps a lab vector to every quantity the model needs from it: the
    columns are x, y, z (for R), the Miller-index weights of every (source, orientation)
    ``row/λ_s``, then the incident, E and B directions of every source, then the detector
    normal. A position's projections are linear in the pixel's fast and slow coordinates,
    so a block of pixels gets them as an outer sum of a row part and a column part.
    """

    row_origin: torch.Tensor  # [J, T]: (pix0 + t·Δz·odet)·projection
    slow_axis: torch.Tensor  # [J]: sdet·projection
    fast_axis: torch.Tensor  # [J]: fdet·projection
    subpixel: torch.Tensor  # [oversample] offsets within a pixel, in pixels
    layers: torch.Tensor  # [T] layer index
    hkl_offset: torch.Tensor  # [3, S*KM]: (orientation row)·i_s/λ_s
    inv_wavelength_sqr: torch.Tensor  # [S]
    reciprocal: torch.Tensor  # [3, 3] rows a*, b*, c* (1/Å)
    table: torch.Tensor | None  # [nh, nk, nl] structure factors
    mask: torch.Tensor | None  # [spixels, fpixels] bool


def _unit_rows(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm != 0)


class Simulation:
    """A diffraction image renderer: construct once (cold), :meth:`render` many times (warm).

    Args:
        config: a parsed configuration, or an already resolved :class:`Setup`.
        device: torch device, e.g. ``"cpu"`` or ``"cuda"``.
        dtype: ``"float32"`` or ``"float64"``.
        chunk_elements: bound on the largest per-chunk tensor (elements); default: a
            cache-sized block on CPU, a larger one on GPUs.
        compile: fuse the per-block kernel with ``torch.compile`` (the first render pays
            the compilation; falls back to eager, with a warning, where compiling fails).
    """

    def __init__(
        self,
        config: SimulationConfig | Setup,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        chunk_elements: int | None = None,
        compile: bool = False,
    ) -> None:
        self.config = config if isinstance(config, SimulationConfig) else None
        self.setup = resolve(config) if isinstance(config, SimulationConfig) else config
        self.device = torch.device(device)
        self.dtype = as_dtype(dtype)
        if chunk_elements is None:
            chunk_elements = (
                GPU_CHUNK_ELEMENTS if self.device.type == "cuda" else CPU_CHUNK_ELEMENTS
            )
        if chunk_elements < 1:
            raise ValueError(f"chunk_elements: expected a positive count, got {chunk_elements}")
        self.chunk_elements = chunk_elements
        self.compile = compile
        self._t = self._build()
        self._block = self._render_block
        if compile:
            self._block = torch.compile(self._render_block, dynamic=False, fullgraph=False)

    @classmethod
    def from_flags(
        cls,
        flags: str | Sequence[str],
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        **kwargs: Any,
    ) -> Simulation:
        """Parse nanoBragg flags and build a simulation."""
        return cls(parse_flags(flags), device=device, dtype=dtype, **kwargs)

    # ----------------------------------------------------------------------------------
    # construction
    # ----------------------------------------------------------------------------------

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(
            np.asarray(array, dtype=np.float64), dtype=self.dtype, device=self.device
        )

    def _build(self) -> _Tensors:
        s = self.setup
        cell = np.stack([s.a0, s.b0, s.c0], axis=1)  # columns a, b, c (m)
        # orientation of every (phi step, mosaic domain): rows a, b, c -> [KM, 3, 3]
        orient = np.einsum("mij,kjl,ln->kmni", s.mosaic_umats, s.phi_rotations, cell).reshape(
            -1, 3, 3
        )
        inv_lambda = 1.0 / s.wavelengths  # [S]
        matrix = orient[None, :, :, :] * inv_lambda[:, None, None, None]  # [S, KM, 3, 3]
        offset = np.einsum("skax,sx->ask", matrix, s.incident).reshape(3, -1)  # [3, S*KM]
        b_in = _unit_rows(np.cross(s.polar_vector[None, :], s.incident))
        e_in = _unit_rows(np.cross(s.incident, b_in))
        hkl_columns = matrix.transpose(2, 0, 1, 3).reshape(-1, 3).T  # [3, 3*S*KM] (axis, s, km)
        projection = np.concatenate(
            [np.eye(3), hkl_columns, s.incident.T, e_in.T, b_in.T, s.odet[:, None]], axis=1
        )  # [3, J]
        depth = np.arange(s.thicksteps)[:, None] * s.thickstep * s.odet[None, :]  # [T, 3]
        os_ = s.oversample
        mask = None
        if s.mask is not None:
            mask = torch.as_tensor(s.mask, device=self.device)
        return _Tensors(
            row_origin=self._tensor(((s.pix0[None, :] + depth) @ projection).T),
            slow_axis=self._tensor(s.sdet @ projection),
            fast_axis=self._tensor(s.fdet @ projection),
            subpixel=self._tensor((np.arange(os_) + 0.5) / os_),
            layers=self._tensor(np.arange(s.thicksteps)),
            hkl_offset=self._tensor(offset),
            inv_wavelength_sqr=self._tensor(inv_lambda**2),
            reciprocal=self._tensor(np.stack([s.a_star, s.b_star, s.c_star])),
            table=None if s.hkl.F is None else self._tensor(s.hkl.F),
            mask=mask,
        )

    # ----------------------------------------------------------------------------------
    # rendering
    # ----------------------------------------------------------------------------------

    @property
    def orientations(self) -> int:
        """Phi steps × mosaic domains."""
        return self.setup.phisteps * self.setup.n_domains

    def _per_pixel(self) -> int:
        s = self.setup
        return s.thicksteps * s.oversample**2 * s.n_sources * self.orientations * 3

    def blocks(self) -> tuple[int, int]:
        """(rows, columns) of a chunk, from the other dimensions and :attr:`chunk_elements`."""
        xmin, xmax, _, _ = self.setup.roi
        width = max(min(xmax, self.setup.fpixels - 1) - xmin + 1, 1)
        columns = max(1, min(width, self.chunk_elements // self._per_pixel()))
        if self.compile:  # one full-width block shape: compiled once, cropped at the edges
            columns = width
        rows = max(1, self.chunk_elements // (self._per_pixel() * columns))
        return rows, columns

    @torch.no_grad()
    def render(self) -> torch.Tensor:
        """Render the float image, ``[spixels, fpixels]`` on :attr:`device` in :attr:`dtype`."""
        s = self.setup
        xmin, xmax, ymin, ymax = s.roi
        xmax, ymax = min(xmax, s.fpixels - 1), min(ymax, s.spixels - 1)
        image = torch.zeros(s.spixels, s.fpixels, dtype=self.dtype, device=self.device)
        if xmax < xmin or ymax < ymin:
            return image
        rows, columns = self.blocks()
        rows = min(rows, ymax - ymin + 1)
        for top in range(ymin, ymax + 1, rows):  # the loops left: blocks of pixels
            bottom = min(top + rows, ymax + 1)
            # every block has the same shape (a compiled kernel compiles once); the last
            # ones run past the edge and are cropped
            slow = torch.arange(top, top + rows, device=self.device, dtype=self.dtype)
            for left in range(xmin, xmax + 1, columns):
                right = min(left + columns, xmax + 1)
                fast = torch.arange(left, left + columns, device=self.device, dtype=self.dtype)
                block = self._run_block(slow, fast)
                image[top:bottom, left:right] = block[: bottom - top, : right - left]
        if self._t.mask is not None:
            image = image * self._t.mask
        return image

    def _run_block(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        if self._block is self._render_block:
            return self._render_block(slow, fast)
        try:
            return self._block(slow, fast)
        except Exception as exc:  # compilation can fail: no compiler, unsupported op
            warnings.warn(
                f"torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                "rendering in eager mode",
                RuntimeWarning,
                stacklevel=3,
            )
            self._block = self._render_block
            self.compile = False
            return self._render_block(slow, fast)

    def _render_block(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        """Intensities of the pixels ``slow × fast`` ([R] and [C] indices as floats) -> [R, C].

        Tensors are quantity-major: ``[quantity…, N]`` with N = pixels × layers × subpixels
        (pixel outer, then layer, slow subpixel, fast subpixel: nanoBragg's loop order).
        """
        s, t = self.setup, self._t
        n_rows, n_cols, n_layers, os_ = slow.shape[0], fast.shape[0], s.thicksteps, s.oversample
        n_sub, n_src, n_orient = os_ * os_, s.n_sources, self.orientations
        n_pix = n_rows * n_cols

        # projections of every position: outer sum of a row part and a column part
        s_m = (slow[:, None] + t.subpixel) * s.pixel_size  # [R, os]
        f_m = (fast[:, None] + t.subpixel) * s.pixel_size  # [C, os]
        row = (
            t.row_origin[:, None, :, None]
            + t.slow_axis[:, None, None, None] * s_m[None, :, None, :]
        )
        col = t.fast_axis[:, None, None] * f_m[None]  # [J, C, os]
        proj = (row[:, :, None, :, :, None] + col[:, None, :, None, None, :]).reshape(
            len(t.fast_axis), -1
        )
        x, y, z = proj[0], proj[1], proj[2]
        inv_r = torch.rsqrt(x * x + y * y + z * z)  # [N] 1/R
        n_hkl = 3 * n_src * n_orient

        # Miller indices of every (source, orientation) at every position: [3, S*KM, N]
        hkl = torch.addcmul(
            -t.hkl_offset[:, :, None], proj[3 : 3 + n_hkl].view(3, -1, proj.shape[1]), inv_r
        )
        latt = kernels.lattice_factor_squared(
            hkl, s.shape, (s.Na, s.Nb, s.Nc), s.fudge, t.reciprocal
        )
        if t.table is None:
            term = latt * (s.hkl.default_F * s.hkl.default_F)
        else:
            amplitude = kernels.structure_factor(
                hkl, t.table, (s.hkl.h_min, s.hkl.k_min, s.hkl.l_min), s.hkl.default_F
            )
            term = amplitude * amplitude * latt
        term = term.view(n_src, n_orient, -1)  # [S, KM, N]

        beam = (
            proj[3 + n_hkl : 3 + n_hkl + 3 * n_src].view(3, n_src, -1) * inv_r
        )  # i, E, B: [3, S, N]
        keep = None
        if s.dmin > 0.0:
            stol_sqr = 0.5 * (1.0 - beam[0]) * t.inv_wavelength_sqr[:, None]  # [S, N]
            keep = ~((stol_sqr > 0) & (stol_sqr * (s.dmin * s.dmin) > 0.25))
            term = term * keep[:, None, :]
        polar = self._polarization(beam)  # [S, N]
        omega = kernels.solid_angle(inv_r, s.pixel_size, s.close_distance, s.point_pixel)  # [N]
        capture = self._capture(proj[-1] * inv_r, n_pix, n_layers, n_sub)  # [N] or None

        scale = s.r_e_sqr * s.fluence / s.steps
        shaped = (n_pix, n_layers * n_sub)
        if not (s.oversample_thick or s.oversample_polar or s.oversample_omega):
            intensity = term.sum(dim=(0, 1))
            if n_layers * n_sub > 1:
                intensity = intensity.view(shaped).sum(-1)
            if s.water_background:
                intensity = intensity + s.water_background
            values = intensity * self._first_polar(polar, keep, n_pix)
            values = values * (omega if n_layers * n_sub == 1 else omega.view(shaped)[:, 0])
            if capture is not None:
                values = values * capture.view(n_pix, n_layers, n_sub)[:, -1, 0]
            values = values * scale
        else:
            latt = latt.view(n_src, n_orient, -1)
            values = scale * self._oversampled(term, latt, keep, polar, omega, capture, n_pix)
        return values.view(n_rows, n_cols)

    def _polarization(self, beam: torch.Tensor) -> torch.Tensor | float:
        """[S, N] polarisation factors from the [3, S, N] projections on i, E, B."""
        s = self.setup
        if s.nopolar:
            return torch.ones_like(beam[0])
        return kernels.polarization_factor(beam[0], beam[1], beam[2], s.kahn_factor)

    def _capture(
        self, parallax: torch.Tensor, n_pix: int, n_layers: int, n_sub: int
    ) -> torch.Tensor | None:
        """[N] capture fractions from the [N] obliquities d·o; None without a sensor model."""
        s, t = self.setup, self._t
        if s.detector_thick == 0.0:
            return None
        parallax = parallax.view(n_pix, n_layers, n_sub)
        layer = t.layers[None, :, None]
        return kernels.capture_fraction(parallax, layer, s.thickstep, s.detector_mu).reshape(-1)

    def _first_polar(
        self, polar: torch.Tensor, keep: torch.Tensor | None, n_pix: int
    ) -> torch.Tensor:
        """Polarisation of the first (layer, subpixel, source) the C loop does not skip: [P]."""
        if keep is None:
            first = polar[0]
            return first if first.shape[0] == n_pix else first.view(n_pix, -1)[:, 0]
        per_pixel = polar.T.reshape(n_pix, -1)  # loop order (layer, subpixel, source)
        valid = keep.T.reshape(n_pix, -1)
        index = torch.argmax(valid.to(torch.int8), dim=1)
        chosen = per_pixel.gather(1, index[:, None])[:, 0]
        return torch.where(valid.any(dim=1), chosen, torch.zeros_like(chosen))

    def _oversampled(
        self,
        term: torch.Tensor,
        latt: torch.Tensor,
        keep: torch.Tensor | None,
        polar: torch.Tensor,
        omega: torch.Tensor,
        capture: torch.Tensor | None,
        n_pix: int,
    ) -> torch.Tensor:
        """nanoBragg's running-product normalisation for ``-oversample_thick/_polar/_omega``.

        In loop order (layer, subpixel, source, phi, domain) the C program does
        ``I = (I + term_j)·g_j`` with ``g_j`` the product of the per-subpixel factors asked
        for; skipped iterations leave ``I`` alone. So
        ``I = I_bg·Π g + Σ_j term_j·Π_{i>=j} g_i``; the factors not asked for multiply the
        result once, with the values the loop leaves (as in the plain path).

        Args:
            term: ``[S, KM, N]`` F_cell²·F_latt².
            latt: ``[S, KM, N]`` F_latt² (zero: an iteration the C loop skips).
            keep: ``[S, N]`` sources inside the resolution cut, or None.
            polar: ``[S, N]`` polarisation factors.
            omega: ``[N]`` solid angles.
            capture: ``[N]`` capture fractions, or None without a sensor model.
            n_pix: pixels in the block.
        """
        s = self.setup
        n_layers, n_sub = s.thicksteps, s.oversample**2
        ones = torch.ones_like(omega)
        gain = torch.ones_like(term)
        if s.oversample_thick:
            gain = gain * (capture if capture is not None else ones)
        if s.oversample_polar:
            gain = gain * polar[:, None, :]
        if s.oversample_omega:
            gain = gain * omega
        skipped = torch.zeros_like(term, dtype=torch.bool)
        if s.water_background == 0.0:  # nanoBragg skips zero lattice factors without water
            skipped = latt == 0
        if keep is not None:
            skipped = skipped | ~keep[:, None, :]
        gain = torch.where(skipped, torch.ones_like(gain), gain)
        order = (2, 0, 1)  # per pixel: (layer, subpixel) outer, then source, orientation
        gain = gain.permute(order).reshape(n_pix, -1)
        suffix = torch.flip(torch.cumprod(torch.flip(gain, dims=[1]), dim=1), dims=[1])
        flat_term = term.permute(order).reshape(n_pix, -1)
        intensity = (flat_term * suffix).sum(-1) + s.water_background * suffix[:, 0]
        if not s.oversample_thick and capture is not None:
            intensity = intensity * capture.view(n_pix, n_layers, n_sub)[:, -1, 0]
        if not s.oversample_polar:
            intensity = intensity * self._first_polar(polar, keep, n_pix)
        if not s.oversample_omega:
            intensity = intensity * omega.view(n_pix, -1)[:, 0]
        return intensity
