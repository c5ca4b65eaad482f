"""Running `farm sweep` as users do: a separate process, with the test targets importable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def sweep_command(grid: Path, reports: Path, *extra: str) -> list[str]:
    """argv of ``farm sweep --grid GRID --reports REPORTS --no-progress EXTRA…``."""
    return [
        sys.executable,
        "-c",
        "from farm.cli import main; main()",
        "sweep",
        "--grid",
        str(grid),
        "--reports",
        str(reports),
        "--no-progress",
        *extra,
    ]


def sweep_env(*, local: bool = True) -> dict[str, str]:
    """The environment with tests/ importable; ``local`` drops RAY_ADDRESS (embedded Ray)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    if local:
        env.pop("RAY_ADDRESS", None)
    return env
