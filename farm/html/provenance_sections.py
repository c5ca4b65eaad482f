"""Report sections about trust and origin: stability, failures, traces, environment."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from analysis.evidence.report_data import ReportData
from farm.bundle.stability import stability_warnings
from farm.bundle.text_format import significant as num
from farm.html.page import Section, details, facts, inline_code, link, para, pre, table

#: The bundle page's file name (listed before it is written).
REPORT_NAME = "report.html"
#: Lines of commands.txt shown before the rest is cut (the file is in the bundle).
COMMANDS_MAX_LINES = 400


def stability_section(data: ReportData) -> Section:
    """pyperf-style warnings per cell (:mod:`farm.bundle.stability`, as in summary.md)."""
    sec = Section("stability", "Stability warnings")
    warned = {
        c["tag"]: stability_warnings({"py_time_warm_samples": c.get("warm_samples")})
        for c in data.cells
    }
    warned = {tag: w for tag, w in warned.items() if w}
    if not warned:
        return sec.add("None: every cell's warm runs are stable by pyperf's rules.")
    items = Markup("").join(
        Markup("<li><code>{}</code>: {}</li>").format(tag, inline_code(w))
        for tag, warnings in warned.items()
        for w in warnings
    )
    sec.add(
        para(
            "Rules (pyperf): stdev ≥ 10 % of the mean, the minimum or maximum 50 % off the "
            "median, a sample under 1 ms, a single warm run.",
            "note",
        ),
        Markup("<ul>{}</ul>").format(items),
    )
    return sec


def failures_section(data: ReportData) -> Section:
    """Cells that failed or were skipped, with the reason."""
    sec = Section("failures", "Failures and skips")
    rows = [
        [c["tag"], c["status"], c.get("error") or ""]
        for c in data.cells
        if c["status"] in ("failed", "skipped")
    ]
    if not rows:
        return sec.add("None.")
    return sec.add(table(["cell", "status", "why"], rows))


def traces_section(data: ReportData) -> Section:
    """Each profiled render's trace, and how to open it in Perfetto."""
    sec = Section("traces", "Traces")
    order = {c["tag"]: i for i, c in enumerate(data.cells)}
    traces = sorted(data.traces, key=lambda t: (order.get(t.tag, len(order)), t.relpath))
    if not traces:
        return sec.add("No traces in this bundle (profile = false, or no cell was profiled).")
    sec.add(
        para(
            "Every profiled render left a Chrome/Perfetto trace. To look at one, open "
            "ui.perfetto.dev in a browser, choose “Open trace file” and pick the file below "
            "(it is in this bundle's folder). Perfetto reads the file inside the browser; "
            "nothing is uploaded. The links below open the folder's file directly.",
            "note",
        ),
        table(
            ["cell", "trace", "size"],
            [[t.tag, link(t.relpath, t.relpath), f"{t.bytes / 1e6:.2f} MB"] for t in traces],
        ),
    )
    return sec


def _yes_no(value: Any) -> str:
    """A flag of env.json as a word ("-" where it was not recorded)."""
    return "-" if value is None else ("yes" if value else "no")


