"""One cell's measurement: cold, warm, profiled, correlation, ingestion (see farm.actors.worker).

Memory per phase comes from :class:`farm.actors.memory.PhaseMemory` (host RSS and device
columns apart). Every row also says how the render ran: compiled or eager (a compile that
fell back to eager reads ``compiled = false`` with ``compile_error``), the float32 matmul
precision it ran under and the process's own (``process_matmul_precision``).
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.grains import UNREPRESENTATIVE_RATIO
from analysis.parity import compare_images
from analysis.parity.diff_png import diff_preview_png
from analysis.traces import profile_call, trace_to_ops
from farm.actors.memory import PhaseMemory
from farm.actors.messages import CellFailure, CellJob, CellResult, to_ipc
from farm.actors.targets import TargetError, keyword_options, render_report
from farm.actors.warm_state import compile_cache_files
from farm.error_text import one_line_error
from farm.references import ReferenceOutcome


@dataclass
class WorkerContext:
    """What a measurement needs from the worker that runs it.

    Attributes:
        node: hostname.
        device_name: CPU model or GPU name.
        threads: torch intra-op threads.
        factories: loaded target factories by spec (imported once per worker).
        node_id: the Ray node id (None outside Ray).
        node_ip: the Ray node's IP address (None outside Ray).
        cells_done: cells this process has measured (what was warm before the next one).
        provenance: each target's provenance (:meth:`Target.provenance`), once per worker.
    """

    node: str
    device_name: str
    threads: int
    factories: dict[str, Any] = field(default_factory=dict)
    node_id: str | None = None
    node_ip: str | None = None
    cells_done: int = 0
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)


class CellMeasurement:
    """The work of :meth:`CellWorker.run` for one cell, with what it measured so far."""

    def __init__(self, job: CellJob, ctx: WorkerContext, result: CellResult) -> None:
        import torch

        self.torch = torch
        self.job = job
        self.ctx = ctx
        self.result = result
        self.cell = job.cell
        self.cuda = job.cell.device == "cuda"
        self.memory = PhaseMemory(job.cell.device)
        self.phase = "cold"
        self.cold_image: Any = None
        self.warm_image: Any = None
        self.fn: Any = None
        self.last_report: dict[str, Any] = render_report(None)
        self.cold: dict[str, Any] = {}
        self.warm_totals: list[float] = []
        self.warm_mem: list[dict[str, Any]] = []  # memory columns of each warm render
        self.profiled_s: float | None = None
        self.profiled_call_s: float | None = None
        self.profiled_renders: list[float] = []
        self.warm_before = {
            "env": job.cell.env_json(),
            "cold_mode": job.cold,
            "process_cells": ctx.cells_done,
            "compile_cache_files": compile_cache_files(),
        }
        self.corr_cold: float | None = None
        self.corr_warm: float | None = None
        self.corr_line: str | None = None
        self.started = time.perf_counter()
        self.steps: dict[str, float] = {}  # seconds per step of the cell, for diagnostics

    # rows -----------------------------------------------------------------------------------

    def _row(self, phase: str | None, iteration: int, **values: Any) -> dict[str, Any]:
        cell = self.cell
        sim_s = values.get("sim_s")
        row = {
            "cell_tag": cell.tag,
            "target": cell.target,
            "device": cell.device,
            "device_name": self.ctx.device_name,
            "dtype": cell.dtype,
            "size": cell.size,
            "pixels": cell.pixels,
            "params": cell.params_json(),
            "iteration": iteration,
            "phase": phase,
            "threads": self.ctx.threads,
            "status": "ok",
            "error": None,
            "node": self.ctx.node,
            "node_id": self.ctx.node_id,
            "node_ip": self.ctx.node_ip,
            "torch_version": self.torch.__version__,
            "git_sha": self.job.git_sha,
            "throughput_px_s": cell.pixels / sim_s if sim_s else None,
            "isolation": self.job.isolation,
            **self._how(),
            **self.warm_before,
            **self.ctx.provenance.get(self.job.target.spec, {}),
        }
        row.update(values)
        self.result.runs.append(row)
        return row

    def _how(self) -> dict[str, Any]:
        """How the render ran: the target's report, and the process's precision settings."""
        torch = self.torch
        process = torch.get_float32_matmul_precision()
        if self.fn is not None:  # the render is released before the record is made
            self.last_report = render_report(self.fn)
        how = dict(self.last_report)
        how["matmul_precision"] = how["matmul_precision"] or process
        how["process_matmul_precision"] = process
        how["cudnn_allow_tf32"] = bool(torch.backends.cudnn.allow_tf32)
        return how

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
        self.started = time.perf_counter()
        factory = self.ctx.factories.get(job.target.spec)
        if factory is None:
            try:
                factory = job.target.load()
            except TargetError as exc:
                raise CellFailure(f"target {job.target.spec}: {exc}") from None
            self.ctx.factories[job.target.spec] = factory
        if job.target.spec not in self.ctx.provenance:
            self.ctx.provenance[job.target.spec] = job.target.provenance()
        keywords = {k: v for k, v in cell.options.items() if k in keyword_options(factory)}

        self.phase = "cold"
        self._sync()
        self.memory.reset()
        t0 = time.perf_counter()
        self.fn = factory(cell.size, cell.device, cell.dtype, dict(cell.params), **keywords)
        self._sync()
        t1 = time.perf_counter()
        image = self.fn()
        self._sync()
        t2 = time.perf_counter()
        self.cold = {
            "setup_s": t1 - t0,
            "sim_s": t2 - t1,
            "total_s": t2 - t0,
            **self.memory.columns(),
        }
        row = self._row("cold", 0, **self.cold)
        try:
            self.cold_image = self._check_image(image)
        except CellFailure:
            row["status"] = "failed"
            raise

        self.phase = "warm"
        for _ in range(job.warmups):  # untimed: caches, allocator and threads settle
            self.fn()
            self._sync()
        for i in range(job.iterations):
            self.memory.reset()
            t0 = time.perf_counter()
            image = self.fn()
            self._sync()
            dt = time.perf_counter() - t0
            mem = self.memory.columns()
            row = self._row("warm", i, setup_s=0.0, sim_s=dt, total_s=dt, **mem)
            try:
                self.warm_image = self._check_image(image)
            except CellFailure:
                row["status"] = "failed"
                raise
            self.warm_totals.append(dt)
            self.warm_mem.append(mem)

        self.steps["timed"] = time.perf_counter() - self.started
        if job.profile:
            self.phase = "profiled"
            t = time.perf_counter()
            self._profiled()
            self.steps["profiled_and_ingest"] = time.perf_counter() - t
        self.phase = "correlation"
        t = time.perf_counter()
        self._correlate(reference)
        self.steps["correlation"] = time.perf_counter() - t

    def _profiled(self) -> None:
        pkg_dir = self.job.target.package_dir()
        with tempfile.TemporaryDirectory(prefix="farm-profile-") as tmp:
            trace_path = Path(tmp) / "trace.json.gz"
            self.memory.reset()
            t0 = time.perf_counter()
            try:
                image, capture = profile_call(
                    self.fn,
                    device=self.cell.device,
                    trace_path=trace_path,
                    project_root=pkg_dir,
                    renders=self.job.profile_renders,
                )
                self._sync()
            except Exception as exc:
                self._row("profiled", 0, status="failed", error=one_line_error(exc))
                raise
            # each render's own window is the comparable time (capture.render_s); the rest
            # of the call exported and compressed the trace
            self.profiled_call_s = time.perf_counter() - t0
            self.profiled_renders = [float(s) for s in capture.render_s or (capture.wall_s,)]
            self.profiled_s = statistics.median(self.profiled_renders)
            memory = self.memory.columns()
            rows = [
                self._row("profiled", k, setup_s=0.0, sim_s=dt, total_s=dt, **memory)
                for k, dt in enumerate(self.profiled_renders)
            ]
            try:
                self._check_image(image)
            except CellFailure:
                rows[-1]["status"] = "failed"
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
        keys = {
            "stamp": self.job.stamp,
            "cell_id": self.cell.cell_id,
            "device": self.cell.device,
            "dtype": self.cell.dtype,
            "size": self.cell.size,
        }
        try:
            self.result.ops_ipc = to_ipc(trace_to_ops(trace_path, keys))
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
        try:
            report = compare_images(self.warm_image, reference.image)
        except ValueError as exc:
            row.update(status="failed", verdict="fail", error=one_line_error(exc))
            raise CellFailure(f"correlation: {exc}") from None
        row.update(report.to_row())
        row.update(status="ok", error="; ".join(report.reasons) or None)
        keys = {k: row[k] for k in ("cell_tag", "device", "dtype", "size")}
        self.result.tiles = [{**keys, **tile} for tile in report.tile_rows()]
        if report.verdict == "fail":  # where it goes wrong, for the report
            self.result.diff_png = diff_preview_png(self.warm_image, reference.image)
        self.corr_warm = report.corr
        if self.torch.equal(self.cold_image, self.warm_image):
            self.corr_cold = report.corr
        else:
            self.corr_cold = compare_images(self.cold_image, reference.image).corr
        self.corr_line = report.summary_line()

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
        """Drop the cell's tensors so the next cell starts clean.

        Reference counting frees them; a full ``gc.collect()`` would cost ~0.1 s per cell in a
        process that has torch and Ray loaded, for nothing.
        """
        self.fn = None
        self.cold_image = self.warm_image = None
        if self.cuda and self.torch.cuda.is_available():
            self.torch.cuda.empty_cache()

    def record(self, reference: ReferenceOutcome | None) -> dict[str, Any]:
        """The ``benchmark_results.json`` object (the old script's names, then ours)."""
        cell, cold, warm = self.cell, self.cold, self.warm_totals
        reference_time = reference.wall_s if reference is not None and reference.ok else None
        engine = reference.key.engine if reference else "none"
        c_time = reference_time if engine == "nanobragg" else None  # the C binary's only
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
            "py_mem_warm": _max(m["peak_mem_mb"] for m in self.warm_mem),
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
            "reference": engine,
            "reference_engine": engine,
            "reference_time": reference_time,
            "verdict": (self.result.correlation or {}).get("verdict"),
            "correlation_status": (self.result.correlation or {}).get("status"),
            "correlation_error": (self.result.correlation or {}).get("error"),
            "sum_ratio": (self.result.correlation or {}).get("sum_ratio"),
            "iterations": len(warm),
            "warmups": self.job.warmups,
            "py_time_warm_samples": list(warm),
            "py_time_warm_min": min(warm) if warm else None,
            "py_time_warm_max": max(warm) if warm else None,
            "py_time_warm_stdev": statistics.stdev(warm) if len(warm) > 1 else None,
            "py_time_profiled": self.profiled_s,
            "py_time_profiled_renders": list(self.profiled_renders),
            "py_time_profiled_call": self.profiled_call_s,
            "profile_ratio": _ratio(self.profiled_s, py_time_warm),
            "profile_unrepresentative": _unrepresentative(self.profiled_s, py_time_warm),
            **self.warm_before,
            "threads": self.ctx.threads,
            "node": self.ctx.node,
            "node_id": self.ctx.node_id,
            "node_ip": self.ctx.node_ip,
            "device_name": self.ctx.device_name,
            "device_peak_reserved_mb_cold": cold.get("device_peak_reserved_mb"),
            "device_peak_reserved_mb_warm": _max(
                m["device_peak_reserved_mb"] for m in self.warm_mem
            ),
            **{k: v for k, v in self._how().items() if k != "cudnn_allow_tf32"},
            "isolation": self.job.isolation,
            "notes": list(self.result.notes),
        }
        if self.corr_line:
            rec["correlation_line"] = self.corr_line
        return rec


def _max(values: Any) -> float | None:
    """The largest of the values that are not None, or None."""
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _unrepresentative(profiled: float | None, warm: float | None) -> bool | None:
    """Whether the median profiled render is over the threshold x the warm median."""
    ratio = _ratio(profiled, warm)
    return None if ratio is None else ratio > UNREPRESENTATIVE_RATIO


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0 or not math.isfinite(num):
        return None
    return num / den
