"""GPU check: prove the CUDA path on a machine with a GPU, in one run of at most 8 minutes.

    python benchmarks/gpu_check.py [--out gpu_check/<STAMP>] [--budget-s 480]
    python benchmarks/gpu_check.py --rehearse-on-cpu --out /tmp/rehearsal   # no GPU: tiny

On a machine without CUDA it says so and exits 0 at once. Otherwise it runs, each step
under its own time limit inside the budget, and writes everything under ``--out``
(``commands.txt`` lists every command with its exit status and time):

1. ``speed.json``, ``speed.txt``: ``benchmarks/simulator_speed.py`` at 4096² (CPU and CUDA,
   float32 and float64, eager and compiled, cold and warm; a compile that fell back to
   eager is marked so and never counts as compiled);
2. ``reports/``, ``sweep.log``: ``farm sweep --grid configs/gpu_check.toml`` (CPU and CUDA,
   both dtypes, 1024² to 4096², profiled, against the built-in reference, isolation node);
3. ``hotspots.csv``, ``hotspots.txt``: ``farm hotspots`` on that sweep (the CPU-vs-GPU loop
   table from the real kernels); ``cells.json``: timings, memory and correlation per cell
   (``farm sql``);
4. ``block_memory.txt``: ``benchmarks/block_memory.py`` on CUDA (the block-size rule's
   bytes per element, measured on the device);
5. ``pytest_gpu.log``: ``python -m pytest -m gpu``;
6. ``env.txt`` (nvidia-smi, torch, CUDA) and ``summary.txt``, also printed: the targets
   (warm 4096² float32 on CUDA <= 10 ms; correlation >= 0.9999 on CUDA in both dtypes; a
   hotspot table with kernels) and every step's exit status and time.

``--rehearse-on-cpu`` runs the same steps on CPU at toy sizes (no pytest step), so the script
itself is tested where there is no GPU. Exit status: 0 when every step ran and exited 0,
1 otherwise (the summary says which).
"""

from __future__ import annotations

import argparse
import csv
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
STEP_CAPS = {"speed": 200, "sweep": 170, "hotspots": 30, "table": 30, "blocks": 40, "pytest": 150}
GRACE_S = 30  # after SIGTERM, before SIGKILL


@dataclass
class Step:
    """One command of the check and how it ended."""

    name: str
    log: Path
    rc: int | None = None
    seconds: float = 0.0
    timed_out: bool = False

    def line(self) -> str:
        """``name  exit 0  12.3 s  log`` (or ``timed out``)."""
        how = "timed out" if self.timed_out else f"exit {self.rc}"
        return f"{self.name:<9} {how:<10} {self.seconds:6.1f} s  {self.log.name}"


def run_step(name: str, cmd: list[str], log: Path, deadline: float) -> Step:
    """Run ``cmd`` in its own process group until it ends or its time is up.

    Its output goes to ``log``; the command goes to ``commands.txt`` beside it. At the
    limit the group gets SIGTERM (``farm sweep`` then writes a partial bundle and stops its
    Ray) and, :data:`GRACE_S` later, SIGKILL.
    """
    step = Step(name, log)
    limit = max(5.0, min(STEP_CAPS[name], deadline - time.monotonic()))
    commands = log.parent / "commands.txt"
    with open(commands, "a", encoding="utf-8") as fh:
        fh.write(f"# {name} (limit {limit:.0f} s)\n{' '.join(cmd)}\n")
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
                proc.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            step.rc = proc.returncode
    step.seconds = time.monotonic() - start
    with open(commands, "a", encoding="utf-8") as fh:
        fh.write(f"# -> {step.line()}\n")
    return step


