"""The evidence bundle of one sweep: ``reports/<campaign>/<phase>/<STAMP>/``.

The stamp folder is created with one ``mkdir`` (atomic: two sweeps never share a stamp; a
taken stamp waits for the next second). Files that are rewritten (env.json, the reports) are
written under a temporary name and renamed, so the folder is a valid, possibly partial, bundle
at every moment. ``commands.txt`` is append-only.

Layout (see design.md): commands.txt, env.json, grid.toml (the grid it ran), pytest_collect.log,
benchmark_results.json, correlation.txt, summary.md, cells/<cell_id>.json (one benchmark
record per finished cell, the source of benchmark_results.json), profile/<tag>/trace.json.gz,
tables/<table>/part-<cell_id>.parquet.
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
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis.tables.parts import (
    cells_with_part,
    read_table,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from farm.grid import Cell, Grid, GridError

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_STAMP_RE = re.compile(r"^\d{8}T\d{6}Z$")


def utc_stamp(now: datetime | None = None) -> str:
    """UTC ``YYYYMMDDTHHMMSSZ``."""
    return (now or datetime.now(UTC)).strftime(STAMP_FORMAT)


@dataclass(frozen=True)
class Bundle:
    """One stamp folder.

    Attributes:
        path: the folder.
        stamp: its stamp.
    """

    path: Path
    stamp: str

    # files ----------------------------------------------------------------------------------

    def file(self, name: str) -> Path:
        """Path of a file in the bundle."""
        return self.path / name

    def cell_record_path(self, cell_id: str) -> Path:
        """``cells/<cell_id>.json``."""
        return self.path / "cells" / f"{cell_id}.json"

    def write_cell_record(self, cell_id: str, record: dict[str, Any]) -> Path:
        """Store the benchmark record of a finished cell."""
        return write_json_atomic(self.cell_record_path(cell_id), record)

    def cell_records(self, cells: list[Cell]) -> list[dict[str, Any]]:
        """Records of the cells that have one, in grid order."""
        out = []
        for cell in cells:
            path = self.cell_record_path(cell.cell_id)
            if path.exists():
                out.append(json.loads(path.read_text(encoding="utf-8")))
        return out

    def done_cells(self) -> set[str]:
        """Cells that have rows (a ``runs`` part): what ``--resume`` leaves alone."""
        return cells_with_part(self.path, "runs")

    def write_trace_files(self, tag: str, files: dict[str, bytes]) -> list[Path]:
        """Write the profiled run's files into ``profile/<tag>/``."""
        folder = self.path / "profile" / tag
        written = []
        for name, data in files.items():
            target = (folder / name).resolve()
            if folder.resolve() not in target.parents:
                continue  # a name that would leave the folder
            written.append(write_bytes_atomic(target, data))
        return written

    # commands.txt ---------------------------------------------------------------------------

    def log(self, text: str) -> None:
        """Append lines to ``commands.txt`` and flush them to disk."""
        with open(self.file("commands.txt"), "a", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def log_command(
        self, argv: list[str] | str, rc: int | None, output: str | None = None, note: str = ""
    ) -> None:
        """Record one command, its exit code and (optionally) its output."""
        cmd = argv if isinstance(argv, str) else shlex.join(argv)
        lines = [
            f"$ {cmd}",
            f"-> exit {rc if rc is not None else '?'}{f' ({note})' if note else ''}",
        ]
        if output:
            lines += ["    " + line for line in output.rstrip().splitlines()]
        self.log("\n".join(lines))


def create_bundle(parent: Path, attempts: int = 5) -> Bundle:
    """Create a new stamp folder below ``parent`` atomically and return it.

    Raises:
        FileExistsError: when no free stamp was found after ``attempts`` seconds.
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for _ in range(attempts):
        stamp = utc_stamp()
        try:
            (parent / stamp).mkdir()
        except FileExistsError:
            time.sleep(1.0 - (time.time() % 1.0) + 0.01)
            continue
        return Bundle(parent / stamp, stamp)
    raise FileExistsError(f"no free stamp below {parent} after {attempts} tries")


def open_bundle(grid: Grid, reports: Path, stamp: str) -> Bundle:
    """Open an existing bundle of ``grid`` for ``--resume``.

    Raises:
        GridError: when the stamp is malformed, missing, or was started with another grid.
    """
    if not _STAMP_RE.match(stamp):
        raise GridError(grid.path, "--resume", f"{stamp!r} is not a stamp (YYYYMMDDTHHMMSSZ)")
    path = grid.bundle_parent(reports) / stamp
    if not path.is_dir():
        raise GridError(grid.path, "--resume", f"no bundle {path}")
    saved = path / "grid.toml"
    if saved.exists():
        before = tomllib.loads(saved.read_text(encoding="utf-8"))
        if before != tomllib.loads(grid.text):
            raise GridError(
                grid.path,
                "--resume",
                f"the grid differs from the one bundle {stamp} was started with ({saved}); "
                "resume with that grid",
            )
    return Bundle(path, stamp)


# context --------------------------------------------------------------------------------------


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
    """Run ``pytest --collect-only -q`` into ``pytest_collect.log``; return rc and count."""
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q"]
    start = time.perf_counter()
    rc, out = run_capture(argv, cwd=root, timeout=timeout)
    wall = time.perf_counter() - start
    write_text_atomic(bundle.file("pytest_collect.log"), f"$ {shlex.join(argv)}\n{out}\n")
    count = None
    m = re.search(r"(\d+) tests? collected", out)
    if m:
        count = int(m.group(1))
    elif re.search(r"no tests collected", out):
        count = 0
    bundle.log_command(argv, rc, note=f"output in pytest_collect.log; {count} tests; {wall:.1f} s")
    return {"rc": rc, "count": count, "wall_s": wall}


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
        rc, out = run_capture(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], timeout=20
        )
        env["driver_version"] = out.splitlines()[0] if rc == 0 and out else None
    return env


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
