"""Simulator speed and memory on the seed case, side by side, in one run.

    python benchmarks/simulator_speed.py [--sizes 1024 2048 4096] [--threads 2]
        [--dtypes float32 float64] [--modes eager compiled] [--repeats 3]
        [--devices cpu cuda] [--json rows.json] [--process-repeats 7]

Case: ``-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100
-detpixels N``. Every configuration runs in a fresh process (so peak RSS is its own) with
torch pinned to ``--threads``; the nanoBragg C binary named by NB_C_BIN (if set) runs with
``OMP_NUM_THREADS`` equal to the same count. CUDA rows appear when a GPU is present
(CUDA timings synchronise the device before the clock stops).

First table, in process: cold time (construction + first render, torch already imported,
compilation included), warm time (median of ``--repeats``), their ratio, pixels/s, peak RSS,
the device's peak reserved memory and the ratio to C. A compiled row whose compile fell back
to eager is printed as ``eager*`` and has ``compiled: false`` and the reason in ``--json``:
it is never a compiled figure.

Second table, whole process: ``python -m simulator <case> -floatfile f.bin`` (float32, CPU)
against the C binary on the same command line (which also writes its int and noise images,
as it does unless told ``-nonoise``) and against ``C -nonoise -nopgm`` (its least work). The
three commands run in turn, ``--process-repeats`` times (this machine is shared: a ratio is
taken within each turn, and the median of those is printed, with the median wall and CPU
seconds of each command).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

SEED_FLAGS = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def run_engine(size: int, dtype: str, device: str, mode: str, threads: int, repeats: int) -> dict:
    """One configuration, in this process: cold, warm median, peak RSS / GPU memory."""
    import torch

    torch.set_num_threads(threads)
    from simulator import Simulation

    flags = f"{SEED_FLAGS} -detpixels {size}"
    start = time.perf_counter()
    sim = Simulation.from_flags(flags, device=device, dtype=dtype, compile=mode == "compiled")
    image = sim.render()
    if device == "cuda":
        torch.cuda.synchronize()
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        image = sim.render()
        if device == "cuda":
            torch.cuda.synchronize()
        warm.append(time.perf_counter() - start)
    report = sim.report()
    result = {
        "cold_s": cold,
        "warm_s": statistics.median(warm),
        "warm_samples_s": warm,
        "warm_spread_s": max(warm) - min(warm),
        "peak_rss_mb": _peak_rss_mb(),
        "sum": float(image.double().sum()),
        "compiled": report["compiled"],
        "compile_error": report["compile_error"],
        "matmul_precision": report["matmul_precision"],
        "chunk_elements": report["chunk_elements"],
    }
    if device == "cuda":
        result["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["gpu_reserved_mb"] = torch.cuda.max_memory_reserved() / 2**20
        result["gpu_name"] = torch.cuda.get_device_name()
    return result


def run_c(binary: str, size: int, threads: int, repeats: int) -> dict:
    """The C binary on the same case: median wall time and peak RSS."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    times = []
    with tempfile.TemporaryDirectory() as work:
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(
                [
                    binary,
                    *SEED_FLAGS.split(),
                    "-detpixels",
                    str(size),
                    "-floatfile",
                    "f.bin",
                    "-nonoise",
                    "-nopgm",
                    "-noprogress",
                ],
                cwd=work,
                env=env,
                check=True,
                capture_output=True,
            )
            times.append(time.perf_counter() - start)
    return {"c_s": statistics.median(times), "c_rss_mb": _peak_rss_mb(resource.RUSAGE_CHILDREN)}


def _timed(cmd: list[str], cwd: str, threads: int) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one whole command."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def whole_process(size: int, threads: int, repeats: int, binary: str | None) -> dict:
    """Median wall/CPU of the command line, the C binary, C -nonoise; medians of ratios."""
    case = [*SEED_FLAGS.split(), "-detpixels", str(size)]
    commands = {"ours": [sys.executable, "-m", "simulator", *case, "-floatfile", "f.bin"]}
    if binary:
        commands["c"] = [binary, *case, "-floatfile", "c.bin"]
        commands["c_nonoise"] = [*commands["c"], "-nonoise", "-nopgm"]
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(repeats):
            for name, cmd in commands.items():
                runs[name].append(_timed(cmd, work, threads))
    out = {
        f"{name}_{kind}": statistics.median(r[i] for r in rows)
        for name, rows in runs.items()
        for i, kind in enumerate(("wall", "cpu"))
    }
    for name in ("c", "c_nonoise"):
        if name in runs:
            pairs = zip(runs["ours"], runs[name], strict=True)
            out[f"ratio_{name}"] = statistics.median(a[0] / b[0] for a, b in pairs)
    return out


