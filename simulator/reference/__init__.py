"""Reference engines: the images every correlation is measured against.

* ``"nanobragg"``: an external nanoBragg C executable (``NB_C_BIN`` or an explicit path);
* ``"builtin"``: an independent Numba loop engine in the C program's loop order, so parity
  works on any machine and in CI.

``render_reference(name, cfg)`` returns a :class:`ReferenceImage` or raises
:class:`ReferenceFailure` with one clear line.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Sequence
from typing import Any

from simulator.config import SimulationConfig
from simulator.flags import parse_flags, to_flags
from simulator.reference.base import ENGINES, ReferenceFailure, ReferenceImage
from simulator.resolve import resolve
from simulator.setup import Setup

__all__ = ["ENGINES", "ReferenceFailure", "ReferenceImage", "render_reference"]


def _flags_of(cfg: Any) -> list[str]:
    """NanoBragg flags for ``cfg``: a :class:`SimulationConfig`, a string, or a sequence."""
    if isinstance(cfg, SimulationConfig):
        return to_flags(cfg)
    if isinstance(cfg, str):
        return shlex.split(cfg)
    if isinstance(cfg, Sequence) and all(isinstance(a, str) for a in cfg):
        return list(cfg)
    raise ReferenceFailure(
        f"the nanoBragg reference needs flags or a SimulationConfig, got {type(cfg).__name__}"
    )


def _setup_of(cfg: Any) -> Setup:
    """A resolved ``Setup`` for ``cfg`` (a Setup, a SimulationConfig, or flags)."""
    if isinstance(cfg, Setup):
        return cfg
    if isinstance(cfg, str | Sequence):
        cfg = parse_flags(cfg)
    return resolve(cfg)


def render_reference(
    name: str,
    cfg: Any,
    c_bin: str | os.PathLike[str] | None = None,
    timeout_s: float | None = None,
) -> ReferenceImage:
    """Render the reference image ``name`` for configuration ``cfg``.

    Args:
        name: ``"builtin"`` or ``"nanobragg"``.
        cfg: a ``SimulationConfig`` (or nanoBragg flags as a string or list; the built-in
            engine also takes a resolved ``Setup``).
        c_bin: the nanoBragg executable (default ``$NB_C_BIN``); nanobragg only.
        timeout_s: kill the binary after this many seconds; nanobragg only.

    Returns:
        The reference image, float64 ``[spixels, fpixels]``, with its wall time.

    Raises:
        ReferenceFailure: the reference could not be produced (one line why).
        ValueError: ``name`` is not a reference engine.
    """
    if name == "nanobragg":
        from simulator.reference.nanobragg import run_nanobragg

        return run_nanobragg(_flags_of(cfg), c_bin, timeout_s=timeout_s)
    if name == "builtin":
        from simulator.reference.builtin import render_setup, warm_up

        setup = _setup_of(cfg)
        warm_up(setup)  # compile or load the cached kernel outside the timing
        t0 = time.perf_counter()
        image = render_setup(setup)
        return ReferenceImage(image=image, wall_s=time.perf_counter() - t0, engine="builtin")
    raise ValueError(f"unknown reference {name!r}: expected one of {', '.join(ENGINES)}")
