"""Table ``ops`` -> tables ``hot_lines``, ``hot_functions``, ``hot_ops`` (every grain at once).

Each profiled render of a cell (one ``farm.run`` window) is attributed on its own; a row
holds the cell's representative render's times, counts and share (one render for all
three tables, chosen by its line shares), and the median and spread of the per-render
shares (:mod:`analysis.grains.renders`). ``profile_ratio`` is the median profiled render
over the cell's warm median (the profiler's overhead), when the caller knows it.

Example:
    >>> tables = grain_tables(ops, package_dirs={"simulator": Path("simulator")},
    ...                       targets={"c1": "simulator"}, warm_s={"c1": 0.12})
    >>> tables["hot_lines"].to_pylist()[0]["pct_of_run"]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from analysis.grains.events import CellEvents, cells, load_cell, split_entry
from analysis.grains.functions import function_metrics
from analysis.grains.lines import line_metrics
from analysis.grains.operators import op_metrics
from analysis.grains.qualnames import FunctionIndex
from analysis.grains.renders import over_renders, representative_render
from analysis.tables.schema import HOT_FUNCTIONS, HOT_LINES, HOT_OPS, SCHEMA_VERSION

#: A cell whose median profiled render took over this many times its warm median is
#: flagged: its profile is not typical of the warm renders (its shares still show, labelled).
UNREPRESENTATIVE_RATIO = 1.5


def grain_tables(
    ops: pa.Table,
    *,
    package_dirs: Mapping[str, Path | None] | None = None,
    targets: Mapping[str, str] | None = None,
    warm_s: Mapping[str, float] | None = None,
    events: Mapping[str, CellEvents] | None = None,
) -> dict[str, pa.Table]:
    """Rows of the three grain tables for every cell in ``ops``.

    Args:
        ops: table ``ops`` (one or more cells).
        package_dirs: target name -> the target package's directory (names its files and
            its functions); with one entry it serves every cell.
        targets: target name per cell_id (table ``runs``).
        warm_s: warm median in seconds per cell_id (for ``profile_ratio``).
        events: the cells' events from :func:`load_cells` (shared with the loop
            attribution); a cell not in it is loaded here.
    """
    package_dirs = dict(package_dirs or {})
    targets = dict(targets or {})
    warm_s = dict(warm_s or {})
    indexes: dict[Path | None, FunctionIndex] = {}
    out: dict[str, list[dict[str, Any]]] = {"hot_lines": [], "hot_functions": [], "hot_ops": []}
    for cell in cells(ops):
        cell_id = str(cell["cell_id"][0].as_py())
        target = targets.get(cell_id)
        pkg = _package(package_dirs, target)
        ev = (events or {}).get(cell_id) or load_cell(cell, _prefix(pkg))
        if not ev.windows:
            continue
        index = indexes.setdefault(pkg, FunctionIndex.for_package(pkg))
        lines = [line_metrics(ev, w) for w in range(len(ev.windows))]
        render = representative_render(lines, _runs(ev), "cpu_us")
        keys = _keys(cell, ev, target, warm_s.get(cell_id), render)
        out["hot_lines"].extend(_line_rows(ev, keys, index, lines))
        out["hot_functions"].extend(_function_rows(ev, keys, index))
        out["hot_ops"].extend(_op_rows(ev, keys, index))
    schemas = {"hot_lines": HOT_LINES, "hot_functions": HOT_FUNCTIONS, "hot_ops": HOT_OPS}
    return {name: pa.Table.from_pylist(rows, schema=schemas[name]) for name, rows in out.items()}


def load_cells(
    ops: pa.Table,
    package_dirs: Mapping[str, Path | None] | None = None,
    targets: Mapping[str, str] | None = None,
) -> dict[str, CellEvents]:
    """Each cell's events (:func:`load_cell`) by cell_id, with its target package's prefix.

    Args:
        ops: table ``ops`` (one or more cells).
        package_dirs: as for :func:`grain_tables`.
        targets: target name per cell_id.
    """
    package_dirs = dict(package_dirs or {})
    out = {}
    for cell in cells(ops):
        cell_id = str(cell["cell_id"][0].as_py())
        pkg = _package(package_dirs, (targets or {}).get(cell_id))
        out[cell_id] = load_cell(cell, _prefix(pkg))
    return out


def _package(package_dirs: Mapping[str, Path | None], target: str | None) -> Path | None:
    """The target's package directory; the only one there is when the target is not named."""
    only = next(iter(package_dirs.values())) if len(package_dirs) == 1 else None
    return package_dirs.get(target or "", only)


def _prefix(pkg: Path | None) -> str | None:
    """How the package's files start in the trace (``simulator/``)."""
    return f"{Path(pkg).resolve().name}/" if pkg is not None else None


