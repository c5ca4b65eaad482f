"""Call-site lines of profiled operators: the one adapter over torch's private profiler API.

A Chrome trace from ``torch.profiler`` names each Python frame by the line where its
function is *defined*, and an operator called straight from a frame (``a * b``) has no
Python event of its own, so the trace alone cannot say which line of a loop ran it.
This module is the only place that knows how call-site lines are recovered; capture uses
it while profiling, ingestion reads what it wrote next to the trace.

Methods, best first (the method used is recorded in the sidecar and in table ``ops``):

``event_tree``
    A pass-through :class:`~torch.overrides.TorchFunctionMode` gives every torch call made
    from Python a Python frame of its own, so even ``a * b`` gets one; after the run the
    profiler's in-process event tree (private: ``kineto_results.experimental_event_tree()``
    with ``_ExtraFields_PyCall.caller``) says, for every Python event, the file, line and
    function it was called from. Those rows go to the sidecar, keyed by start time and name.
    The mode's own frames are instrumentation; ingestion removes them and keeps their self
    time so attribution can subtract it.
``markers``
    Used when the private tree is missing or changed shape (probed once per process):
    the mode walks the Python stack at every torch call and wraps the call in a
    ``record_function("farm.cs#<id>")`` marker; the sidecar maps each id to its stack.
    Public API only, but dearer per operator.
``definition_lines``
    Nothing recovered (extraction failed after the run): only the trace's own frame names
    remain, so loops cannot be told apart inside a function. Recorded, never hidden.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

import orjson
import pyarrow as pa
import torch
from torch.overrides import TorchFunctionMode

METHOD_EVENT_TREE = "event_tree"
METHOD_MARKERS = "markers"
METHOD_DEFINITION_LINES = "definition_lines"

RUN_MARKER = "farm.run"
MARKER_PREFIX = "farm.cs#"
SIDECAR_FORMAT = 1
_INSTR_FUNCTION = "__torch_function__"
INSTR_NONE, INSTR_FRAME, INSTR_VIA = 0, 1, 2

_TREE_SCHEMA = pa.schema(
    [
        pa.field("start_ns", pa.int64()),
        pa.field("name", pa.string()),
        pa.field("call_kind", pa.string()),  # call (Python function) | ccall (C function)
        pa.field("file", pa.string()),
        pa.field("line", pa.int32()),
        pa.field("function", pa.string()),
        pa.field("instr", pa.int8()),  # INSTR_FRAME: the mode's own frame; INSTR_VIA: called by it
    ]
)
_MARKER_SCHEMA = pa.schema(
    [pa.field("marker_id", pa.int64()), pa.field("stack", pa.list_(pa.string()))]
)


def sidecar_path(trace_path: Path) -> Path:
    """Where the call-site sidecar of ``trace_path`` lives (same folder, same stem)."""
    return trace_path.with_name(_stem(trace_path) + ".callsites.arrow")


def _stem(trace_path: Path) -> str:
    name = trace_path.name
    for suffix in (".json.gz", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return trace_path.stem


class _PassThroughMode(TorchFunctionMode):
    """Gives every torch call made from Python a Python frame (the event-tree method)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


#: This module as trace frames name it ("analysis/traces/callsite.py").
_SELF_FILE = "/".join(Path(__file__).parts[-3:])
_MODE_CODE = _PassThroughMode.__torch_function__.__code__


class _MarkerMode(TorchFunctionMode):
    """Wraps every torch call in a ``farm.cs#<id>`` marker naming its Python stack.

    On any thread: a thread other than the profiled call's has no ``stop_code`` frame, and
    its stack runs to the thread's first frame.
    """

    def __init__(self, stop_code: CodeType, names: FileNames) -> None:
        super().__init__()
        self._stop_code = stop_code
        self._names = names
        self._ids: dict[tuple[tuple[CodeType, int], ...], int] = {}
        self._next_id = itertools.count()
        self._record = fast_record_function()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        frame: FrameType | None = sys._getframe(1)
        key = []
        while frame is not None and frame.f_code is not self._stop_code:
            key.append((frame.f_code, frame.f_lineno))
            frame = frame.f_back
        stack_key = tuple(key)
        marker = self._ids.get(stack_key)
        if marker is None:  # setdefault and next(): one id per stack on every thread
            marker = self._ids.setdefault(stack_key, next(self._next_id))
        with self._record(f"{MARKER_PREFIX}{marker}"):
            return func(*args, **(kwargs or {}))

    def table(self) -> pa.Table:
        """The sidecar rows: one per distinct stack, innermost frame first."""
        ids, stacks = [], []
        for key, marker in self._ids.items():
            ids.append(marker)
            stacks.append(
                [f"{self._names.name(c.co_filename)}:{line}:{c.co_name}" for c, line in key]
            )
        return pa.table({"marker_id": ids, "stack": stacks}, schema=_MARKER_SCHEMA)


