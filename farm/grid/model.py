"""The grid model: the keys a grid file may hold, the validated :class:`Grid`, :class:`GridError`.

A grid is plain data (see :mod:`farm.grid.parse` for reading one, :mod:`farm.grid.cells` for
its expansion into cells). Every problem is raised as :class:`GridError`, whose message names
the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farm.grid.cells import Cell, expand_axes

DEVICES = ("cpu", "cuda")
DTYPES = ("float32", "float64")
REFERENCES = ("builtin", "nanobragg", "none")
#: ``node``: no CPU cell measures on a host while a CUDA cell runs there (and the reverse);
#: ``shared``: CPU and CUDA actors of a host measure at the same time.
ISOLATIONS = ("node", "shared")
COLD_MODES = ("process", "instance")


class GridError(ValueError):
    """A grid file is malformed: the message names the file and the key at fault."""

    def __init__(self, path: Path | str, key: str, message: str) -> None:
        self.path = Path(path)
        self.key = key
        super().__init__(f"{path}: {key}: {message}")


@dataclass(frozen=True)
class _Key:
    """One accepted top-level key: its Python type(s), default and help text."""

    types: tuple[type, ...]
    default: Any
    help: str


# The accepted top-level keys; README documents each (keep them in step).
KEYS: dict[str, _Key] = {
    "campaign": _Key((str,), None, "bundle folder: reports/<campaign>/<phase>/<STAMP>/"),
    "phase": _Key((str,), None, "bundle sub-folder below the campaign"),
    "description": _Key((str,), "", "free text, copied into summary.md"),
    "target": _Key((str,), "simulator", "simulator | nanobrag_torch | python:pkg.mod:factory"),
    "flags": _Key((str,), "", "nanoBragg flags shared by every cell (no -detpixels)"),
    "reference": _Key((str,), "builtin", "builtin | nanobragg | none"),
    "c_bin": _Key((str,), "", "nanoBragg C binary for reference = 'nanobragg' (else NB_C_BIN)"),
    "reference_timeout_s": _Key((int, float), 0, "give up on one reference after this (0: never)"),
    "iterations": _Key((int,), 3, "timed warm renders per cell (median and spread)"),
    "warmups": _Key((int,), 1, "untimed warm renders before the timed ones"),
    "profile": _Key((bool,), True, "profiled warm renders under torch.profiler"),
    "profile_renders": _Key((int,), 3, "profiled renders per cell (shares: a representative one)"),
    "cold": _Key((str,), "process", "process: each cell's cold run in a fresh actor | instance"),
    "env": _Key((dict,), {}, "environment variables set in the actor for every cell"),
    "collect_tests": _Key((bool,), False, "pytest --collect-only -q into pytest_collect.log"),
    "threads": _Key((int,), 0, "torch intra-op threads per CPU actor (0: the actor's CPUs)"),
    "cuda_threads": _Key((int,), 1, "torch intra-op threads in a CUDA actor"),
    "cpus_per_actor": _Key((int,), 0, "CPUs one CPU actor reserves (0: a whole node)"),
    "cell_timeout_s": _Key((int, float), 0, "fail a cell that runs longer (0: never)"),
    "isolation": _Key(
        (str,), "node", "node | shared: CPU and CUDA cells of a host in turn or at once"
    ),
    "options": _Key((dict,), {}, "target options passed to the factory, not flags"),
    "axes": _Key((dict,), None, "table of axes; every combination is a cell"),
}


@dataclass(frozen=True)
class Grid:
    """A validated grid file.

    Attributes mirror the TOML keys (see :data:`KEYS`); ``axes`` keeps the axis lists in
    sorted key order; ``path`` and ``text`` are the file and its exact content.
    """

    path: Path
    text: str
    campaign: str
    phase: str
    target: str = "simulator"
    flags: str = ""
    reference: str = "builtin"
    c_bin: str = ""
    reference_timeout_s: float = 0.0
    iterations: int = 3
    warmups: int = 1
    profile: bool = True
    profile_renders: int = 3
    cold: str = "process"
    env: dict[str, str] = field(default_factory=dict)
    collect_tests: bool = False
    threads: int = 0
    cuda_threads: int = 1
    cpus_per_actor: int = 0
    cell_timeout_s: float = 0.0
    isolation: str = "node"
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    axes: dict[str, list[Any]] = field(default_factory=dict)

    def cells(self) -> list[Cell]:
        """Expand the axes into cells (Cartesian product, sorted key order)."""
        return expand_axes(
            self.axes, target=self.target, flags=self.flags, options=self.options, env=self.env
        )

    def bundle_parent(self, reports: Path) -> Path:
        """Folder that holds this grid's stamps: ``reports/<campaign>/<phase>``."""
        return Path(reports) / self.campaign / self.phase
