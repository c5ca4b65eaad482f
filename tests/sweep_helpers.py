"""Running `farm sweep` as users do: a separate process, with the test targets importable."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
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


def start_sweep(grid: Path, reports: Path, cwd: Path) -> subprocess.Popen:
    """``farm sweep`` as its own process (its own embedded Ray), output captured."""
    return subprocess.Popen(
        sweep_command(grid, reports),
        cwd=cwd,
        env=sweep_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