def fast_record_function() -> Callable[[str], Any]:
    """The cheapest ``record_function`` context available: torch's private fast one, else public.

    The private one opens and closes without Python enter/exit frames, so neither the
    markers nor the run window add Python events inside the profiled window.
    """
    fast = getattr(torch._C._profiler, "_RecordFunctionFast", None)
    if fast is not None:
        return fast
    return torch.autograd.profiler.record_function


@dataclass
class FileNames:
    """Turns the file names Python or the profiler gives into the names tables use.

    Files inside ``project_root`` are named relative to its parent (``simulator/engine.py``),
    the way the loop inventory names modules; other files keep the profiler's short name
    (relative to the ``sys.path`` entry that holds them).
    """

    project_root: Path | None
    search_path: tuple[str, ...] = field(default_factory=lambda: tuple(sys.path))
    _cache: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def project_prefix(self) -> str | None:
        """Prefix shared by every project file name (``simulator/``), or None."""
        return None if self.project_root is None else self.project_root.name + "/"

    def name(self, raw: str) -> str:
        """The table name of file ``raw`` (absolute, or relative to a ``sys.path`` entry)."""
        cached = self._cache.get(raw)
        if cached is None:
            cached = self._cache[raw] = self._resolve(raw)
        return cached

    def _resolve(self, raw: str) -> str:
        path = self._absolute(raw)
        if path is None:
            return raw
        if self.project_root is not None:
            root = self.project_root.resolve()
            if path == root or root in path.parents:
                return path.relative_to(root.parent).as_posix()
        best = None
        for entry in self.search_path:
            base = Path(entry or os.getcwd()).resolve()
            if base in path.parents and (best is None or len(base.parts) > len(best.parts)):
                best = base
        return path.relative_to(best).as_posix() if best is not None else raw

    def _absolute(self, raw: str) -> Path | None:
        if raw.startswith("<"):
            return None
        if os.path.isabs(raw):
            return Path(raw).resolve()
        for entry in self.search_path:
            candidate = Path(entry or os.getcwd()) / raw
            if candidate.is_file():
                return candidate.resolve()
        return None


def make_mode(method: str, stop_code: CodeType, names: FileNames) -> TorchFunctionMode:
    """The torch-function mode that ``method`` profiles under."""
    if method == METHOD_MARKERS:
        return _MarkerMode(stop_code, names)
    return _PassThroughMode()


@functools.lru_cache(maxsize=1)
def event_tree_problem() -> str | None:
    """Why the event-tree method cannot be used in this process, or None when it can.

    Profiles a two-line probe once and checks that the private tree yields the caller
    line of a torch call made from the probe.
    """

    def _probe() -> torch.Tensor:
        x = torch.ones(2)
        return x * 3

    try:
        from torch.profiler import ProfilerActivity, profile

        with (
            profile(activities=[ProfilerActivity.CPU], with_stack=True) as prof,
            _PassThroughMode(),
        ):
            _probe()
        rows = _tree_rows(prof, FileNames(None))
        lines = {
            rows["line"][i]
            for i in range(len(rows["line"]))
            if rows["function"][i] == "_probe" and rows["instr"][i] == INSTR_FRAME
        }
    except Exception as exc:  # any change in the private API lands here
        return f"{type(exc).__name__}: {exc}"
    first = _probe.__code__.co_firstlineno
    if {first + 1, first + 2} <= lines:
        return None
    return f"event tree gave caller lines {sorted(lines)}, expected {first + 1} and {first + 2}"


def _tree_rows(prof: Any, names: FileNames) -> dict[str, list]:
    """Caller of every Python event in the profiler's private event tree, as columns."""
    cols: dict[str, list] = {f.name: [] for f in _TREE_SCHEMA}
    todo = list(prof.profiler.kineto_results.experimental_event_tree())
    mode_file = _MODE_CODE.co_filename
    while todo:
        event = todo.pop()
        todo.extend(event.children)
        try:
            row = _tree_row(event, names, mode_file)
        except UnicodeDecodeError:  # a name torch cannot decode (seen under torch.compile)
            continue
        if row is not None:
            for column, value in zip(cols.values(), row, strict=True):
                column.append(value)
    return cols


