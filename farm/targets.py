"""Targets: what a sweep profiles.

A target is a factory ``factory(size, device, dtype, params) -> Callable[[], torch.Tensor]``:
the factory call is the cold part (construction), the returned callable renders once (the
warm part) and returns the image. Three kinds of spec name one:

* ``"simulator"``: our engine, ``python:simulator.target:factory``;
* ``"nanobrag_torch"``: the port the seed came from, through :func:`nanobrag_torch_factory`
  (only where the ``nanobrag_torch`` package is importable; cells are skipped otherwise);
* ``"python:package.module:factory"``: any importable factory with that signature.

The loop inventory scans the target's *package* (:attr:`Target.package`).
"""

from __future__ import annotations

import importlib
import importlib.util
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Factory = Callable[[int, str, str, dict[str, Any]], Callable[[], Any]]


class TargetError(RuntimeError):
    """A target cannot be imported or loaded; the message says which and why."""


@dataclass(frozen=True)
class Target:
    """A resolved target spec.

    Attributes:
        spec: the spec as written in the grid.
        module: module that holds the factory.
        attr: the factory's name in that module.
        package: the package whose source the loop inventory scans.
        optional: when true, an unimportable package skips the cells instead of failing.
    """

    spec: str
    module: str
    attr: str
    package: str
    optional: bool = False

    def load(self) -> Factory:
        """Import the module and return the factory.

        Raises:
            TargetError: when the module or the attribute is missing.
        """
        reason = self.missing()
        if reason:
            raise TargetError(reason)
        try:
            module = importlib.import_module(self.module)
        except Exception as exc:
            raise TargetError(
                f"importing {self.module} failed: {type(exc).__name__}: {exc}"
            ) from exc
        factory = getattr(module, self.attr, None)
        if not callable(factory):
            raise TargetError(f"{self.module} has no callable {self.attr!r}")
        return factory

    def missing(self) -> str | None:
        """Why the target's package cannot be imported here, or ``None`` when it can."""
        for name in dict.fromkeys([self.package, self.module.split(".")[0]]):
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError) as exc:
                return f"package {name!r} cannot be imported: {exc}"
            if spec is None:
                return f"package {name!r} is not importable (not installed, not on sys.path)"
        return None

    def package_dir(self) -> Path | None:
        """Directory of :attr:`package` (for the loop inventory), or ``None`` if unknown."""
        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        if spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations))).resolve()
        return Path(spec.origin).resolve().parent if spec.origin else None


def resolve_target(spec: str) -> Target:
    """Resolve a grid's ``target`` string (already checked by :mod:`farm.grid`)."""
    if spec == "simulator":
        return Target(spec, "simulator.target", "factory", "simulator")
    if spec == "nanobrag_torch":
        return Target(spec, __name__, "nanobrag_torch_factory", "nanobrag_torch", optional=True)
    if spec.startswith("python:"):
        module, attr = spec[len("python:") :].split(":")
        return Target(spec, module, attr, module.split(".")[0])
    raise TargetError(f"unknown target {spec!r}")


# --------------------------------------------------------------------------------------------
# nanobrag_torch adapter

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
