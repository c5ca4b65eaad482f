"""How to run a grid: everything a sweep needs that is not in the grid file."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SweepOptions:
    """How to run a grid (everything that is not in the grid file).

    Attributes:
        reports: the reports root (bundles go to ``<reports>/<campaign>/<phase>/<STAMP>``).
        address: Ray address to join; ``None`` reuses a local Ray or starts one.
        resume: the stamp of a bundle to complete.
        c_bin: nanoBragg C binary (overrides the grid's ``c_bin`` and ``NB_C_BIN``).
        argv: the command line, for commands.txt.
        project_root: where git and pytest run.
        actor_start_timeout_s: give up on an actor that is not running after this long.
    """

    reports: Path = Path("reports")
    address: str | None = None
    resume: str | None = None
    c_bin: str | None = None
    argv: list[str] = field(default_factory=lambda: ["farm", *sys.argv[1:]])
    project_root: Path = field(default_factory=Path.cwd)
    actor_start_timeout_s: float = 300.0
