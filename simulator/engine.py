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
from functools import partial
from typing import Any

import numpy as np
import torch

from simulator import kernels
from simulator.chunk_budget import default_chunk_elements
from simulator.config import SimulationConfig
from simulator.cpu_threads import BlockThreads, Pixel, block_corners, block_workers
from simulator.curved_detector import curved_positions
from simulator.devices import as_device
from simulator.flags import parse_flags
from simulator.normalisation import PerTerm, first_polarisation, running_product_intensity
from simulator.precision import ENGINE_MATMUL_PRECISION, pinned_matmul_precision
from simulator.resolve import resolve
from simulator.setup import Setup
from simulator.tricubic import (
    InterpolationStop,
    amplitudes_until_out_of_range,
    eligible_samples,
    reached_pixels,
    stop_in_block,
)

#: Elements per sample while interpolating (the 4×4×4 neighbourhood and its indices).
INTERPOLATION_COST = 24

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def as_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float32" | "float64"`` (or a torch dtype) as a torch floating dtype."""
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ValueError(f"dtype: expected float32 or float64, got {dtype}")
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype: expected {' or '.join(sorted(DTYPES))}, got {dtype!r}")
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
    projection: torch.Tensor  # [3, J]: a lab vector -> every quantity above
    frame: torch.Tensor  # [3, 3] rows: beam, sdet, fdet (the -curved_det mapping)


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
            cache-sized block on CPU; on a GPU, from its free memory when the engine is
            built (:mod:`simulator.chunk_budget`).
        compile: fuse the per-block kernel with ``torch.compile`` (the first render pays
            the compilation; where compiling fails it falls back to eager, with a warning,
            and :attr:`compile_error` says why).

    Renders run with float32 matmul precision ``"highest"`` (no TF32) whatever the process
    allows, and put the caller's setting back (:mod:`simulator.precision`).
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
        self.device = as_device(device)
        self.dtype = as_dtype(dtype)
        #: free device memory (bytes) the block size was chosen from; None when given or CPU
        self.free_bytes_at_build: int | None = None
        if chunk_elements is None:
            chunk_elements, self.free_bytes_at_build = default_chunk_elements(
                self.device, self.dtype
            )
        if chunk_elements < 1:
            raise ValueError(f"chunk_elements: expected a positive count, got {chunk_elements}")
        self.chunk_elements = chunk_elements
        self.compile = compile
        #: why torch.compile fell back to eager (``"ExcType: first line"``), or None
        self.compile_error: str | None = None
        #: where the last render turned interpolation off (nanoBragg's warning), if it did
        self.interpolation_stop: InterpolationStop | None = None
        self._t = self._build()
        self._block = self._render_block
        self._threads = BlockThreads(block_workers(self.device, compile))  # before any profiler
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
            projection=self._tensor(projection),
            frame=self._tensor(np.stack([s.odet if s.beam is None else s.beam, s.sdet, s.fdet])),
        )

    # ----------------------------------------------------------------------------------
    # rendering
    # ----------------------------------------------------------------------------------

    @property
    def orientations(self) -> int:
        """Phi steps × mosaic domains."""
        return self.setup.phisteps * self.setup.n_domains

    def _samples(self) -> int:
        """Samples per pixel: layers × sub-pixels × sources × orientations."""
        s = self.setup
        return s.thicksteps * s.oversample**2 * s.n_sources * self.orientations

    def _per_pixel(self, interpolating: bool = False) -> int:
        return self._samples() * (INTERPOLATION_COST if interpolating else 3)

    def blocks(self, interpolating: bool = False) -> tuple[int, int]:
        """(rows, columns) of a chunk, from the other dimensions and :attr:`chunk_elements`.

        A chunk narrower than the image is one row high: chunks run in nanoBragg's pixel
        order (slow outer, fast inner), which interpolation's switch-off depends on.
        """
        xmin, xmax, _, _ = self.setup.roi
        per_pixel = self._per_pixel(interpolating)
        width = max(min(xmax, self.setup.fpixels - 1) - xmin + 1, 1)
        columns = max(1, min(width, self.chunk_elements // per_pixel))
        if self.compile:  # one full-width block shape: compiled once, cropped at the edges
            columns = width
        rows = max(1, self.chunk_elements // (per_pixel * columns))
        return (rows if columns == width else 1), columns

    def block_elements(self) -> int:
        """Elements of the largest per-block tensor a render makes.

        At most :attr:`chunk_elements`, unless a single row of pixels is larger (without
        interpolation, whose blocks are sized for its neighbourhoods).
        """
        rows, columns = self.blocks()
        return min(rows, self.setup.spixels) * columns * self._per_pixel()

    @torch.no_grad()
    def render(self) -> torch.Tensor:
        """Render the float image, ``[spixels, fpixels]`` on :attr:`device` in :attr:`dtype`."""
        s = self.setup
        xmin, xmax, ymin, ymax = s.roi
        xmax, ymax = min(xmax, s.fpixels - 1), min(ymax, s.spixels - 1)
        image = torch.zeros(s.spixels, s.fpixels, dtype=self.dtype, device=self.device)
        if xmax < xmin or ymax < ymin:
            return image
        self.interpolation_stop = None
        interpolating = s.interpolate and self._t.table is not None
        end = (ymax + 1, xmax + 1)
        top = ymin
        with pinned_matmul_precision():
            while top <= ymax:  # the loops left: blocks of pixels
                rows, columns = self.blocks(interpolating)
                rows = min(rows, ymax - ymin + 1)
                shape = (rows, columns)
                if not interpolating:  # the rest in any order: on CPU, whole blocks per thread
                    paint = partial(self._paint, image, shape=shape, end=end)
                    corners = block_corners((top, xmin), end, shape)
                    workers = block_workers(self.device, self.compile)
                    self._threads.for_each_block(paint, corners, workers)
                    break
                # interpolating: in nanoBragg's pixel order, until a sample leaves the HKL grid
                bottom = min(top + rows, ymax + 1)
                slow = torch.arange(top, top + rows, device=self.device, dtype=self.dtype)
                for left in range(xmin, xmax + 1, columns):
                    if not interpolating:
                        self._paint(image, (top, left), shape, end)
                        continue
                    right = min(left + columns, xmax + 1)
                    fast = torch.arange(left, left + columns, device=self.device, dtype=self.dtype)
                    mask = None if self._t.mask is None else self._t.mask[top:bottom, left:right]
                    reached = reached_pixels(shape, (bottom - top, right - left), mask, self.device)
                    block, first, hkl = self._run_block(slow, fast, reached)
                    self.interpolation_stop = stop_in_block(  # one sync per block
                        int(first), hkl, self._samples(), (top, left), shape
                    )
                    interpolating = self.interpolation_stop is None
                    image[top:bottom, left:right] = block[: bottom - top, : right - left]
                top = bottom
        if self._t.mask is not None:
            image = image * self._t.mask
        return image

    def _paint(self, image: torch.Tensor, corner: Pixel, shape: Pixel, end: Pixel) -> Any:
        """Render the ``shape`` block at ``corner`` into ``image``, cropped before ``end``."""
        (top, left), (rows, columns) = corner, shape
        bottom, right = min(top + rows, end[0]), min(left + columns, end[1])
        slow = torch.arange(top, top + rows, device=self.device, dtype=self.dtype)
        fast = torch.arange(left, left + columns, device=self.device, dtype=self.dtype)
        block = self._run_block(slow, fast)
        image[top:bottom, left:right] = block[: bottom - top, : right - left]
        return block  # see cpu_threads.for_each_block: held until the next block is done

    def _run_block(
        self, slow: torch.Tensor, fast: torch.Tensor, reached: torch.Tensor | None = None
    ) -> Any:
        if self._block is not self._render_block:
            try:
                return self._block(slow, fast, reached)
            except Exception as exc:  # compilation can fail: no compiler, unsupported op
                lines = str(exc).strip().splitlines()
                self.compile_error = f"{type(exc).__name__}: {lines[0] if lines else ''}".strip()
                warnings.warn(
                    f"torch.compile failed ({self.compile_error}); rendering in eager mode",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self._block = self._render_block
                self.compile = False
        return self._render_block(slow, fast, reached)

    def report(self) -> dict[str, Any]:
        """How this engine renders (what a farm cell records beside its timings).

        ``compiled`` is false after a fallback to eager (``compile_error`` says why);
        ``matmul_precision`` is what renders run under; ``chunk_elements`` the block size.
        """
        return {
            "compiled": bool(self.compile),
            "compile_error": self.compile_error,
            "matmul_precision": ENGINE_MATMUL_PRECISION,
            "chunk_elements": self.chunk_elements,
        }

    def _render_block(
        self, slow: torch.Tensor, fast: torch.Tensor, reached: torch.Tensor | None = None
    ) -> Any:
        """Intensities of the pixels ``slow × fast`` ([R] and [C] indices as floats) -> [R, C].

        With ``reached`` (``[R, C]`` bool, while interpolating) it also returns the visiting
        index of the first sample whose interpolation neighbourhood leaves the HKL grid
        (``numel`` when none does) and that sample's ``[3]`` Miller indices.

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
        if s.curved_detector:  # positions leave the plane: project them explicitly
            proj = t.projection.T @ curved_positions(proj[1], proj[2], s.distance, *t.frame)
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
        beam = (
            proj[3 + n_hkl : 3 + n_hkl + 3 * n_src].view(3, n_src, -1) * inv_r
        )  # i, E, B: [3, S, N]
        keep = None
        if s.dmin > 0.0:
            stol_sqr = 0.5 * (1.0 - beam[0]) * t.inv_wavelength_sqr[:, None]  # [S, N]
            keep = ~((stol_sqr > 0) & (stol_sqr * (s.dmin * s.dmin) > 0.25))
        first = None
        if t.table is None:
            term = latt * (s.hkl.default_F * s.hkl.default_F)
        else:
            origin = (s.hkl.h_min, s.hkl.k_min, s.hkl.l_min)
            amplitude = kernels.structure_factor(hkl, t.table, origin, s.hkl.default_F)
            if reached is not None:  # tricubic until the first sample out of the grid
                per_pixel = n_layers * n_sub
                water = s.water_background != 0.0
                eligible = eligible_samples(reached, per_pixel, latt, keep, n_orient, water)
                amplitude, first = amplitudes_until_out_of_range(
                    hkl, t.table, origin, amplitude, eligible
                )
            term = amplitude * amplitude * latt
        term = term.view(n_src, n_orient, -1)  # [S, KM, N]
        if keep is not None:
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
            values = intensity * first_polarisation(polar, keep, n_pix)
            values = values * (omega if n_layers * n_sub == 1 else omega.view(shaped)[:, 0])
            if capture is not None:
                values = values * capture.view(n_pix, n_layers, n_sub)[:, -1, 0]
            values = values * scale
        else:
            latt = latt.view(n_src, n_orient, -1)
            per_term = PerTerm(s.oversample_thick, s.oversample_polar, s.oversample_omega)
            intensity = running_product_intensity(
                term,
                latt,
                keep,
                polar,
                omega,
                capture,
                n_pix=n_pix,
                layers=n_layers,
                per_term=per_term,
                water_background=s.water_background,
            )
            values = scale * intensity
        if first is None:
            return values.view(n_rows, n_cols)
        index = first.clamp(max=hkl.shape[1] * hkl.shape[2] - 1)  # the sample, in [J, N]
        return (
            values.view(n_rows, n_cols),
            first,
            hkl[:, index % hkl.shape[1], index // hkl.shape[1]],
        )

    def _polarization(self, beam: torch.Tensor) -> torch.Tensor | float:
        """[S, N] polarisation factors (per term with -oversample_polar, even -nopolar: C)."""
        s = self.setup
        if s.nopolar and not s.oversample_polar:
            return torch.ones_like(beam[0])
        return kernels.polarization_factor(beam[0], beam[1], beam[2], s.kahn_factor)

    def _capture(
        self, parallax: torch.Tensor, n_pix: int, n_layers: int, n_sub: int
    ) -> torch.Tensor | None:
        """[N] capture fractions from d·o; None without a sensor (-oversample_thick: 0, as C)."""
        s, t = self.setup, self._t
        if s.detector_thick == 0.0 and not s.oversample_thick:
            return None
        parallax = parallax.view(n_pix, n_layers, n_sub)
        layer = t.layers[None, :, None]
        return kernels.capture_fraction(parallax, layer, s.thickstep, s.detector_mu).reshape(-1)
