"""The per-cell measurement, run inside a Ray actor (or in-process for comparisons).

For one cell, :meth:`CellWorker.run` does, in this order:

1. a cold run: the factory call (construction, ``setup_s``) and the first render (``sim_s``);
2. ``iterations`` warm renders, each timed (the bundle reports their median and spread);
3. when profiling is on, one more warm render under ``analysis.capture.profile_call``
   (torch.profiler); its time is kept separately, with its overhead against the warm median;
4. the correlation of the cold and the last warm image against the shared reference image;
5. ingestion of the trace into ``ops`` rows (``analysis.ingest.trace_to_ops``).

Peak memory per phase is the process's peak RSS on CPU (``VmHWM``, reset before each phase
through ``/proc/self/clear_refs``) and ``torch.cuda.max_memory_allocated`` on CUDA.
Torch's intra-op threads are set explicitly (Ray rewrites ``OMP_NUM_THREADS`` in workers)
and recorded in every row. Nothing here raises for a failing cell: the failure is returned.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import socket
import statistics
import subprocess
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farm.grid import Cell
from farm.reference import ReferenceOutcome
from farm.targets import Target, TargetError


class CellFailure(RuntimeError):
    """A cell cannot go on (non-finite image, wrong output); the message says why."""


@dataclass(frozen=True)
class CellJob:
    """Everything a worker needs to run one cell.

    Attributes:
        stamp: the bundle's stamp (a key column of every row).
        cell: the cell.
        target: its resolved target.
        iterations: timed warm renders.
        profile: whether to run the profiled render.
        git_sha: the driver's git commit, copied into rows.
    """

    stamp: str
    cell: Cell
    target: Target
    iterations: int
    profile: bool
    git_sha: str = "unknown"


@dataclass
class CellResult:
    """What a worker returns for a cell: rows, trace files and the benchmark record.

    Attributes:
        cell_id: the cell's id.
        tag: the cell's tag.
        status: ``ok`` | ``failed`` | ``skipped``.
        error: the first failure, one line.
        runs: rows of table ``runs``.
        correlation: the row of table ``correlations`` (``None`` when no image was made).
        ops: table ``ops`` from the trace (``None`` without a trace or an ingester).
        trace_files: files of the profiled run, name relative to ``profile/<tag>/`` -> bytes.
        record: the ``benchmark_results.json`` object of this cell.
        notes: things that did not work but did not fail the cell (missing analysis steps).
        worker: where it ran (node, pid, threads, device name).
    """

    cell_id: str
    tag: str
    status: str
    error: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    correlation: dict[str, Any] | None = None
    ops: Any = None
    trace_files: dict[str, bytes] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    worker: dict[str, Any] = field(default_factory=dict)


def one_line_error(exc: BaseException) -> str:
    """``Type: message (file:line in function)`` for the innermost frame of ``exc``."""
    msg = " ".join(str(exc).split()) or repr(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        f = frames[-1]
        where = f" ({Path(f.filename).name}:{f.lineno} in {f.name})"
    return f"{type(exc).__name__}: {msg}{where}"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _driver_version() -> str | None:
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
    return (
        out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    )


class _Memory:
    """Peak memory of one phase: RSS high-water mark on CPU, max allocated on CUDA."""

    def __init__(self, device: str) -> None:
        self.cuda = device == "cuda"
        self._can_reset = os.path.exists("/proc/self/clear_refs")

    def reset(self) -> None:
        """Start a phase: reset the peak."""
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
        elif self._can_reset:
            try:
                with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                    fh.write("5")
            except OSError:
                self._can_reset = False

    def peak_mb(self) -> float:
        """Peak of the phase, in MiB."""
        if self.cuda:
            import torch

            return torch.cuda.max_memory_allocated() / 2**20
        try:
            with open("/proc/self/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _optional(module: str, name: str) -> tuple[Any, str | None]:
    """``(attribute, None)`` or ``(None, reason)`` for a seam that may not be built yet."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name), None
    except ImportError as exc:
        return None, f"{module}.{name} not available ({exc})"
    except AttributeError:
        return None, f"{module} has no {name}"


