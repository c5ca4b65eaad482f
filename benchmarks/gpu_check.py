"""GPU check: prove the CUDA path on a machine with a GPU, in one run of at most 8 minutes.

    python benchmarks/gpu_check.py [--out gpu_check/<STAMP>] [--budget-s 480]

On a machine without CUDA it says so and exits 0 at once. Otherwise it runs, each step
under its own time limit inside the budget, and writes everything under ``--out``:

1. ``speed.json``, ``speed.txt``: ``benchmarks/simulator_speed.py`` at 4096² (CPU and CUDA,
   float32 and float64, eager and compiled, cold and warm; a compile that fell back to
   eager is marked so);
2. ``reports/``, ``sweep.log``: ``farm sweep --grid configs/gpu_check.toml`` (CPU and CUDA,
   both dtypes, 1024² to 4096², profiled, against the built-in reference);
3. ``hotspots.csv``, ``hotspots.txt``, ``cells.json``: ``farm hotspots`` and ``farm sql`` on
   that sweep (CPU-vs-GPU loop table from the real kernels; timings, memory, correlations);
4. ``pytest_gpu.log``: ``python -m pytest -m gpu``;
5. ``env.txt`` (nvidia-smi, torch, CUDA) and ``summary.txt``, which is also printed: the
   targets (warm 4096² float32 on CUDA <= 10 ms; correlation >= 0.9999 in both dtypes; a
   hotspot table with kernels) and every step's exit status and time.

Exit status: 0 when every step ran and exited 0, 1 otherwise (the summary says which).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRID = ROOT / "configs" / "gpu_check.toml"
WARM_TARGET_S = 0.010
CORR_TARGET = 0.9999
#: Seconds each step may take at most (the budget may cut them shorter).
STEP_CAPS = {
    "speed": 200,
    "sweep": 170,
    "hotspots": 30,
    "table": 30,
    "blocks": 40,
    "pytest": 150,
}


@dataclass
class Step:
    """One command of the check and how it ended."""

    name: str
    rc: int | None = None
    seconds: float = 0.0
    timed_out: bool = False
    log: Path | None = None

    def line(self) -> str:
        how = "timed out" if self.timed_out else f"exit {self.rc}"
        return (
            f"{self.name:<9} {how:<10} {self.seconds:6.1f} s  {self.log.name if self.log else ''}"
        )


def run_step(name: str, cmd: list[str], log: Path, deadline: float) -> Step:
    """Run ``cmd`` in its own process group until it ends or its time is up.

    Its output goes to ``log``; the command line goes to ``commands.txt`` beside it. At
    the limit it gets SIGTERM (``farm sweep`` then writes a partial bundle and stops its
    Ray) and, 30 s later, SIGKILL.
    """
    step = Step(name, log=log)
    limit = max(5.0, min(STEP_CAPS[name], deadline - time.monotonic()))
    with open(log.parent / "commands.txt", "a", encoding="utf-8") as fh:
        fh.write(f"# {name} (limit {limit:.0f} s)\n" + " ".join(cmd) + "\n")
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            step.rc = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            step.timed_out = True
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            step.rc = proc.returncode
    step.seconds = time.monotonic() - start
    with open(log.parent / "commands.txt", "a", encoding="utf-8") as fh:
        fh.write(f"# -> {step.line()}\n")
    return step


def _sql(out: Path, query: str) -> list[dict]:
    """Rows of one ``farm sql`` query over the sweep's bundle (empty when it fails)."""
    proc = subprocess.run(
        [sys.executable, "-m", "farm", "sql", "--reports", str(out / "reports"), "--json", query],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        return []
    return json.loads(proc.stdout or "[]")


CELLS_SQL = """
SELECT r.device, r.dtype, r.size,
       median(r.sim_s) FILTER (WHERE r.phase = 'warm') AS warm_s,
       max(r.total_s) FILTER (WHERE r.phase = 'cold') AS cold_s,
       max(r.peak_mem_mb) AS peak_mem_mb,
       any_value(c.corr) AS corr, any_value(c.verdict) AS verdict,
       bool_and(r.status = 'ok') AS ok
FROM runs r LEFT JOIN correlations c USING (stamp, cell_id)
GROUP BY ALL ORDER BY r.device, r.dtype, r.size
"""


def _env(out: Path) -> str:
    """GPU, driver and torch versions (also written to env.txt)."""
    import torch

    lines = [
        f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda}",
        f"GPU 0: {torch.cuda.get_device_name(0)}; devices: {torch.cuda.device_count()}",
        f"CPUs: {os.cpu_count()}",
    ]
    try:
        smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30)
        lines.append(smi.stdout)
    except (OSError, subprocess.SubprocessError) as exc:
        lines.append(f"nvidia-smi: {exc}")
    text = "\n".join(lines)
    (out / "env.txt").write_text(text, encoding="utf-8")
    return lines[0] + "; " + lines[1]


