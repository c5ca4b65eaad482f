"""Where a bundle's evidence comes from: git, the collected tests, the machine, env.json.

The driver logs ``git rev-parse HEAD``, ``git status --short`` and ``uname -a`` into
commands.txt (:func:`git_context`), optionally ``pytest --collect-only -q`` into
pytest_collect.log (:func:`collect_tests`), and at the end writes env.json
(:func:`write_sweep_env`): the driver's own environment, the Ray cluster, the threads, the
workers that ran and this session, appended to the sessions of a resumed bundle.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from analysis.tables import SCHEMA_VERSION
from analysis.tables.parts import read_table, write_json_atomic, write_text_atomic
from farm.bundle.folder import Bundle
from farm.grid import Grid
from farm.host import nvidia_driver_version, run_capture


def git_context(bundle: Bundle, root: Path) -> dict[str, Any]:
    """Log ``git rev-parse HEAD``, ``git status --short`` and ``uname -a``; return the SHA."""
    rc, sha = run_capture(["git", "rev-parse", "HEAD"], cwd=root)
    bundle.log_command(["git", "rev-parse", "HEAD"], rc, sha)
    rc_status, status = run_capture(["git", "status", "--short"], cwd=root)
    bundle.log_command(["git", "status", "--short"], rc_status, status)
    rc_uname, uname = run_capture(["uname", "-a"])
    bundle.log_command(["uname", "-a"], rc_uname, uname)
    return {
        "git_sha": sha.strip() if rc == 0 else "unknown",
        "git_dirty": bool(status.strip()) if rc_status == 0 else None,
        "uname": uname if rc_uname == 0 else platform.platform(),
    }


def collect_tests(bundle: Bundle, root: Path, timeout: float = 600) -> dict[str, Any]:
    """Run ``pytest --collect-only -q`` into ``pytest_collect.log``.

    Returns:
        ``rc``, ``count`` (``None`` when it could not be read), ``wall_s`` and ``why``: the
        reason in words when there is no count (pytest missing, collection errors).
    """
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q"]
    start = time.perf_counter()
    rc, out = run_capture(argv, cwd=root, timeout=timeout)
    wall = time.perf_counter() - start
    write_text_atomic(bundle.file("pytest_collect.log"), f"$ {shlex.join(argv)}\n{out}\n")
    count, why = _collected(rc, out)
    note = f"{count} tests" if count is not None else why
    bundle.log_command(argv, rc, note=f"output in pytest_collect.log; {note}; {wall:.1f} s")
    return {"rc": rc, "count": count, "wall_s": wall, "why": why}


def _collected(rc: int | None, out: str) -> tuple[int | None, str | None]:
    """The number of tests ``pytest --collect-only -q`` printed, or why there is none."""
    m = re.search(r"(\d+) tests? collected", out)
    if m:
        return int(m.group(1)), None
    if re.search(r"no tests collected", out) and rc in (0, 5):
        return 0, None
    if re.search(r"No module named '?pytest'?\s*$", out.strip(), re.MULTILINE):
        return None, (
            "pytest is not installed in this environment (it is a dependency of bragg-farm: "
            "`python3 -m pip install -e .` installs it)"
        )
    errors = re.search(r"(\d+) errors?", out)
    if errors:
        return None, f"collection failed with {errors.group(1)} error(s)"
    return None, f"pytest exited with code {rc} and printed no count"


def driver_env() -> dict[str, Any]:
    """The driver's own environment (python, torch, CUDA, threads)."""
    import numpy
    import pyarrow
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "driver_host": socket.gethostname(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
        "device_count": torch.cuda.device_count(),
        "gpu_names": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
        "driver_threads": {
            "torch": torch.get_num_threads(),
            "torch_interop": torch.get_num_interop_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS"),
            "cpu_count": os.cpu_count(),
        },
    }
    if torch.cuda.is_available():
        env["driver_version"] = nvidia_driver_version()
    return env