class CellWorker:
    """Runs cells on one device slot; Ray wraps it as an actor (one per slot).

    Args:
        device: ``cpu`` or ``cuda``.
        threads: torch intra-op threads to set (Ray changes ``OMP_NUM_THREADS``).
    """

    def __init__(self, device: str, threads: int) -> None:
        import torch

        self.device = device
        self.threads = max(1, int(threads))
        torch.set_num_threads(self.threads)
        self._factories: dict[str, Any] = {}
        self._node = socket.gethostname()
        if device == "cuda":
            torch.cuda.init()
            self._device_name = torch.cuda.get_device_name(0)
        else:
            self._device_name = _cpu_name()

    def describe(self) -> dict[str, Any]:
        """Where and how this worker runs: node, threads, devices, versions."""
        import torch

        info: dict[str, Any] = {
            "node": self._node,
            "pid": os.getpid(),
            "device": self.device,
            "device_name": self._device_name,
            "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
            "env_threads": {
                k: os.environ.get(k)
                for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
            },
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "cuda_available": torch.cuda.is_available(),
        }
        if self.device == "cuda":
            info["gpu_names"] = [
                torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
            ]
            info["cudnn"] = torch.backends.cudnn.version()
            info["driver_version"] = _driver_version()
        return info

    def ping(self) -> int:
        """Cheap call to check the actor is alive; returns its pid."""
        return os.getpid()

    # ----------------------------------------------------------------------------------------

    def run(self, job: CellJob, reference: ReferenceOutcome | None) -> CellResult:
        """Measure one cell (see the module docstring). Never raises for a failing cell."""
        import torch

        torch.set_num_threads(self.threads)  # a previous target may have changed it
        cell = job.cell
        result = CellResult(cell.cell_id, cell.tag, "ok")
        result.worker = {
            "node": self._node,
            "pid": os.getpid(),
            "threads": self.threads,
            "device_name": self._device_name,
        }
        start = time.perf_counter()
        state = _RunState(job, self, result)
        try:
            state.measure(reference)
        except Exception as exc:
            state.fail(exc)
        finally:
            state.release()
        result.record = state.record(reference)
        result.worker["run_s"] = time.perf_counter() - start
        return result


