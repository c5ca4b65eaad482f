"""The ``nanobrag_torch`` target: the port the seed came from, behind the farm's factory signature.

Only where the ``nanobrag_torch`` package is importable (cells are skipped otherwise); it maps
a subset of nanoBragg flags onto the port's config objects.
"""

from __future__ import annotations

import shlex
from typing import Any

#: The nanoBragg flags the adapter maps onto nanobrag_torch's configs: (config field, arity).
_NBT_FLAGS: dict[str, tuple[str, int]] = {
    "-default_F": ("default_F", 1),
    "-cell": ("cell", 6),
    "-N": ("N", 1),
    "-Na": ("Na", 1),
    "-Nb": ("Nb", 1),
    "-Nc": ("Nc", 1),
    "-lambda": ("wavelength_A", 1),
    "-wave": ("wavelength_A", 1),
    "-distance": ("distance_mm", 1),
    "-pixel": ("pixel_size_mm", 1),
    "-oversample": ("oversample", 1),
}


def _nbt_options(flags: str) -> dict[str, Any]:
    """Parse the flag subset the adapter supports; anything else raises :class:`ValueError`."""
    words = shlex.split(flags)
    out: dict[str, Any] = {}
    i = 0
    while i < len(words):
        flag = words[i]
        if flag not in _NBT_FLAGS:
            supported = " ".join(sorted(_NBT_FLAGS))
            raise ValueError(
                f"nanobrag_torch adapter: flag {flag!r} not mapped (maps: {supported})"
            )
        name, arity = _NBT_FLAGS[flag]
        values = words[i + 1 : i + 1 + arity]
        if len(values) != arity:
            raise ValueError(f"nanobrag_torch adapter: {flag} needs {arity} value(s)")
        nums = [float(v) for v in values]
        out[name] = nums if arity > 1 else nums[0]
        i += 1 + arity
    return out


def nanobrag_torch_factory(size: int, device: str, dtype: str, params: dict[str, Any]):
    """Build a ``nanobrag_torch`` Simulator for the cell (cold) and return its ``run``.

    Maps the flag subset in :data:`_NBT_FLAGS` the way the port's own benchmark script did:
    MOSFLM convention, square crystal shape, ``-detpixels`` = ``size``.
    """
    import torch
    from nanobrag_torch.config import (
        BeamConfig,
        CrystalConfig,
        CrystalShape,
        DetectorConfig,
        DetectorConvention,
    )
    from nanobrag_torch.models.crystal import Crystal
    from nanobrag_torch.models.detector import Detector
    from nanobrag_torch.simulator import Simulator

    opts = _nbt_options(params.get("flags", ""))
    cell = opts.get("cell", [100.0, 100.0, 100.0, 90.0, 90.0, 90.0])
    n_all = int(opts.get("N", 5))
    n_cells = tuple(int(opts.get(k, n_all)) for k in ("Na", "Nb", "Nc"))
    crystal_config = CrystalConfig(
        cell_a=cell[0],
        cell_b=cell[1],
        cell_c=cell[2],
        cell_alpha=cell[3],
        cell_beta=cell[4],
        cell_gamma=cell[5],
        N_cells=n_cells,
        default_F=float(opts.get("default_F", 0.0)),
        shape=CrystalShape.SQUARE,
    )
    detector_config = DetectorConfig(
        spixels=size,
        fpixels=size,
        pixel_size_mm=float(opts.get("pixel_size_mm", 0.1)),
        distance_mm=float(opts.get("distance_mm", 100.0)),
        detector_convention=DetectorConvention.MOSFLM,
        oversample=int(opts.get("oversample", 1)),
    )
    beam_config = BeamConfig(wavelength_A=float(opts.get("wavelength_A", 1.0)))
    dev = torch.device(device)
    tdtype = getattr(torch, dtype)
    crystal = Crystal(crystal_config, beam_config=beam_config, device=dev, dtype=tdtype)
    detector = Detector(detector_config, device=dev, dtype=tdtype)
    sim = Simulator(crystal, detector, crystal_config, beam_config, device=dev, dtype=tdtype)
    return sim.run