def _speed_lines(out: Path) -> list[str]:
    path = out / "speed.json"
    if not path.exists():
        return ["speed: no speed.json (see speed.txt)"]
    rows = json.loads(path.read_text())
    lines = []
    for r in rows:
        if "error" in r:
            lines.append(f"  {r['device']:>4} {r['dtype']} {r['mode']:<8} error: {r['error']}")
            continue
        mode = r["mode"] if r.get("compiled", r["mode"] == "compiled") else f"{r['mode']}->eager"
        lines.append(
            f"  {r['device']:>4} {r['dtype']} {mode:<15} cold {r['cold_s']:7.3f} s"
            f"  warm {1000 * r['warm_s']:8.2f} ms"
        )
    cuda32 = [
        r
        for r in rows
        if r.get("device") == "cuda" and r.get("dtype") == "float32" and "warm_s" in r
    ]
    if cuda32:
        best = min(cuda32, key=lambda r: r["warm_s"])
        ok = best["warm_s"] <= WARM_TARGET_S
        lines.append(
            f"target warm 4096² float32 CUDA <= {1000 * WARM_TARGET_S:.0f} ms: "
            f"{'MET' if ok else 'MISSED'} ({1000 * best['warm_s']:.2f} ms, {best['mode']})"
        )
        cpu = [r for r in rows if r.get("device") == "cpu" and r.get("dtype") == "float32"]
        cpu = [r for r in cpu if "warm_s" in r]
        if cpu:
            fastest = min(r["warm_s"] for r in cpu)
            lines.append(f"CPU/GPU warm ratio, float32 4096²: {fastest / best['warm_s']:.1f}x")
    return ["speed (4096², seed case):", *lines]


def _sweep_lines(out: Path) -> list[str]:
    cells = _sql(out, CELLS_SQL)
    (out / "cells.json").write_text(json.dumps(cells, indent=2), encoding="utf-8")
    if not cells:
        return ["sweep: no rows (see sweep.log)"]
    lines = ["sweep cells (device dtype size: warm, cold, peak memory, correlation):"]
    for c in cells:
        warm = f"{1000 * c['warm_s']:.2f} ms" if c["warm_s"] is not None else "-"
        corr = f"{c['corr']:.6f}" if c["corr"] is not None else "-"
        lines.append(
            f"  {c['device']:>4} {c['dtype']} {c['size']:>5}: warm {warm:>11}, cold "
            f"{c['cold_s'] or 0:.2f} s, {c['peak_mem_mb'] or 0:.0f} MB, r = {corr} "
            f"{c['verdict'] or ''}{'' if c['ok'] else ' FAILED'}"
        )
    for dtype in ("float32", "float64"):
        corrs = [c["corr"] for c in cells if c["dtype"] == dtype and c["corr"] is not None]
        worst = min(corrs) if corrs else None
        verdict = "MET" if worst is not None and worst >= CORR_TARGET else "MISSED"
        shown = f"{worst:.6f}" if worst is not None else "none"
        lines.append(f"target correlation >= {CORR_TARGET} ({dtype}): {verdict} (worst {shown})")
    return lines


def _hotspot_lines(out: Path) -> list[str]:
    path = out / "hotspots.csv"
    if not path.exists() or not path.read_text().strip():
        return ["hotspots: none (see hotspots.txt)"]
    import csv

    rows = list(csv.DictReader(path.read_text().splitlines()))
    with_kernels = [r for r in rows if r.get("gpu_kernels") not in (None, "", "0")]
    lines = [f"hotspots: {len(rows)} loops, {len(with_kernels)} with GPU kernels (top 5):"]
    for r in rows[:5]:
        lines.append(
            f"  {r['module']}:{r['line']} cpu {r['cpu_pct']}% gpu {r['gpu_pct']}% "
            f"kernels {r['gpu_kernels']} ({r['us_per_kernel']} us each) {r['flag']}"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    parser.add_argument("--out", type=Path, default=ROOT / "gpu_check" / stamp)
    parser.add_argument("--budget-s", type=float, default=480.0)
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print(
            f"gpu_check: no CUDA device here (torch {torch.__version__}, CUDA build "
            f"{torch.version.cuda or 'none'}): nothing to check."
        )
        return 0
    deadline = time.monotonic() + args.budget_s - 20  # keeps time for the summary
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = _env(out)
    py = sys.executable
    reports = str(out / "reports")
    threads = str(os.cpu_count() or 1)
    commands = {
        "speed": (
            [
                *(py, "benchmarks/simulator_speed.py", "--sizes", "4096", "--threads", threads),
                *("--repeats", "5", "--json", str(out / "speed.json")),
            ],
            "speed.txt",
        ),
        "sweep": (
            [py, "-m", "farm", "sweep", "--grid", str(GRID), "--reports", reports, "--no-progress"],
            "sweep.log",
        ),
        "hotspots": ([py, "-m", "farm", "hotspots", "--reports", reports, "--csv"], "hotspots.csv"),
        "table": ([py, "-m", "farm", "hotspots", "--reports", reports], "hotspots.txt"),
        "blocks": ([py, "benchmarks/block_memory.py", "--devices", "cuda"], "block_memory.txt"),
        "pytest": (
            [
                *(py, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider"),
                *("--junitxml", str(out / "pytest_gpu.xml")),
            ],
            "pytest_gpu.log",
        ),
    }
    steps = []
    for name, (cmd, log) in commands.items():
        end = deadline + (20 if name == "pytest" else 0)  # the last step gets the reserve
        steps.append(run_step(name, cmd, out / log, end))
    summary = [
        f"gpu_check {stamp}: {env}",
        f"everything is under {out}",
        "",
        *_speed_lines(out),
        "",
        *_sweep_lines(out),
        "",
        *_hotspot_lines(out),
        "",
        "steps:",
        *("  " + s.line() for s in steps),
    ]
    text = "\n".join(summary) + "\n"
    (out / "summary.txt").write_text(text, encoding="utf-8")
    print(text, end="")
    return 0 if all(s.rc == 0 and not s.timed_out for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
