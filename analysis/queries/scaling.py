"""How warm time grows with image size: power-law fits, the GPU crossover, float32 vs float64.

A series (cells equal in all but size, see :mod:`analysis.queries.cells`) is fitted as
``time = c * pixels^k`` by least squares on ``ln time`` against ``ln pixels`` (DuckDB's
``regr_slope``), over cells that finished ok with a warm time. ``k`` near 1 is linear in
pixels; well below 1 says fixed costs (set-up, dispatch) still dominate at these sizes.

Parameters: ``$stamp`` (the bundle).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from analysis.queries.cells import CELLS_SQL
from analysis.tables.catalog import Catalog

#: One fit per series with at least two sizes.
FITS_SQL = (
    "WITH cells AS (\n"
    + CELLS_SQL
    + """)
SELECT series, any_value(target) AS target, any_value(device) AS device,
       any_value(dtype) AS dtype, count(DISTINCT size) AS sizes,
       min(size) AS min_size, max(size) AS max_size,
       regr_slope(ln(warm_s), ln(pixels)) AS k,
       regr_intercept(ln(warm_s), ln(pixels)) AS ln_c,
       regr_r2(ln(warm_s), ln(pixels)) AS r2
FROM cells
WHERE status = 'ok' AND warm_s > 0 AND pixels > 0
GROUP BY series
HAVING count(DISTINCT size) >= 2
ORDER BY series
"""
)


@dataclass(frozen=True)
class Fit:
    """``time = exp(ln_c) * pixels^k`` for one series."""

    series: str
    target: str
    device: str
    dtype: str
    sizes: int
    min_size: int
    max_size: int
    k: float
    ln_c: float
    r2: float | None

    def seconds(self, pixels: float) -> float:
        """The fitted warm time at ``pixels``."""
        return math.exp(self.ln_c + self.k * math.log(pixels))


@dataclass(frozen=True)
class Crossover:
    """Where the GPU series overtakes the CPU one (same dtype and other axes).

    Attributes:
        key: the series without its device (``dtype=float32``).
        cpu: the CPU series; gpu: the GPU series.
        measured_size: the smallest measured size from which the GPU is faster at every
            larger measured size; None when it never is.
        text: one sentence for the report, measured and fitted.
        fitted_pixels: where the two fitted lines cross (None: parallel or no fit).
    """

    key: str
    cpu: str
    gpu: str
    measured_size: int | None
    fitted_pixels: float | None
    text: str


def fits(catalog: Catalog, stamp: str) -> list[Fit]:
    """:data:`FITS_SQL` as :class:`Fit` objects."""
    rows = catalog.query(FITS_SQL, {"stamp": stamp}).records()
    return [Fit(**r) for r in rows if r["k"] is not None and math.isfinite(r["k"])]


def _without(series: str, key: str) -> str:
    """``series`` without its ``key=...`` part."""
    return re.sub(rf"(^|,){key}=[^,]*", "", series).strip(",")


def _ok_times(cells: list[dict[str, Any]]) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for c in cells:
        if c.get("status") == "ok" and c.get("warm_s"):
            out.setdefault(c["series"], {})[int(c["size"])] = float(c["warm_s"])
    return out


def _side(device: str | None) -> str:
    return "gpu" if str(device or "").startswith("cuda") else "cpu"


def crossovers(cells: list[dict[str, Any]], fitted: list[Fit]) -> list[Crossover]:
    """Pair each CPU series with the GPU series that differs only in device."""
    times = _ok_times(cells)
    side = {c["series"]: _side(c.get("device")) for c in cells}
    by_fit = {f.series: f for f in fitted}
    groups: dict[str, dict[str, str]] = {}
    for series in times:
        groups.setdefault(_without(series, "device"), {})[side[series]] = series
    out = []
    for key, pair in sorted(groups.items()):
        if set(pair) != {"cpu", "gpu"}:
            continue
        cpu, gpu = pair["cpu"], pair["gpu"]
        common = sorted(set(times[cpu]) & set(times[gpu]))
        if not common:
            continue
        faster = [times[gpu][s] < times[cpu][s] for s in common]
        measured = None
        for i, size in enumerate(common):
            if all(faster[i:]):
                measured = size
                break
        if measured is None:
            text = f"the CPU is faster at every size measured ({', '.join(map(str, common))})"
        elif measured == common[0]:
            text = f"the GPU is faster at every size measured, from {measured}² on"
        else:
            before = common[common.index(measured) - 1]
            text = f"the GPU overtakes the CPU between {before}² and {measured}² (measured)"
        pixels = _fitted_crossing(by_fit.get(cpu), by_fit.get(gpu))
        if pixels is not None:
            text += f"; the fitted lines cross at {pixels:.3g} pixels (≈ {math.sqrt(pixels):.0f}²)"
        out.append(Crossover(key or "all", cpu, gpu, measured, pixels, text))
    return out


def _fitted_crossing(cpu: Fit | None, gpu: Fit | None) -> float | None:
    if cpu is None or gpu is None or abs(cpu.k - gpu.k) < 1e-9:
        return None
    ln_p = (gpu.ln_c - cpu.ln_c) / (cpu.k - gpu.k)
    if not -50 < ln_p < 80:  # outside any image size: the lines are all but parallel
        return None
    return math.exp(ln_p)


def dtype_ratios(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """float64 warm time over float32 warm time, per series pair and size."""
    times = _ok_times(cells)
    dtype = {c["series"]: c.get("dtype") for c in cells}
    device = {c["series"]: c.get("device") for c in cells}
    groups: dict[str, dict[str, str]] = {}
    for series in times:
        groups.setdefault(_without(series, "dtype"), {})[str(dtype[series])] = series
    out = []
    for key, pair in sorted(groups.items()):
        if "float32" not in pair or "float64" not in pair:
            continue
        s32, s64 = pair["float32"], pair["float64"]
        for size in sorted(set(times[s32]) & set(times[s64])):
            out.append(
                {
                    "key": key or "all",
                    "device": device[s32],
                    "size": size,
                    "float32_s": times[s32][size],
                    "float64_s": times[s64][size],
                    "ratio": times[s64][size] / times[s32][size],
                }
            )
    return out