def _runs(ev: CellEvents) -> list[float]:
    return [ev.run_us(w) for w in range(len(ev.windows))]


def _keys(cell: pa.Table, ev: CellEvents, target: str | None, warm: float | None, m: int) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "stamp": cell["stamp"][0].as_py(),
        "cell_id": cell["cell_id"][0].as_py(),
        "target": target,
        "device": cell["device"][0].as_py() if "device" in cell.column_names else None,
        "dtype": cell["dtype"][0].as_py() if "dtype" in cell.column_names else None,
        "size": cell["size"][0].as_py() if "size" in cell.column_names else None,
        "renders": len(ev.windows),
        "render": m,
        "run_us": ev.run_us(m),
        "run_threads": ev.windows[m].threads,
        "profile_ratio": ev.median_window_s() / warm if warm else None,
        "callsite_method": ev.method,
    }


def _over_renders(
    ev: CellEvents,
    keys: dict,
    per_render: Callable[[int], dict],
    share: str,
    self_share: str | None = None,
) -> dict[Any, dict[str, float]]:
    """Every render attributed, then one row per key (:func:`over_renders`)."""
    got = [per_render(w) for w in range(len(ev.windows))]
    return over_renders(got, _runs(ev), share, self_share, keys["render"])


def _int(v: Any) -> int | None:
    return None if v is None else round(v)


def _where(entry: str | None, index: FunctionIndex) -> tuple[str | None, int | None, str | None]:
    parts = split_entry(entry)
    if parts is None:
        return None, None, None
    module, line, func = parts
    return module, line, index.qualname(module, line, func)


def _line_rows(ev: CellEvents, keys: dict, index: FunctionIndex, lines: list) -> list[dict]:
    rows = []
    for entry, m in _over_renders(ev, keys, lambda w: lines[w], "cpu_us").items():
        module, line, function = _where(entry, index)
        run = keys["run_us"]
        rows.append(
            {
                **keys,
                "module": module,
                "line": line,
                "function": function,
                **{k: m.get(k) for k in ("cpu_us", "python_us", "gpu_us", "compiled_us")},
                **{k: m.get(k) for k in ("pct_of_run", "pct_median", "pct_min", "pct_max")},
                "gpu_pct": 100.0 * m["gpu_us"] / run if run else None,
                "op_count": _int(m.get("op_count")),
                "kernel_count": _int(m.get("kernel_count")),
                "host_fixed_us": m.get("host_fixed_us"),
            }
        )
    return rows


def _function_rows(ev: CellEvents, keys: dict, index: FunctionIndex) -> list[dict]:
    callers: dict[str, str] = {}

    def per_render(w: int) -> dict:
        metrics, found = function_metrics(ev, w)
        for k, v in found.items():
            callers.setdefault(k, v)
        return metrics

    rows = []
    for entry, m in _over_renders(ev, keys, per_render, "inclusive_us", "self_us").items():
        module, line, function = _where(entry, index)
        rows.append(
            {
                **keys,
                "module": module,
                "line": line,
                "function": function,
                **{k: m.get(k) for k in ("inclusive_us", "cpu_us", "gpu_us", "self_us")},
                **{
                    k: m.get(k)
                    for k in ("pct_of_run", "pct_median", "pct_min", "pct_max", "self_pct")
                },
                **{k: _int(m.get(k)) for k in ("calls", "op_count", "kernel_count")},
                "caller": callers.get(entry),
            }
        )
    return rows


def _op_rows(ev: CellEvents, keys: dict, index: FunctionIndex) -> list[dict]:
    metas: dict = {}

    def per_render(w: int) -> dict:
        metrics, meta = op_metrics(ev, w)
        for k, v in meta.items():
            metas.setdefault(k, v)
        return metrics

    rows = []
    for (kind, name), m in _over_renders(ev, keys, per_render, "inclusive_us", "self_us").items():
        meta = metas.get((kind, name), {})
        module, line, function = _where(meta.get("call_line"), index)
        rows.append(
            {
                **keys,
                "kind": kind,
                "name": name,
                "op_device": meta.get("op_device"),
                "inclusive_us": m.get("inclusive_us"),
                "self_us": m.get("self_us"),
                **{
                    k: m.get(k)
                    for k in ("pct_of_run", "pct_median", "pct_min", "pct_max", "self_pct")
                },
                "calls": _int(m.get("calls")),
                "min_call_us": m.get("min_call_us"),
                "call_module": module,
                "call_line": line,
                "call_function": function,
                "nested": meta.get("nested"),
                "detail": meta.get("detail"),
            }
        )
    return rows
