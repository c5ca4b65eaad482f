"""What every reference engine returns, and the one error every reference failure raises."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Reference engines by name.
ENGINES = ("builtin", "nanobragg")


class ReferenceFailure(RuntimeError):
    """A reference image could not be produced; the message is one line saying why."""


@dataclass(frozen=True)
class ReferenceImage:
    """A reference image and how it was made.

    Attributes:
        image: float64 ``[spixels, fpixels]`` (fast index varying fastest in memory).
        wall_s: the reference's own wall time in seconds (the run of the binary, or the
            built-in kernel call, excluding any one-off compilation).
        engine: ``"builtin"`` or ``"nanobragg"``.
        command: the argv run (nanobragg), else ``None``.
        returncode: the binary's exit status (nanobragg), else ``None``.
        log_tail: the last lines of the binary's stdout and stderr (nanobragg), else ``""``.
        noise: uint16 ``-noisefile`` pixels, when asked for (nanobragg), else ``None``.
        noise_report: the binary's line about its noise image (photons, overloads), or ``""``.
    """

    image: np.ndarray
    wall_s: float
    engine: str
    command: list[str] | None = None
    returncode: int | None = None
    log_tail: str = ""
    noise: np.ndarray | None = None
    noise_report: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        """``(spixels, fpixels)``."""
        return (int(self.image.shape[0]), int(self.image.shape[1]))
