"""The machine a process runs on: its CPU model, its NVIDIA driver, running a command there.

Both the driver (env.json) and every CUDA worker (its ``describe()``) ask for the NVIDIA
driver version; :func:`nvidia_driver_version` is the one place that asks ``nvidia-smi``.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path


def run_capture(argv: list[str], cwd: Path | None = None, timeout: float = 60) -> tuple[int, str]:
    """Run a command; return its exit code and combined output (never raises)."""
    try:
        out = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        return 127, str(exc)
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout} s"
    return out.returncode, (out.stdout + out.stderr).rstrip()


def nvidia_driver_version() -> str | None:
    """The NVIDIA driver version ``nvidia-smi`` reports, or ``None`` without one."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return text.splitlines()[0] if out.returncode == 0 and text else None


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo``, else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
