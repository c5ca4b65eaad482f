"""Profile one call of a target and write its trace, with call-site lines, into one folder.

Everything written lands in ``trace_path``'s folder (the sweep ships that folder from a
Ray worker back to the driver):

- ``<stem>.json.gz``: the Chrome/Perfetto trace (CPU [+ CUDA] activities, ``with_stack``);
- ``<stem>.callsites.arrow`` (Arrow IPC): call-site lines for the trace's Python events or markers
  (see :mod:`analysis.traces.callsite`), absent when extraction failed;
- ``<stem>.capture.json``: the :class:`CaptureSummary`.

Example:
    >>> result, capture = profile_call(render, device="cpu",
    ...                                trace_path=Path("profile/cell/trace.json.gz"),
    ...                                project_root=Path("simulator"))
"""

from __future__ import annotations

import gzip
import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
import torch
from torch.profiler import ProfilerActivity, profile

from analysis.traces import callsite

T = TypeVar("T")

_GZIP_LEVEL = 3  # traces are mostly whitespace: level 3 is ~10x smaller and fast


@dataclass(frozen=True)
class CaptureSummary:
    """What one profiled call produced.

    Attributes:
        trace_path: The gzipped Chrome trace.
        files: Every file written, all in ``trace_path``'s folder.
        method: Call-site method used: ``event_tree``, ``markers`` or ``definition_lines``.
        method_note: Why that method (empty when the preferred one worked).
        device: ``cpu`` or ``cuda[:n]``.
        wall_s: Wall time of the call under the profiler, seconds (the median render when
            several were profiled).
        trace_bytes: Size of the uncompressed trace.
        callsite_rows: Rows in the sidecar (Python events or distinct marker stacks).
        project_prefix: How project files are named in stacks (``simulator/``), or None.
        torch_version: The torch that profiled.
        sources: sha1 of every project file in the stacks, so analysis can tell when the
            source changed after the capture (line numbers would no longer match).
        render_s: Wall time of each profiled render, in order (one ``farm.run`` window each).
        all_threads: Whether every thread of the process was profiled (torch's
            ``profile_all_threads``), not only the calling one: a target that renders on
            several threads is then seen whole.
    """

    trace_path: Path
    files: tuple[Path, ...]
    method: str
    method_note: str
    device: str
    wall_s: float
    trace_bytes: int
    callsite_rows: int
    project_prefix: str | None
    torch_version: str
    sources: dict[str, str] = field(default_factory=dict)
    render_s: tuple[float, ...] = ()
    all_threads: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; files are named relative to the trace's folder (it travels)."""
        out = asdict(self)
        out["trace_path"] = self.trace_path.name
        out["files"] = [p.name for p in self.files]
        return out


def choose_method() -> tuple[str, str]:
    """The call-site method this process can use, and why when it is not the best one."""
    problem = callsite.event_tree_problem()
    if problem is None:
        return callsite.METHOD_EVENT_TREE, ""
    return callsite.METHOD_MARKERS, f"event tree unusable: {problem}"


def all_threads_config() -> Any | None:
    """The profiler setting that records every thread's operators and Python frames, if any.

    torch (2.13) keeps to the thread that started the profiler unless told
    ``profile_all_threads``; the Python frames of a thread are traced only when it already
    exists as the profiler starts. None where this torch has no such setting.
    """
    config = getattr(torch._C._profiler, "_ExperimentalConfig", None)
    try:
        return None if config is None else config(profile_all_threads=True)
    except TypeError:  # an older torch without the keyword
        return None