def commands(out: Path, grid: Path, rehearse: bool) -> dict[str, list[str]]:
    """The command of every step, by step name (in the order they run)."""
    py, reports = sys.executable, str(out / "reports")
    threads = str(os.cpu_count() or 1)
    speed = ["--sizes", "4096", "--repeats", "5"]
    blocks = ["--devices", "cuda"]
    if rehearse:
        speed = ["--sizes", "64", "--repeats", "2", "--devices", "cpu", "--modes", "eager"]
        speed += ["--dtypes", "float32"]
        blocks = ["--devices", "cpu", "--size", "32", "--cases", "seed"]
    steps = {
        "speed": [
            *(py, "benchmarks/simulator_speed.py", "--threads", threads, *speed),
            *("--json", str(out / "speed.json")),
        ],
        "sweep": [
            *(py, "-m", "farm", "sweep", "--grid", str(grid), "--reports", reports),
            "--no-progress",
        ],
        "hotspots": [py, "-m", "farm", "hotspots", "--reports", reports, "--csv", "--top", "50"],
        "table": [py, "-m", "farm", "hotspots", "--reports", reports],
        "blocks": [py, "benchmarks/block_memory.py", *blocks],
        "pytest": [
            *(py, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider"),
            *("--junitxml", str(out / "pytest_gpu.xml")),
        ],
    }
    if rehearse:
        del steps["pytest"]  # the rehearsal runs inside the test suite
    return steps


LOGS = {
    "speed": "speed.txt",
    "sweep": "sweep.log",
    "hotspots": "hotspots.csv",
    "table": "hotspots.txt",
    "blocks": "block_memory.txt",
    "pytest": "pytest_gpu.log",
}

CELLS_SQL = """
SELECT r.device, r.dtype, r.size,
       median(r.sim_s) FILTER (WHERE r.phase = 'warm') AS warm_s,
       max(r.total_s) FILTER (WHERE r.phase = 'cold') AS cold_s,
       max(r.peak_mem_mb) AS host_mb,
       max(r.device_peak_allocated_mb) AS device_allocated_mb,
       max(r.device_peak_reserved_mb) AS device_reserved_mb,
       min(r.device_free_after_mb) AS device_free_min_mb,
       any_value(r.matmul_precision) AS matmul_precision,
       any_value(c.corr) AS corr, any_value(c.verdict) AS verdict,
       bool_and(r.status = 'ok') AS ok
FROM runs r LEFT JOIN correlations c USING (stamp, cell_id)
GROUP BY ALL ORDER BY r.device, r.dtype, r.size
"""


def _sql(out: Path, query: str) -> list[dict]:
    """Rows of one ``farm sql`` query over the check's bundle (empty when it fails)."""
    proc = subprocess.run(
        [sys.executable, "-m", "farm", "sql", "--reports", str(out / "reports"), "--json", query],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return json.loads(proc.stdout or "[]") if proc.returncode == 0 else []


def environment(out: Path, cuda: bool) -> str:
    """Python, torch, CUDA, GPU and nvidia-smi (written to env.txt); one line back."""
    import torch

    lines = [
        f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda}",
        f"GPU: {torch.cuda.get_device_name(0) if cuda else 'none (rehearsal on CPU)'}; "
        f"CPUs: {os.cpu_count()}",
    ]
    try:
        smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30)
        lines.append(smi.stdout)
    except (OSError, subprocess.SubprocessError) as exc:
        lines.append(f"nvidia-smi: {exc}")
    (out / "env.txt").write_text("\n".join(lines), encoding="utf-8")
    return f"{lines[0]}; {lines[1]}"


def speed_lines(rows: list[dict]) -> list[str]:
    """The speed table and the warm-time target; fallen-back compiles are eager, not compiled."""
    lines = ["speed (seed case):"]
    for r in rows:
        head = f"  {r['size']:>5} {r['device']:>4} {r['dtype']}"
        if "error" in r:
            lines.append(f"{head} {r['mode']:<8} error: {r['error']}")
            continue
        fell_back = r["mode"] == "compiled" and not r.get("compiled")
        mode = "eager* (compile fell back)" if fell_back else r["mode"]
        lines.append(
            f"{head} {mode:<27} cold {r['cold_s']:8.3f} s  warm {1000 * r['warm_s']:9.3f} ms"
        )
    ok = [r for r in rows if "warm_s" in r]
    for r in ok:
        if r["mode"] == "compiled" and not r.get("compiled"):
            lines.append(f"  eager*: {r['device']} {r['dtype']}: {r.get('compile_error')}")
    gpu32 = [r for r in ok if r["device"] == "cuda" and r["dtype"] == "float32"]
    by_mode = {
        "compiled": [r for r in gpu32 if r["mode"] == "compiled" and r.get("compiled")],
        "eager": [r for r in gpu32 if r["mode"] == "eager" or not r.get("compiled")],
    }
    best = min((r for rs in by_mode.values() for r in rs), key=lambda r: r["warm_s"], default=None)
    if best is not None:
        mode = "compiled" if best in by_mode["compiled"] else "eager"
        verdict = "MET" if best["warm_s"] <= WARM_TARGET_S else "MISSED"
        lines.append(
            f"target warm {best['size']}² float32 on CUDA <= {1000 * WARM_TARGET_S:.0f} ms: "
            f"{verdict} ({1000 * best['warm_s']:.3f} ms, {mode})"
        )
        cpu = [r["warm_s"] for r in ok if r["device"] == "cpu" and r["dtype"] == "float32"]
        if cpu:
            lines.append(
                f"fastest CPU / fastest CUDA, warm float32: {min(cpu) / best['warm_s']:.1f}x"
            )
    else:
        lines.append("target warm float32 on CUDA: not measured")
    return lines


