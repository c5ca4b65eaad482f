"""Schemas of the grain tables: ``hot_lines``, ``hot_functions``, ``hot_ops``.

One row per profiled cell and grain. Times and counts are medians over the cell's
profiled renders (``renders`` of them); ``pct_min``/``pct_max`` are the spread of the
share over those renders; ``profile_ratio`` is the median profiled render over the warm
median (over 1.5: the profiled render is not typical of the warm ones, see
:data:`UNREPRESENTATIVE_RATIO`).
"""

from __future__ import annotations

import pyarrow as pa

from analysis.tables.schema import SCHEMA_VERSION

#: A profiled render this much slower than the warm median is flagged as unrepresentative.
UNREPRESENTATIVE_RATIO = 1.5

_KEYS = [
    pa.field("schema_version", pa.int32(), nullable=False),
    pa.field("stamp", pa.string(), nullable=False),
    pa.field("cell_id", pa.string(), nullable=False),
    pa.field("target", pa.string()),
    pa.field("device", pa.string()),
    pa.field("dtype", pa.string()),
    pa.field("size", pa.int64()),
]
_SHARES = [
    pa.field("pct_of_run", pa.float64()),  # median share of the profiled render's run time
    pa.field("pct_min", pa.float64()),  # smallest share over the renders
    pa.field("pct_max", pa.float64()),  # largest share over the renders
]
_TAIL = [
    pa.field("renders", pa.int32()),  # profiled renders the medians are over
    pa.field("run_us", pa.float64()),  # median run time of a profiled render (overhead out)
    pa.field("profile_ratio", pa.float64()),  # median profiled render / warm median
    pa.field("callsite_method", pa.string()),
]

HOT_LINES = pa.schema(
    [
        *_KEYS,
        pa.field("module", pa.string()),  # file relative to the package's parent
        pa.field("line", pa.int32()),
        pa.field("function", pa.string()),  # enclosing function, dotted (Class.method)
        pa.field("cpu_us", pa.float64()),  # host time charged to the line (exclusive)
        pa.field("python_us", pa.float64()),  # of which Python frames' own time
        pa.field("gpu_us", pa.float64()),  # kernels launched from the line
        pa.field("compiled_us", pa.float64()),  # compiled regions called from the line
        *_SHARES,
        pa.field("gpu_pct", pa.float64()),  # 100 * gpu_us / run_us
        pa.field("op_count", pa.int64()),  # outermost operators (and compiled regions) called
        pa.field("kernel_count", pa.int64()),
        pa.field("host_fixed_us", pa.float64()),  # sum of its operators' fastest calls
        *_TAIL,
    ]
)

HOT_FUNCTIONS = pa.schema(
    [
        *_KEYS,
        pa.field("module", pa.string()),
        pa.field("line", pa.int32()),  # where the function is defined
        pa.field("function", pa.string()),  # dotted (Class.method)
        pa.field("inclusive_us", pa.float64()),  # max(cpu_us, gpu_us)
        pa.field("cpu_us", pa.float64()),  # host time inside its outermost frames
        pa.field("gpu_us", pa.float64()),  # kernels launched inside it
        pa.field("self_us", pa.float64()),  # its own bytecode, not its calls
        *_SHARES,
        pa.field("self_pct", pa.float64()),
        pa.field("calls", pa.int64()),  # calls per render
        pa.field("op_count", pa.int64()),
        pa.field("kernel_count", pa.int64()),
        *_TAIL,
    ]
)

HOT_OPS = pa.schema(
    [
        *_KEYS,
        pa.field("kind", pa.string()),  # cpu_op | kernel | compiled
        pa.field("name", pa.string()),
        pa.field("op_device", pa.string()),  # cpu | cuda
        pa.field("inclusive_us", pa.float64()),
        pa.field("self_us", pa.float64()),  # compiled: outside its generated graphs
        *_SHARES,
        pa.field("self_pct", pa.float64()),
        pa.field("calls", pa.int64()),  # calls per render
        pa.field("min_call_us", pa.float64()),  # fastest call: its fixed host cost
        pa.field("call_module", pa.string()),  # the line that called it (compiled) or
        pa.field("call_line", pa.int32()),  # spent most of its time on it
        pa.field("call_function", pa.string()),
        pa.field("nested", pa.bool_()),  # a compiled region inside another
        pa.field("detail", pa.string()),
        *_TAIL,
    ]
)

GRAIN_TABLES: dict[str, pa.Schema] = {
    "hot_lines": HOT_LINES,
    "hot_functions": HOT_FUNCTIONS,
    "hot_ops": HOT_OPS,
}

__all__ = ["GRAIN_TABLES", "HOT_FUNCTIONS", "HOT_LINES", "HOT_OPS", "SCHEMA_VERSION"]