def profile_call(
    fn: Callable[[], T],
    *,
    device: str,
    trace_path: Path,
    project_root: Path | None = None,
    method: str | None = None,
    warmup: bool = True,
    renders: int = 1,
) -> tuple[T, CaptureSummary]:
    """Run ``fn()`` under ``torch.profiler`` and write its trace with call-site lines.

    Args:
        fn: The warm part of a target (renders once, returns the image).
        device: ``cpu`` or ``cuda[:n]``; CUDA adds the CUDA activity and synchronises so the
            kernels fall inside the run window.
        trace_path: Where the gzipped Chrome trace goes (``.../trace.json.gz``).
        project_root: The target package's directory; its files are named relative to its
            parent in stacks (``simulator/engine.py``) and count as project frames.
        method: Force a call-site method (tests); default: the best that works here.
        warmup: Call ``fn()`` once under the call-site mode before profiling, so a target
            compiled with ``torch.compile`` re-specialises for the mode outside the profiled
            window (otherwise the profiled run would time a recompilation).
        renders: Profiled renders, one after another in one profiler session, each in its
            own ``farm.run`` window (so shares can be taken per render, and their median).

    Returns:
        The last ``fn()``'s result and a :class:`CaptureSummary`.

    Raises:
        ValueError: ``device`` is neither cpu nor cuda, or ``trace_path`` is not ``.json.gz``.
        Exception: Whatever ``fn`` raises (nothing is written then).
    """
    trace_path = Path(trace_path)
    if not trace_path.name.endswith(".json.gz"):
        raise ValueError(f"trace_path must end with .json.gz, got {trace_path.name!r}")
    if renders < 1:
        raise ValueError(f"renders must be at least 1, got {renders}")
    is_cuda = device.startswith("cuda")
    if not (is_cuda or device == "cpu"):
        raise ValueError(f"device must be 'cpu' or 'cuda[:n]', got {device!r}")
    if method is None:
        method, note = choose_method()
    else:
        note = f"forced method {method}"
    folder = trace_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    names = callsite.FileNames(None if project_root is None else Path(project_root))
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if is_cuda else [])
    mode = callsite.make_mode(method, _run.__code__, names)

    if warmup:
        with callsite.make_mode(method, _run.__code__, names):
            fn()
    if is_cuda:
        torch.cuda.synchronize(device)
    walls = []
    threads = all_threads_config()
    with profile(
        activities=activities, with_stack=True, record_shapes=False, experimental_config=threads
    ) as prof:
        for _ in range(renders):
            result, wall = _run(fn, mode, device if is_cuda else None)
            walls.append(wall)

    raw = trace_path.with_name(f".{trace_path.name}.partial.json")
    prof.export_chrome_trace(str(raw))
    trace_bytes = raw.stat().st_size
    _gzip_into(raw, trace_path)
    sidecar = callsite.write_sidecar(trace_path, method, prof, mode, names, note)
    files = [trace_path] + ([sidecar.path] if sidecar.path is not None else [])
    summary_path = trace_path.with_name(trace_path.name[: -len(".json.gz")] + ".capture.json")
    summary = CaptureSummary(
        trace_path=trace_path,
        files=(*files, summary_path),
        method=sidecar.method,
        method_note=sidecar.note,
        device=device,
        wall_s=statistics.median(walls),
        trace_bytes=trace_bytes,
        callsite_rows=sidecar.rows,
        project_prefix=names.project_prefix,
        torch_version=torch.__version__,
        sources=callsite.source_hashes(sidecar, names),
        render_s=tuple(walls),
        all_threads=threads is not None,
    )
    summary_path.write_bytes(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2))
    return result, summary


def _run(fn: Callable[[], T], mode: Any, cuda_device: str | None) -> tuple[T, float]:
    """The profiled window: ``farm.run`` marker around ``fn()`` under the call-site mode."""
    marker = callsite.fast_record_function()
    start = time.perf_counter()
    with marker(callsite.RUN_MARKER):
        with mode:
            result = fn()
        if cuda_device is not None:
            torch.cuda.synchronize(cuda_device)
    return result, time.perf_counter() - start


def _gzip_into(raw: Path, target: Path) -> None:
    """Compress ``raw`` into ``target`` atomically, then remove ``raw``."""
    tmp = target.with_name(f".{target.name}.partial")
    try:
        with open(raw, "rb") as src, gzip.open(tmp, "wb", compresslevel=_GZIP_LEVEL) as dst:
            shutil.copyfileobj(src, dst, length=1 << 22)
        os.replace(tmp, target)
    finally:
        raw.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