def sweep_lines(cells: list[dict]) -> list[str]:
    """Per cell: warm, cold, host and device memory, correlation; the correlation target."""
    if not cells:
        return ["sweep: no rows (see sweep.log)"]
    lines = ["sweep (device dtype size: warm, cold, host MiB, device reserved MiB, r):"]
    for c in cells:
        warm = f"{1000 * c['warm_s']:.2f} ms" if c["warm_s"] is not None else "-"
        corr = f"{c['corr']:.6f}" if c["corr"] is not None else "-"
        device = f"{c['device_reserved_mb']:.0f}" if c["device_reserved_mb"] is not None else "-"
        lines.append(
            f"  {c['device']:>4} {c['dtype']} {c['size']:>5}: warm {warm:>11}, cold "
            f"{c['cold_s'] or 0:.2f} s, host {c['host_mb'] or 0:.0f}, device {device}, "
            f"r = {corr} {c['verdict'] or ''}{'' if c['ok'] else ' FAILED'}"
        )
    devices = sorted({c["device"] for c in cells})
    device = "cuda" if "cuda" in devices else devices[0]
    for dtype in ("float32", "float64"):
        corrs = [
            c["corr"]
            for c in cells
            if c["device"] == device and c["dtype"] == dtype and c["corr"] is not None
        ]
        worst = min(corrs) if corrs else None
        verdict = "MET" if worst is not None and worst >= CORR_TARGET else "MISSED"
        shown = f"{worst:.6f}" if worst is not None else "none"
        lines.append(f"target r >= {CORR_TARGET} on {device}, {dtype}: {verdict} (worst {shown})")
    return lines


def hotspot_lines(text: str) -> list[str]:
    """How many loops the CPU-vs-GPU table has, how many with kernels, and the top five."""
    rows = list(csv.DictReader(text.splitlines())) if text.strip() else []
    if not rows or "flag" not in rows[0]:
        return ["hotspots: none (see hotspots.txt)"]
    kernels = [r for r in rows if r.get("gpu_kernels") not in (None, "", "0")]
    lines = [f"hotspots: {len(rows)} loops, {len(kernels)} with GPU kernels; top 5:"]
    for r in rows[:5]:
        lines.append(
            f"  {r['module']}:{r['line']} cpu {r['cpu_pct'] or '-'}% gpu {r['gpu_pct'] or '-'}% "
            f"kernels {r['gpu_kernels'] or '-'} ({r['us_per_kernel'] or '-'} µs each) {r['flag']}"
        )
    return lines


def _rehearsal_grid(out: Path) -> Path:
    """configs/gpu_check.toml at toy sizes on CPU (the same keys, so they are checked too)."""
    text = GRID.read_text(encoding="utf-8")
    text = text.replace('device = ["cpu", "cuda"]', 'device = ["cpu"]')
    text = text.replace("size = [1024, 2048, 4096]", "size = [32]").replace(
        "iterations = 5", "iterations = 2"
    )
    path = out / "grid.toml"
    path.write_text(text, encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    parser.add_argument("--out", type=Path, default=ROOT / "gpu_check" / stamp)
    parser.add_argument("--budget-s", type=float, default=480.0)
    parser.add_argument("--rehearse-on-cpu", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.rehearse_on_cpu:
        print(
            f"gpu_check: no CUDA device here (torch {torch.__version__}, CUDA build "
            f"{torch.version.cuda or 'none'}): nothing to check."
        )
        return 0
    deadline = time.monotonic() + args.budget_s - 20  # keeps time for the summary
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = environment(out, cuda)
    grid = _rehearsal_grid(out) if args.rehearse_on_cpu else GRID
    steps = []
    for name, cmd in commands(out, grid, args.rehearse_on_cpu).items():
        end = deadline + (20 if name == "pytest" else 0)  # the last step gets the reserve
        steps.append(run_step(name, cmd, out / LOGS[name], end))

    speed = json.loads((out / "speed.json").read_text()) if (out / "speed.json").exists() else []
    cells = _sql(out, CELLS_SQL)
    (out / "cells.json").write_text(json.dumps(cells, indent=2), encoding="utf-8")
    hot = (out / "hotspots.csv").read_text() if (out / "hotspots.csv").exists() else ""
    summary = [
        f"gpu_check {stamp}: {env}",
        f"everything is under {out}",
        "",
        *speed_lines(speed),
        "",
        *sweep_lines(cells),
        "",
        *hotspot_lines(hot),
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