def _tree_row(event: Any, names: FileNames, mode_file: str) -> tuple | None:
    """(start, name, kind, file, line, function, instr) of a Python event's caller, else None."""
    from torch._C._profiler import _ExtraFields_PyCall, _ExtraFields_PyCCall

    extra = event.extra_fields
    if isinstance(extra, _ExtraFields_PyCall):
        kind = "call"
        callee = extra.callsite
        is_frame = callee.function_name == _INSTR_FUNCTION and _same_file(
            callee.file_name, mode_file
        )
        instr = INSTR_FRAME if is_frame else INSTR_NONE
    elif isinstance(extra, _ExtraFields_PyCCall):
        kind = "ccall"
        instr = INSTR_NONE
    else:
        return None
    caller = extra.caller
    if caller.function_name == _INSTR_FUNCTION and _same_file(caller.file_name, mode_file):
        instr = INSTR_VIA  # the real call, made by the mode: its caller line is ours
    return (
        event.start_time_ns,
        event.name,
        kind,
        names.name(caller.file_name),
        caller.line_number,
        caller.function_name,
        instr,
    )


def _same_file(short: str, full: str) -> bool:
    return full == short or full.endswith("/" + short)


@dataclass(frozen=True)
class SidecarWrite:
    """What :func:`write_sidecar` wrote."""

    path: Path | None
    method: str
    note: str
    rows: int
    files: tuple[str, ...] = ()  # file names that appear in the call sites


def source_hashes(written: SidecarWrite, names: FileNames) -> dict[str, str]:
    """sha1 of each project file named in the call sites (empty without a project root)."""
    prefix, root = names.project_prefix, names.project_root
    if prefix is None or root is None:
        return {}
    out = {}
    for name in sorted(set(written.files)):
        path = root.resolve().parent / name
        if name.startswith(prefix) and path.is_file():
            out[name] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


def write_sidecar(
    trace_path: Path,
    method: str,
    prof: Any,
    mode: TorchFunctionMode,
    names: FileNames,
    note: str = "",
) -> SidecarWrite:
    """Write the call-site sidecar next to the trace; degrade to definition lines on failure.

    Args:
        trace_path: The Chrome trace the sidecar belongs to.
        method: The method the run was profiled under.
        prof: The stopped ``torch.profiler.profile``.
        mode: The torch-function mode that was active (holds the marker stacks).
        names: File-name normaliser.
        note: Why this method was chosen (kept in the sidecar metadata).
    """
    path = sidecar_path(trace_path)
    try:
        if method == METHOD_MARKERS:
            table = mode.table()  # type: ignore[attr-defined]
            files = {e.rsplit(":", 2)[0] for s in table["stack"].to_pylist() for e in s}
        else:
            table = pa.table(_tree_rows(prof, names), schema=_TREE_SCHEMA)
            files = set(table["file"].unique().to_pylist())
    except Exception as exc:  # the private API changed between probe and use
        note = f"{note}; call-site extraction failed ({type(exc).__name__}: {exc})".lstrip("; ")
        return SidecarWrite(None, METHOD_DEFINITION_LINES, note, 0)
    meta = {
        "format": SIDECAR_FORMAT,
        "method": method,
        "note": note,
        "project_prefix": names.project_prefix,
        "torch": torch.__version__,
    }
    table = table.replace_schema_metadata({"farm": orjson.dumps(meta)})
    tmp = path.with_name(f".{path.name}.partial")
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with (
        pa.OSFile(str(tmp), "wb") as sink,
        pa.ipc.new_file(sink, table.schema, options=options) as w,
    ):
        w.write_table(table)
    os.replace(tmp, path)
    return SidecarWrite(path, method, note, table.num_rows, tuple(sorted(files)))


@dataclass(frozen=True)
class Sidecar:
    """Call-site data read back for ingestion."""

    method: str
    project_prefix: str | None
    table: pa.Table | None  # rows of the event-tree or marker schema; None without sidecar
    note: str = ""


def read_sidecar(trace_path: Path) -> Sidecar:
    """Read the sidecar of ``trace_path``; a missing one means ``definition_lines``."""
    path = sidecar_path(trace_path)
    if not path.exists():
        return Sidecar(METHOD_DEFINITION_LINES, None, None, f"no sidecar {path.name}")
    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_file(source).read_all()
    meta = orjson.loads((table.schema.metadata or {}).get(b"farm", b"{}"))
    method = meta.get("method", METHOD_DEFINITION_LINES)
    return Sidecar(method, meta.get("project_prefix"), table, meta.get("note", ""))


def is_instrumentation_frame(name: str) -> bool:
    """Whether a trace's Python event name is the pass-through mode's own frame."""
    return name.endswith(f"): {_INSTR_FUNCTION}") and f"{_SELF_FILE}(" in name