def _print_whole_process(sizes: list[int], threads: int, repeats: int, binary: str | None) -> None:
    print(
        f"\nwhole process, float32 on CPU, {threads} threads, {repeats} turns "
        "(medians; ratio: ours / C wall, taken turn by turn)"
    )
    header = (
        f"{'N':>5} {'ours s':>8} {'ours cpu':>9} {'C s':>8} {'C cpu':>8} {'ours/C':>7} "
        f"{'C-nonoise s':>12} {'ours/C-nonoise':>15}"
    )
    print(header)
    print("-" * len(header))
    nan = float("nan")
    for size in sizes:
        r = whole_process(size, threads, repeats, binary)
        print(
            f"{size:>5} {r['ours_wall']:>8.3f} {r['ours_cpu']:>9.3f} {r.get('c_wall', nan):>8.3f} "
            f"{r.get('c_cpu', nan):>8.3f} {r.get('ratio_c', nan):>7.2f} "
            f"{r.get('c_nonoise_wall', nan):>12.3f} {r.get('ratio_c_nonoise', nan):>15.2f}"
        )
    print("target: ours/C <= 0.8 at 4096 (the same command line, the same thread count)")


def _child(args: argparse.Namespace) -> None:
    if args.child == "c":
        print(json.dumps(run_c(os.environ["NB_C_BIN"], args.size, args.threads, args.repeats)))
    else:
        print(
            json.dumps(
                run_engine(
                    args.size, args.dtype, args.device, args.mode, args.threads, args.repeats
                )
            )
        )


def _spawn(kind: str, size: int, threads: int, repeats: int, **extra: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--size",
        str(size),
        "--threads",
        str(threads),
        "--repeats",
        str(repeats),
    ]
    for key, value in extra.items():
        cmd += [f"--{key}", value]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--modes", nargs="+", default=["eager", "compiled"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument("--json", help="also write every row to this JSON file")
    parser.add_argument("--process-repeats", type=int, default=7)
    parser.add_argument("--child", choices=["engine", "c"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    parser.add_argument("--device", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    import torch

    devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    rows: list[dict] = []
    binary = os.environ.get("NB_C_BIN")
    print(
        f"seed case: {SEED_FLAGS} -detpixels N; torch {torch.__version__}; "
        f"threads {args.threads}; C binary: {binary or 'NB_C_BIN not set'}"
    )
    header = (
        f"{'N':>5} {'device':>6} {'dtype':>8} {'mode':>8} {'cold s':>8} {'warm s':>8} "
        f"{'cold/warm':>9} {'Mpx/s':>8} {'RSS MB':>7} {'GPU MB':>7} {'C s':>7} {'C RSS':>6} "
        f"{'C/warm':>7}"
    )
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        c = _spawn("c", size, args.threads, args.repeats) if binary else {}
        for device in devices:
            for dtype in args.dtypes:
                for mode in args.modes:
                    r = _spawn(
                        "engine",
                        size,
                        args.threads,
                        args.repeats,
                        dtype=dtype,
                        device=device,
                        mode=mode,
                    )
                    rows.append(
                        {"size": size, "device": device, "dtype": dtype, "mode": mode, **r, **c}
                    )
                    if "error" in r:
                        print(f"{size:>5} {device:>6} {dtype:>8} {mode:>8}  error: {r['error']}")
                        continue
                    shown = mode if r["compiled"] or mode == "eager" else "eager*"
                    nan = float("nan")
                    c_s = c.get("c_s", nan)
                    ratio = c_s / r["warm_s"] if c else nan
                    print(
                        f"{size:>5} {device:>6} {dtype:>8} {shown:>8} {r['cold_s']:>8.3f} "
                        f"{r['warm_s']:>8.3f} {r['cold_s'] / r['warm_s']:>9.2f} "
                        f"{size * size / r['warm_s'] / 1e6:>8.1f} "
                        f"{r['peak_rss_mb']:>7.0f} {r.get('gpu_reserved_mb', nan):>7.0f} "
                        f"{c_s:>7.3f} {c.get('c_rss_mb', nan):>6.0f} {ratio:>7.2f}"
                    )
    print(
        "C/warm: how many times faster than the C binary at the same thread count "
        "(target: >= 4 for float32 at 4096 on CPU); eager*: compile failed, ran eager."
    )
    for r in rows:
        if r.get("compile_error"):
            print(f"eager*: {r['size']} {r['device']} {r['dtype']}: {r['compile_error']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)
    if args.process_repeats > 0:
        _print_whole_process(args.sizes, args.threads, args.process_repeats, binary)


if __name__ == "__main__":
    main()
