"""Parquet table schemas of an evidence bundle, with their version history.

Every row carries ``stamp`` and ``cell_id``; every table carries ``schema_version``.
Old bundles stay queryable: readers use DuckDB's ``union_by_name`` so a column added in a
later version reads as NULL in older parts.

History (newest first; bump SCHEMA_VERSION and add a line for every change):
    3 (2026-12-01):
        gpu: runs.peak_mem_mb is the host RSS peak on every device (v2 CUDA rows held
        torch.cuda.max_memory_allocated there); runs gains device_peak_allocated_mb,
        device_peak_reserved_mb, device_free_before_mb, device_free_after_mb,
        device_total_mb (NULL on CPU), compiled, compile_error, matmul_precision,
        process_matmul_precision, cudnn_allow_tf32, chunk_elements and isolation.
        nightly: runs gains node_id and node_ip (the Ray node beside its hostname);
        new tables cell_stats and hot_shares (one part per bundle: what farm compare and
        farm history read).
        reports: parity_tiles: the 16x16 tile map of every correlated cell.
        grains: tables hot_lines, hot_functions, hot_ops (every grain, from a cell's
        representative profiled render, with the spread over its renders); hot_loops gains
        host_fixed_us, renders, render, pct_median, pct_min, pct_max, run_us and
        profile_ratio; runs gains env, cold_mode, process_cells, compile_cache_files and the
        target's provenance (target_package, target_version, target_dir, target_commit,
        target_dirty); phase ``profiled`` has one row per profiled render.
        mtprof: every hot_* table gains run_threads (the threads that worked in the
        representative render); run_us is that render's thread-time (wall x run_threads,
        overhead removed), the denominator of pct_of_run (unchanged for one thread).
    2 (2026-11-27): ops gains event_id, parent_id, thread, callsite_method and kinds
        annotation | runtime | instr; loops gains package and qualname; hot_loops gains
        target, function, kind, kernel_count, instr_us and callsite_method.
    1 (2026-11-26): first version: runs, correlations, ops, loops, hot_loops.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 3

_KEYS = [
    pa.field("schema_version", pa.int32(), nullable=False),
    pa.field("stamp", pa.string(), nullable=False),
    pa.field("cell_id", pa.string(), nullable=False),
]

RUNS = pa.schema(
    [
        *_KEYS,
        pa.field("cell_tag", pa.string()),
        pa.field("target", pa.string()),
        pa.field("device", pa.string()),
        pa.field("device_name", pa.string()),
        pa.field("dtype", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("pixels", pa.int64()),
        pa.field("params", pa.string()),  # JSON text of the cell's other axes and flags
        pa.field("iteration", pa.int32()),
        pa.field("phase", pa.string()),  # cold | warm | profiled
        pa.field("setup_s", pa.float64()),
        pa.field("sim_s", pa.float64()),
        pa.field("total_s", pa.float64()),
        pa.field("peak_mem_mb", pa.float64()),  # host RSS peak of the phase, every device (v3)
        pa.field("throughput_px_s", pa.float64()),
        pa.field("threads", pa.int32()),
        pa.field("status", pa.string()),  # ok | failed | skipped | no_reference
        pa.field("error", pa.string()),
        pa.field("node", pa.string()),  # hostname
        pa.field("torch_version", pa.string()),
        pa.field("git_sha", pa.string()),
        # CUDA memory of the phase, MiB (v3; NULL on CPU): peaks since it began, and
        # torch.cuda.mem_get_info (the whole device) at its start and end
        pa.field("device_peak_allocated_mb", pa.float64()),
        pa.field("device_peak_reserved_mb", pa.float64()),
        pa.field("device_free_before_mb", pa.float64()),
        pa.field("device_free_after_mb", pa.float64()),
        pa.field("device_total_mb", pa.float64()),
        # how the render ran (v3): compiled kernel or eager (false after a fallback, with
        # compile_error; NULL for targets that do not say), float32 matmul precision the
        # render ran under and the process's own, cuDNN's TF32 switch, the block size
        pa.field("compiled", pa.bool_()),
        pa.field("compile_error", pa.string()),
        pa.field("matmul_precision", pa.string()),  # highest | high | medium
        pa.field("process_matmul_precision", pa.string()),
        pa.field("cudnn_allow_tf32", pa.bool_()),
        pa.field("chunk_elements", pa.int64()),
        pa.field("isolation", pa.string()),  # the grid's isolation: node | shared (v3)
        pa.field("node_id", pa.string()),  # Ray node id, hex (v3)
        pa.field("node_ip", pa.string()),  # Ray node IP address (v3)
        pa.field("env", pa.string()),  # JSON of the variables the grid set in the actor (v3)
        pa.field("cold_mode", pa.string()),  # process | instance: the grid's ``cold`` (v3)
        pa.field("process_cells", pa.int32()),  # cells this process measured before (v3)
        pa.field("compile_cache_files", pa.int64()),  # files in the compile cache (v3)
        pa.field("target_package", pa.string()),  # the target's package (v3)
        pa.field("target_version", pa.string()),  # its installed distribution's version
        pa.field("target_dir", pa.string()),  # its source directory
        pa.field("target_commit", pa.string()),  # git HEAD of the repository holding it
        pa.field("target_dirty", pa.bool_()),  # that repository has uncommitted changes
    ]
)

CORRELATIONS = pa.schema(
    [
        *_KEYS,
        pa.field("cell_tag", pa.string()),
        pa.field("device", pa.string()),
        pa.field("dtype", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("reference", pa.string()),  # builtin | nanobragg | none
        pa.field("reference_s", pa.float64()),  # the reference's own wall time
        pa.field("corr", pa.float64()),
        pa.field("sum_ratio", pa.float64()),
        pa.field("max_abs_err", pa.float64()),
        pa.field("rmse", pa.float64()),
        pa.field("tile_min_corr", pa.float64()),
        pa.field("worst_tile", pa.string()),
        pa.field("verdict", pa.string()),  # pass | fail | no_reference
        pa.field("status", pa.string()),
        pa.field("error", pa.string()),
    ]
)

OPS = pa.schema(
    [
        *_KEYS,
        pa.field("device", pa.string()),
        pa.field("dtype", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("event_id", pa.int64()),  # row number within the cell, start order (v2)
        pa.field("parent_id", pa.int64()),  # enclosing event (launching runtime call for kernels)
        pa.field("name", pa.string()),
        # cpu_op | kernel | python | annotation (record_function) | runtime (CUDA API call)
        # | instr (the call-site mode's own frame: self_us is profiling overhead)
        pa.field("kind", pa.string()),
        pa.field("op_device", pa.string()),  # where the event ran: cpu | cuda
        pa.field("thread", pa.string()),  # "pid/tid" as in the trace (v2)
        pa.field("ts_us", pa.float64()),  # since the trace's baseTimeNanoseconds
        pa.field("dur_us", pa.float64()),
        pa.field("self_us", pa.float64()),
        pa.field("stack", pa.list_(pa.string())),  # innermost first, "file:line:function"
        pa.field("project_frame", pa.string()),  # innermost frame inside the target package
        pa.field("correlation_id", pa.int64()),
        pa.field("callsite_method", pa.string()),  # event_tree | markers | definition_lines
    ]
)

LOOPS = pa.schema(
    [
        *_KEYS,  # cell_id = "inventory:<package>"
        pa.field("package", pa.string()),  # (v2)
        pa.field("loop_id", pa.string()),  # stable: hash of module, function and header
        pa.field("module", pa.string()),  # file relative to the package's parent
        pa.field("line", pa.int32()),
        pa.field("end_line", pa.int32()),
        pa.field("kind", pa.string()),  # for | while | comprehension
        pa.field("header", pa.string()),
        pa.field("function", pa.string()),  # enclosing function, dotted (Class.method)
        pa.field("depth", pa.int32()),  # loops enclosing this one, 0 = outermost
        pa.field("iteration_hint", pa.string()),
    ]
)

#: A cell's several profiled renders (v3, every hot_* table): times and ``pct_of_run`` are
#: the representative render's (analysis.grains.renders), so one table's shares add up as
#: one render's do; the per-render shares' median and spread beside them.
_RENDER_STATS = [
    pa.field("renders", pa.int32()),  # profiled renders of the cell
    pa.field("render", pa.int32()),  # the representative one the row's values are from
    pa.field("pct_median", pa.float64()),  # median of the per-render shares
    pa.field("pct_min", pa.float64()),  # smallest share of a render
    pa.field("pct_max", pa.float64()),  # largest share of a render
    pa.field("run_us", pa.float64()),  # that render's thread-time, overhead removed
    pa.field("run_threads", pa.int32()),  # threads that worked in it: run_us = wall x threads
    pa.field("profile_ratio", pa.float64()),  # median profiled render / warm median
]
_CELL = [
    pa.field("target", pa.string()),
    pa.field("device", pa.string()),
    pa.field("dtype", pa.string()),
    pa.field("size", pa.int64()),
]

HOT_LOOPS = pa.schema(
    [
        *_KEYS,
        pa.field("target", pa.string()),  # (v2)
        pa.field("loop_id", pa.string()),
        pa.field("module", pa.string()),
        pa.field("line", pa.int32()),
        pa.field("function", pa.string()),  # (v2)
        pa.field("kind", pa.string()),  # (v2)
        pa.field("device", pa.string()),
        pa.field("dtype", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("inclusive_us", pa.float64()),  # max(cpu_us, gpu_us)
        pa.field("cpu_us", pa.float64()),  # host time in the loop, overhead removed
        pa.field("gpu_us", pa.float64()),  # kernels launched from the loop
        pa.field("pct_of_run", pa.float64()),  # 100 * inclusive_us / representative render
        pa.field("op_count", pa.int64()),  # outermost operators called in the loop
        pa.field("kernel_count", pa.int64()),  # GPU kernels launched from the loop (v2)
        pa.field("est_iterations", pa.int64()),
        pa.field("self_python_us", pa.float64()),  # time in the loop not covered by any op
        pa.field("instr_us", pa.float64()),  # profiling overhead removed from cpu_us (v2)
        pa.field("callsite_method", pa.string()),  # (v2)
        pa.field("host_fixed_us", pa.float64()),  # its operators' fastest calls, summed (v3)
        *_RENDER_STATS,  # (v3)
    ]
)

HOT_LINES = pa.schema(
    [
        *_KEYS,
        *_CELL,
        pa.field("module", pa.string()),  # file relative to the package's parent
        pa.field("line", pa.int32()),
        pa.field("function", pa.string()),  # enclosing function, dotted (Class.method)
        pa.field("cpu_us", pa.float64()),  # host time charged to the line (exclusive)
        pa.field("python_us", pa.float64()),  # of which Python frames' own time
        pa.field("gpu_us", pa.float64()),  # kernels launched from the line
        pa.field("compiled_us", pa.float64()),  # compiled regions called from the line
        pa.field("pct_of_run", pa.float64()),  # share of the representative render's run
        pa.field("gpu_pct", pa.float64()),  # 100 * gpu_us / run_us
        pa.field("op_count", pa.int64()),  # outermost operators (and compiled regions) called
        pa.field("kernel_count", pa.int64()),
        pa.field("host_fixed_us", pa.float64()),  # sum of its operators' fastest calls
        *_RENDER_STATS,
        pa.field("callsite_method", pa.string()),
    ]
)

HOT_FUNCTIONS = pa.schema(
    [
        *_KEYS,
        *_CELL,
        pa.field("module", pa.string()),
        pa.field("line", pa.int32()),  # where the function is defined
        pa.field("function", pa.string()),  # dotted (Class.method)
        pa.field("inclusive_us", pa.float64()),  # max(cpu_us, gpu_us)
        pa.field("cpu_us", pa.float64()),  # host time inside its outermost frames
        pa.field("gpu_us", pa.float64()),  # kernels launched inside it
        pa.field("self_us", pa.float64()),  # its own bytecode, not its calls
        pa.field("pct_of_run", pa.float64()),  # share of the representative render's run
        pa.field("self_pct", pa.float64()),
        pa.field("calls", pa.int64()),  # calls per render
        pa.field("op_count", pa.int64()),
        pa.field("kernel_count", pa.int64()),
        pa.field("caller", pa.string()),  # module:defline of the function it ran in most
        *_RENDER_STATS,
        pa.field("callsite_method", pa.string()),
    ]
)

HOT_OPS = pa.schema(
    [
        *_KEYS,
        *_CELL,
        pa.field("kind", pa.string()),  # cpu_op | kernel | compiled
        pa.field("name", pa.string()),
        pa.field("op_device", pa.string()),  # cpu | cuda
        pa.field("inclusive_us", pa.float64()),
        pa.field("self_us", pa.float64()),  # compiled: outside its generated graphs
        pa.field("pct_of_run", pa.float64()),  # share of the representative render's run
        pa.field("self_pct", pa.float64()),
        pa.field("calls", pa.int64()),  # calls per render
        pa.field("min_call_us", pa.float64()),  # fastest call: its fixed host cost
        pa.field("call_module", pa.string()),  # the line that called it (compiled) or
        pa.field("call_line", pa.int32()),  # spent most of its time on it
        pa.field("call_function", pa.string()),
        pa.field("nested", pa.bool_()),  # a compiled region inside another
        pa.field("detail", pa.string()),
        *_RENDER_STATS,
        pa.field("callsite_method", pa.string()),
    ]
)

CELL_STATS = pa.schema(  # (v3) one row per cell; one part per bundle (part-bundle)
    [
        *_KEYS,
        pa.field("campaign", pa.string()),
        pa.field("phase", pa.string()),
        pa.field("cell_tag", pa.string()),
        pa.field("identity", pa.string()),  # JSON [target, device, dtype, size, params, env]
        pa.field("target", pa.string()),
        pa.field("device", pa.string()),
        pa.field("dtype", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("params", pa.string()),
        pa.field("env", pa.string()),
        pa.field("status", pa.string()),  # ok | failed | skipped
        pa.field("verdict", pa.string()),  # pass | fail | no_reference
        pa.field("corr", pa.float64()),
        pa.field("sum_ratio", pa.float64()),
        pa.field("warm_median_s", pa.float64()),
        pa.field("warm_samples", pa.list_(pa.float64())),
        pa.field("cold_s", pa.float64()),
        pa.field("profiled_s", pa.float64()),
        pa.field("peak_mem_mb", pa.float64()),  # max over the warm renders
        pa.field("torch_version", pa.string()),
        pa.field("device_name", pa.string()),
        pa.field("threads", pa.int32()),
        pa.field("git_sha", pa.string()),
        pa.field("target_commit", pa.string()),
        pa.field("node", pa.string()),
        pa.field("node_id", pa.string()),
        pa.field("node_ip", pa.string()),
    ]
)

HOT_SHARES = pa.schema(  # (v3) the top hot spots per cell and grain; one part per bundle
    [
        *_KEYS,
        pa.field("campaign", pa.string()),
        pa.field("phase", pa.string()),
        pa.field("grain", pa.string()),  # loop | line | function
        pa.field("key", pa.string()),  # loop_id | module:line | function
        pa.field("label", pa.string()),
        pa.field("pct", pa.float64()),  # pct_of_run of the cell's representative profiled render
        pa.field("rank", pa.int32()),
    ]
)

PARITY_TILES = pa.schema(
    [
        *_KEYS,  # one row per tile of the cell's tile map (v3)
        pa.field("cell_tag", pa.string()),
        pa.field("device", pa.string()),
        pa.field("dtype", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("tile_row", pa.int32()),  # 0 = the first slow rows
        pa.field("tile_col", pa.int32()),  # 0 = the first fast columns
        pa.field("slow_start", pa.int32()),  # pixel ranges, half-open
        pa.field("slow_end", pa.int32()),
        pa.field("fast_start", pa.int32()),
        pa.field("fast_end", pa.int32()),
        pa.field("corr", pa.float64()),  # the tile's Pearson r against the reference's tile
        pa.field("sum_ratio", pa.float64()),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "runs": RUNS,
    "correlations": CORRELATIONS,
    "ops": OPS,
    "loops": LOOPS,
    "hot_loops": HOT_LOOPS,
    "cell_stats": CELL_STATS,
    "hot_shares": HOT_SHARES,
    "parity_tiles": PARITY_TILES,
    "hot_lines": HOT_LINES,
    "hot_functions": HOT_FUNCTIONS,
    "hot_ops": HOT_OPS,
}