class _RunState:
    """The work of :meth:`CellWorker.run` for one cell, with what it measured so far."""

    def __init__(self, job: CellJob, worker: CellWorker, result: CellResult) -> None:
        import torch

        self.torch = torch
        self.job = job
        self.worker = worker
        self.result = result
        self.cell = job.cell
        self.cuda = job.cell.device == "cuda"
        self.memory = _Memory(job.cell.device)
        self.phase = "cold"
        self.cold_image: Any = None
        self.warm_image: Any = None
        self.fn: Any = None
        self.cold: dict[str, Any] = {}
        self.warm_totals: list[float] = []
        self.warm_mem: list[float] = []
        self.profiled_s: float | None = None
        self.profiled_call_s: float | None = None
        self.corr_cold: float | None = None
        self.corr_warm: float | None = None
        self.corr_line: str | None = None

    # rows -----------------------------------------------------------------------------------

    def _row(self, phase: str | None, iteration: int, **values: Any) -> dict[str, Any]:
        cell = self.cell
        sim_s = values.get("sim_s")
        row = {
            "cell_tag": cell.tag,
            "target": cell.target,
            "device": cell.device,
            "device_name": self.worker._device_name,
            "dtype": cell.dtype,
            "size": cell.size,
            "pixels": cell.pixels,
            "params": cell.params_json(),
            "iteration": iteration,
            "phase": phase,
            "threads": self.worker.threads,
            "status": "ok",
            "error": None,
            "node": self.worker._node,
            "torch_version": self.torch.__version__,
            "git_sha": self.job.git_sha,
            "throughput_px_s": cell.pixels / sim_s if sim_s else None,
        }
        row.update(values)
        self.result.runs.append(row)
        return row

    def _sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def _check_image(self, image: Any) -> Any:
        torch = self.torch
        if not isinstance(image, torch.Tensor):
            try:
                image = torch.as_tensor(image)
            except Exception as exc:
                raise CellFailure(
                    f"the render returned {type(image).__name__}, not an image tensor"
                ) from exc
        if image.ndim != 2:
            raise CellFailure(f"the render returned shape {tuple(image.shape)}, not 2-D")
        bad = int((~torch.isfinite(image)).sum())
        if bad:
            raise CellFailure(
                f"{self.phase} image has {bad} non-finite (NaN/Inf) pixels of {image.numel()}"
            )
        return image

    # phases ---------------------------------------------------------------------------------

    def measure(self, reference: ReferenceOutcome | None) -> None:
        """Cold, warm, profiled, correlation; raises on the first failure."""
        job, cell = self.job, self.cell
        factory = self.worker._factories.get(job.target.spec)
        if factory is None:
            try:
                factory = job.target.load()
            except TargetError as exc:
                raise CellFailure(f"target {job.target.spec}: {exc}") from None
            self.worker._factories[job.target.spec] = factory

        self.phase = "cold"
        self._sync()
        self.memory.reset()
        t0 = time.perf_counter()
        self.fn = factory(cell.size, cell.device, cell.dtype, dict(cell.params))
        self._sync()
        t1 = time.perf_counter()
        image = self.fn()
        self._sync()
        t2 = time.perf_counter()
        self.cold = {
            "setup_s": t1 - t0,
            "sim_s": t2 - t1,
            "total_s": t2 - t0,
            "peak_mem_mb": self.memory.peak_mb(),
        }
        row = self._row("cold", 0, **self.cold)
        try:
            self.cold_image = self._check_image(image)
        except CellFailure:
            row["status"] = "failed"
            raise

        self.phase = "warm"
        for i in range(job.iterations):
            self.memory.reset()
            t0 = time.perf_counter()
            image = self.fn()
            self._sync()
            dt = time.perf_counter() - t0
            mem = self.memory.peak_mb()
            row = self._row("warm", i, setup_s=0.0, sim_s=dt, total_s=dt, peak_mem_mb=mem)
            try:
                self.warm_image = self._check_image(image)
            except CellFailure:
                row["status"] = "failed"
                raise
            self.warm_totals.append(dt)
            self.warm_mem.append(mem)

        if job.profile:
            self.phase = "profiled"
            self._profiled()
        self.phase = "correlation"
        self._correlate(reference)

    def _profiled(self) -> None:
        profile_call, reason = _optional("analysis.capture", "profile_call")
        if profile_call is None:
            self._row("profiled", 0, status="skipped", error=reason)
            self.result.notes.append(f"profiled run skipped: {reason}")
            return
        pkg_dir = self.job.target.package_dir()
        with tempfile.TemporaryDirectory(prefix="farm-profile-") as tmp:
            trace_path = Path(tmp) / "trace.json.gz"
            self.memory.reset()
            t0 = time.perf_counter()
            try:
                image, capture = profile_call(
                    self.fn, device=self.cell.device, trace_path=trace_path, project_root=pkg_dir
                )
                self._sync()
            except Exception as exc:
                self._row("profiled", 0, status="failed", error=one_line_error(exc))
                raise
            # the profiled window itself (capture.wall_s) is the comparable time; the rest of
            # the call exported and compressed the trace
            self.profiled_call_s = time.perf_counter() - t0
            dt = float(getattr(capture, "wall_s", None) or self.profiled_call_s)
            self.profiled_s = dt
            row = self._row(
                "profiled", 0, setup_s=0.0, sim_s=dt, total_s=dt, peak_mem_mb=self.memory.peak_mb()
            )
            try:
                self._check_image(image)
            except CellFailure:
                row["status"] = "failed"
                raise
            self.result.trace_files = {
                p.relative_to(tmp).as_posix(): p.read_bytes()
                for p in sorted(Path(tmp).rglob("*"))
                if p.is_file() and not p.name.startswith(".")
            }
            if trace_path.exists():
                self._ingest(trace_path)
            else:
                self.result.notes.append("profile_call wrote no trace.json.gz")

    def _ingest(self, trace_path: Path) -> None:
        trace_to_ops, reason = _optional("analysis.ingest", "trace_to_ops")
        if trace_to_ops is None:
            self.result.notes.append(f"ops not ingested: {reason}")
            return
        keys = {
            "stamp": self.job.stamp,
            "cell_id": self.cell.cell_id,
            "device": self.cell.device,
            "dtype": self.cell.dtype,
            "size": self.cell.size,
        }
        try:
            self.result.ops = trace_to_ops(trace_path, keys)
        except Exception as exc:
            self.result.notes.append(f"ops ingestion failed: {one_line_error(exc)}")

    def _correlate(self, reference: ReferenceOutcome | None) -> None:
        cell = self.cell
        row: dict[str, Any] = {
            "cell_tag": cell.tag,
            "device": cell.device,
            "dtype": cell.dtype,
            "size": cell.size,
            "reference": reference.key.engine if reference else "none",
            "reference_s": reference.wall_s if reference else None,
        }
        self.result.correlation = row
        if reference is None or not reference.ok:
            why = reference.error if reference else "reference = 'none' in the grid"
            row.update(status="no_reference", verdict="no_reference", error=why)
            return
        compare_images, reason = _optional("analysis.parity", "compare_images")
        if compare_images is None:
            row.update(status="no_reference", verdict="no_reference", error=reason)
            return
        try:
            report = compare_images(self.warm_image, reference.image)
        except ValueError as exc:
            row.update(status="failed", verdict="fail", error=one_line_error(exc))
            raise CellFailure(f"correlation: {exc}") from None
        row.update(report.to_row())
        row.update(status="ok", error="; ".join(getattr(report, "reasons", ())) or None)
        self.corr_warm = report.corr
        if self.torch.equal(self.cold_image, self.warm_image):
            self.corr_cold = report.corr
        else:
            self.corr_cold = compare_images(self.cold_image, reference.image).corr
        summary_line = getattr(report, "summary_line", None)
        if callable(summary_line):
            self.corr_line = summary_line()

    # ending ---------------------------------------------------------------------------------

    def fail(self, exc: BaseException) -> None:
        """Record the failure of the current phase (once) and mark the cell failed."""
        message = str(exc) if isinstance(exc, CellFailure) else one_line_error(exc)
        if isinstance(exc, self.torch.cuda.OutOfMemoryError):
            message = f"out of memory in the {self.phase} phase: {message}"
        self.result.status = "failed"
        self.result.error = message
        if not any(r["status"] == "failed" for r in self.result.runs):
            phase = self.phase if self.phase in ("cold", "warm", "profiled") else None
            self._row(phase, 0, status="failed", error=message)
        else:
            for r in self.result.runs:
                if r["status"] == "failed" and not r["error"]:
                    r["error"] = message

    def release(self) -> None:
        """Drop the cell's tensors so the next cell starts clean."""
        self.fn = None
        self.cold_image = self.warm_image = None
        gc.collect()
        if self.cuda and self.torch.cuda.is_available():
            self.torch.cuda.empty_cache()

    def record(self, reference: ReferenceOutcome | None) -> dict[str, Any]:
        """The ``benchmark_results.json`` object (the old script's names, then ours)."""
        cell, cold, warm = self.cell, self.cold, self.warm_totals
        c_time = reference.wall_s if reference is not None and reference.ok else None
        py_time_cold = cold.get("total_s")
        py_time_warm = statistics.median(warm) if warm else None
        rec: dict[str, Any] = {
            "size": cell.size,
            "pixels": cell.pixels,
            "c_time": c_time,
            "py_time_cold": py_time_cold,
            "py_time_warm": py_time_warm,
            "py_setup_cold": cold.get("setup_s"),
            "py_setup_warm": 0.0 if warm else None,
            "py_sim_cold": cold.get("sim_s"),
            "py_sim_warm": py_time_warm,
            "py_mem_cold": cold.get("peak_mem_mb"),
            "py_mem_warm": max(self.warm_mem) if self.warm_mem else None,
            "speedup_cold": _ratio(c_time, py_time_cold),
            "speedup_warm": _ratio(c_time, py_time_warm),
            "correlation_cold": self.corr_cold,
            "correlation_warm": self.corr_warm,
            "device": cell.device,
            "dtype": cell.dtype,
            "target": cell.target,
            # ours, beyond the old script's fields
            "cell_id": cell.cell_id,
            "tag": cell.tag,
            "status": self.result.status,
            "error": self.result.error,
            "reference": reference.key.engine if reference else "none",
            "verdict": (self.result.correlation or {}).get("verdict"),
            "correlation_status": (self.result.correlation or {}).get("status"),
            "correlation_error": (self.result.correlation or {}).get("error"),
            "sum_ratio": (self.result.correlation or {}).get("sum_ratio"),
            "iterations": len(warm),
            "py_time_warm_samples": list(warm),
            "py_time_warm_min": min(warm) if warm else None,
            "py_time_warm_max": max(warm) if warm else None,
            "py_time_warm_stdev": statistics.stdev(warm) if len(warm) > 1 else None,
            "py_time_profiled": self.profiled_s,
            "py_time_profiled_call": self.profiled_call_s,
            "profile_overhead": _ratio(self.profiled_s, py_time_warm),
            "threads": self.worker.threads,
            "node": self.worker._node,
            "device_name": self.worker._device_name,
            "notes": list(self.result.notes),
        }
        if self.corr_line:
            rec["correlation_line"] = self.corr_line
        return rec


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0 or not math.isfinite(num):
        return None
    return num / den