def _plural(n: Any, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _threads(threads: dict[str, Any]) -> str:
    """env.json's thread settings in words (the grid's ``threads = 0``: one per reserved CPU)."""
    cpus, torch = threads.get("cpus_per_actor"), threads.get("cpu_actor_torch_threads")
    cuda = threads.get("cuda_actor_torch_threads")
    cpu = [
        _plural(cpus, "CPU") if cpus is not None else None,
        _plural(torch, "torch thread") if torch is not None else None,
    ]
    parts = []
    if any(cpu):
        how = " (grid threads = 0: one per CPU)" if threads.get("grid_threads") == 0 else ""
        parts.append("each CPU actor: " + ", ".join(p for p in cpu if p) + how)
    if cuda is not None:
        parts.append(f"each CUDA actor: {_plural(cuda, 'torch thread')}")
    return "; ".join(parts) or "-"


def _facts(env: dict[str, Any]) -> list[list[Any]]:
    ray = env.get("ray") or {}
    threads = env.get("threads") or {}
    gpus = ", ".join(env.get("gpu_names") or []) or "none"
    facts = [
        ["stamp", env.get("stamp")],
        ["grid", env.get("grid")],
        ["target", env.get("target")],
        ["git", f"{env.get('git_sha')}{' (uncommitted changes)' if env.get('git_dirty') else ''}"],
        ["python / torch", f"{env.get('python')} / {env.get('torch')}"],
        [
            "CUDA",
            f"available: {_yes_no(env.get('cuda_available'))}; "
            f"torch CUDA {env.get('torch_cuda') or 'none (a CPU build)'}; "
            f"driver {env.get('driver_version') or '-'}",
        ],
        ["GPUs", gpus],
        ["Ray", f"{ray.get('version')}: {ray.get('how')} ({num(ray.get('connect_s'), 3)} s)"],
        ["nodes that ran cells", ", ".join(env.get("cell_nodes") or []) or "-"],
        ["threads", _threads(threads)],
        ["schema version", env.get("schema_version")],
        ["platform", env.get("uname") or env.get("platform")],
    ]
    return [[k, "-" if v is None else v] for k, v in facts]


def environment_section(data: ReportData) -> Section:
    """Where and with what the bundle was made: env.json, grid.toml, commands.txt."""
    sec = Section("environment", "Environment and provenance")
    if data.env:
        sec.add(facts(_facts(data.env)))
        sessions = data.env.get("sessions") or []
        if sessions:
            sec.add(
                table(
                    ["session", "command", "resumed", "interrupted", "wall s"],
                    [
                        [
                            i + 1,
                            " ".join(s.get("argv") or []),
                            _yes_no(s.get("resumed")),
                            _yes_no(s.get("interrupted")),
                            num(s.get("wall_s"), 3),
                        ]
                        for i, s in enumerate(sessions)
                    ],
                )
            )
        workers = data.env.get("workers") or []
        if workers:
            sec.add(
                details(
                    f"{len(workers)} actor(s)",
                    table(
                        ["node", "pid", "device", "device name", "torch threads", "torch"],
                        [
                            [
                                w.get("node"),
                                w.get("pid"),
                                w.get("device"),
                                w.get("device_name"),
                                w.get("torch_threads"),
                                w.get("torch"),
                            ]
                            for w in workers
                        ],
                    ),
                )
            )
    if data.grid_text:
        sec.add(details("grid.toml (the grid as it ran)", pre(data.grid_text, "wide")))
    if data.commands_text:
        lines = data.commands_text.splitlines()
        shown = "\n".join(lines[:COMMANDS_MAX_LINES])
        if len(lines) > COMMANDS_MAX_LINES:
            shown += f"\n… {len(lines) - COMMANDS_MAX_LINES} more lines in commands.txt"
        sec.add(details("commands.txt (every command, with its exit code)", pre(shown, "wide")))
    sec.add(para(_files(data), "note"))
    return sec


#: What each folder of a bundle holds.
FOLDERS = {
    "tables": "the Parquet parts, which farm sql queries",
    "profile": "one trace per profiled cell",
    "cells": "each finished cell's record",
}


def _files(data: ReportData) -> str:
    """Every file and folder at the top of the bundle, this page included."""
    entries = sorted(data.bundle_dir.iterdir()) if data.bundle_dir.is_dir() else []
    names = {p.name for p in entries if p.is_file() and not p.name.startswith(".")}
    names.add(REPORT_NAME)
    folders = [
        f"{p.name}/ ({FOLDERS[p.name]})" if p.name in FOLDERS else f"{p.name}/"
        for p in entries
        if p.is_dir() and not p.name.startswith(".")
    ]
    return "Files in this bundle: " + ", ".join(sorted(names) + folders) + "."
