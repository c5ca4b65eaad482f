"""Peak memory of a render per element of its largest block tensor (the GPU block-size rule).

    python benchmarks/block_memory.py [--size 256] [--devices cpu cuda] [--cases seed ...]

``simulator.chunk_budget`` sizes GPU blocks from the free device memory, assuming a render
peaks at ``BYTES_PER_ELEMENT`` × the dtype size per element of its largest block tensor.
This prints, for several flag groups, both dtypes and two block sizes, the measured peak
(less the image) per such element, in units of the dtype size: on CPU from
``torch.profiler(profile_memory=True)`` allocation events, on CUDA from
``torch.cuda.max_memory_allocated`` and ``_reserved``. Every ratio must stay below
``BYTES_PER_ELEMENT``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from simulator import Simulation
from simulator.chunk_budget import BYTES_PER_ELEMENT

SEED = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"
CASES = {
    "seed": "",
    "tophat, oversample 2": "-tophat_spots -oversample 2",
    "gauss, mosaic, phi": "-gauss_xtal -mosaic 0.5 -mosaic_dom 4 -phisteps 2 -osc 0.1",
    "divergence, dispersion": "-divergence 0.2 -divsteps 3 -dispersion 0.1 -dispsteps 3",
    "thick sensor, per-subpixel": (
        "-detector_thick 100 -detector_thicksteps 3 -oversample 2 -oversample_polar "
        "-oversample_omega"
    ),
}


def _cpu_peak_bytes(sim: Simulation) -> int:
    """Peak of the running sum of allocations during one render (profiler memory events)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        sim.render()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(path))
        raw = path.read_bytes()
    events = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)["traceEvents"]
    memory = sorted((e["ts"], e["args"]["Bytes"]) for e in events if e.get("name") == "[memory]")
    now = peak = 0
    for _, change in memory:
        now += change
        peak = max(peak, now)
    return peak


def _cuda_peak_bytes(sim: Simulation) -> tuple[int, int]:
    """Peak allocated and reserved bytes of one render above what was held before it."""
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    allocated, reserved = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
    torch.cuda.reset_peak_memory_stats()
    sim.render()
    torch.cuda.synchronize()
    return (
        torch.cuda.max_memory_allocated() - allocated,
        torch.cuda.max_memory_reserved() - reserved,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    print(f"peak bytes per block element / dtype size (rule: < {BYTES_PER_ELEMENT}), {args.size}²")
    print(f"{'case':<28} {'device':>6} {'dtype':>8} {'chunk':>8} {'allocated':>9} {'reserved':>9}")
    worst = 0.0
    for name in args.cases:
        flags = CASES[name]
        for device in devices:
            for dtype in ("float32", "float64"):
                for chunk in (1 << 16, 1 << 18):
                    sim = Simulation.from_flags(
                        f"{SEED} {flags} -detpixels {args.size}",
                        device=device,
                        dtype=dtype,
                        chunk_elements=chunk,
                    )
                    sim.render()  # warm: caches and workspaces exist before the peak is read
                    image = args.size * args.size * sim.dtype.itemsize
                    scale = sim.block_elements() * sim.dtype.itemsize
                    if device == "cpu":
                        alloc, reserved = _cpu_peak_bytes(sim) - image, None
                    else:
                        alloc, reserved = _cuda_peak_bytes(sim)
                        alloc, reserved = alloc - image, reserved - image
                    ratio = alloc / scale
                    worst = max(worst, ratio, (reserved or 0) / scale)
                    shown = f"{reserved / scale:9.2f}" if reserved is not None else f"{'-':>9}"
                    print(f"{name:<28} {device:>6} {dtype:>8} {chunk:>8} {ratio:9.2f} {shown}")
    verdict = "ok" if worst < BYTES_PER_ELEMENT else "EXCEEDED"
    print(f"worst: {worst:.2f} (rule {BYTES_PER_ELEMENT}: {verdict})")


if __name__ == "__main__":
    main()
