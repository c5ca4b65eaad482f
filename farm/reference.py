"""Reference images for a sweep: one per distinct (engine, flags), computed once and shared.

:func:`compute_reference` never raises: a missing engine, a failed run or a reference package
that is not installed yet all come back as a :class:`ReferenceOutcome` with
``status = "no_reference"`` and the reason, so the cells record it and never a fake 1.0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ReferenceKey:
    """What identifies one reference image: the engine and the full flags (with -detpixels)."""

    engine: str
    flags: str


@dataclass
class ReferenceOutcome:
    """A computed reference image, or the reason there is none.

    Attributes:
        key: the engine and flags it was computed for.
        status: ``ok`` or ``no_reference``.
        image: float64 ``[spixels, fpixels]`` when ``status == "ok"``.
        wall_s: the reference engine's own wall time.
        command: the argv run (nanobragg engine), else ``None``.
        error: why there is no reference.
    """

    key: ReferenceKey
    status: str
    image: np.ndarray | None = None
    wall_s: float | None = None
    command: list[str] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether an image is there."""
        return self.status == "ok" and self.image is not None

    def meta(self) -> dict[str, Any]:
        """Everything but the image (for commands.txt and summaries)."""
        return {
            "engine": self.key.engine,
            "flags": self.key.flags,
            "status": self.status,
            "wall_s": self.wall_s,
            "command": self.command,
            "error": self.error,
        }


def compute_reference(
    key: ReferenceKey, c_bin: str | None = None, timeout_s: float | None = None
) -> ReferenceOutcome:
    """Render the reference image for ``key`` (see the module docstring: never raises)."""
    if key.engine == "none":
        return ReferenceOutcome(key, "no_reference", error="reference = 'none' in the grid")
    try:
        from simulator import parse_flags
        from simulator.reference import ReferenceFailure, render_reference
    except ImportError as exc:
        return ReferenceOutcome(
            key, "no_reference", error=f"reference engines not available ({exc})"
        )
    start = time.perf_counter()
    try:
        cfg = parse_flags(key.flags)
        ref = render_reference(key.engine, cfg, c_bin=c_bin or None, timeout_s=timeout_s or None)
    except ReferenceFailure as exc:
        return ReferenceOutcome(
            key, "no_reference", wall_s=time.perf_counter() - start, error=str(exc)
        )
    except Exception as exc:  # any other failure of the engine is still "no reference"
        return ReferenceOutcome(
            key,
            "no_reference",
            wall_s=time.perf_counter() - start,
            error=f"{type(exc).__name__}: {exc}",
        )
    image = np.asarray(ref.image, dtype=np.float64)
    return ReferenceOutcome(
        key,
        "ok",
        image=image,
        wall_s=float(ref.wall_s),
        command=list(ref.command) if ref.command else None,
    )


def reference_task(key: ReferenceKey, c_bin: str | None, timeout_s: float | None):
    """Ray task body: the reference's metadata (small) and the outcome (with its image).

    Run with ``num_returns=2``: the driver reads the metadata and hands the outcome's
    ObjectRef to every cell that shares the reference, so the image is never copied to it.
    """
    outcome = compute_reference(key, c_bin=c_bin, timeout_s=timeout_s)
    return outcome.meta(), outcome