@dataclass(frozen=True)
class SweepSession:
    """One run of ``farm sweep`` on a bundle: an entry of env.json's ``sessions``.

    Attributes:
        argv: the command line.
        resumed: whether it ran with ``--resume``.
        interrupted: whether Ctrl-C (or SIGTERM) stopped it.
        stopped: why it ended early (Ctrl-C, SIGTERM, a write error, a bug), or ``None``.
        wall_s: its wall time.
        concurrent_sweeps: other sweeps that ran on this host meanwhile (pid, stamp,
            bundle, start and end, Ray address, ``same_ray``); see
            :mod:`farm.driver.host_sweeps`.
        concurrency_check: why other sweeps could not be looked for, if they could not.
    """

    argv: list[str]
    resumed: bool
    interrupted: bool
    stopped: str | None
    wall_s: float
    concurrent_sweeps: list[dict[str, Any]] = field(default_factory=list)
    concurrency_check: str | None = None


def write_sweep_env(
    bundle: Bundle,
    grid: Grid,
    *,
    git: dict[str, Any],
    ray: dict[str, Any] | None,
    cpus_per_actor: int | None,
    cpu_actor_threads: int | None,
    workers: list[dict[str, Any]],
    session: SweepSession,
    nodes: list[dict[str, Any]] | None = None,
    node_losses: list[dict[str, Any]] | None = None,
    target: dict[str, Any] | None = None,
) -> Path:
    """Assemble a sweep's env.json and write it (merged with a resumed bundle's, see below).

    Args:
        bundle: the bundle.
        grid: the grid it ran.
        git: what :func:`git_context` returned.
        ray: ``RayConnection.to_json()``, or ``None`` when Ray was never reached.
        cpus_per_actor: CPUs a CPU actor reserved (``None`` when no actor was planned).
        cpu_actor_threads: torch threads of a CPU actor (likewise).
        workers: ``describe()`` of every actor that started.
        session: this run.
        nodes: every node of the cluster with the cells it ran
            (:func:`farm.driver.placement.node_report`).
        node_losses: cells caught on a node that died (``PoolStats.node_losses``).
        target: the target's provenance (package, version, folder, git commit, dirty), as
            the driver sees it (each runs row has the actor's view).
    """
    env = driver_env()
    env.update(
        {
            "stamp": bundle.stamp,
            "grid": str(grid.path),
            "target": grid.target,
            "target_provenance": target,
            "schema_version": SCHEMA_VERSION,
            "git_sha": git.get("git_sha"),
            "git_dirty": git.get("git_dirty"),
            "uname": git.get("uname"),
            "ray": ray if ray is not None else {"how": "not connected"},
            "threads": {
                "grid_threads": grid.threads,
                "cpus_per_actor": cpus_per_actor,
                "cpu_actor_torch_threads": cpu_actor_threads,
                "cuda_actor_torch_threads": grid.cuda_threads,
            },
            "measurement": {
                "cold": grid.cold,
                "profile_renders": grid.profile_renders,
                "iterations": grid.iterations,
                "env": grid.env,
            },
            "workers": workers,
            "cell_nodes": cell_nodes(bundle),
            "nodes": nodes or [],
            "node_losses": node_losses or [],
            "concurrent_sweeps": session.concurrent_sweeps,
            "sessions": [asdict(session)],
        }
    )
    return write_env(bundle, env)


def write_env(bundle: Bundle, env: dict[str, Any]) -> Path:
    """Write ``env.json``; on a resumed bundle keep the earlier runs' workers and nodes."""
    path = bundle.file("env.json")
    if path.exists():
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            before = {}
        env = dict(env)
        workers = before.get("workers", []) + env.get("workers", [])
        env["workers"] = workers
        env["cell_nodes"] = sorted(
            set(before.get("cell_nodes", [])) | set(env.get("cell_nodes", []))
        )
        env["sessions"] = before.get("sessions", []) + env.get("sessions", [])
        env["node_losses"] = before.get("node_losses", []) + env.get("node_losses", [])
        env["concurrent_sweeps"] = before.get("concurrent_sweeps", []) + env.get(
            "concurrent_sweeps", []
        )
    return write_json_atomic(path, env)


def cell_nodes(bundle: Bundle) -> list[str]:
    """Hostnames that ran cells of this bundle (from table ``runs``)."""
    runs = read_table(bundle.path, "runs")
    if runs.num_rows == 0 or "node" not in runs.column_names:
        return []
    return sorted({n for n in runs.column("node").to_pylist() if n})


def git_root(start: Path | None = None) -> Path:
    """The git work tree containing ``start`` (or the cwd), else ``start`` itself."""
    start = Path(start or Path.cwd())
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=start,
            capture_output=True,
            text=True,
            check=False,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return start
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else start
