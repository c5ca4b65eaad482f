"""Named tolerances of the simulator's own tests (engine against engine, dtype against dtype).

The parity gate every target is held to (correlation 0.999, sum ratio 5e-3, ...) belongs to
the analysis layer: :mod:`analysis.parity.tolerances`.
"""

from __future__ import annotations

#: The same engine in float32 against float64.
FP32_VS_FP64_CORR = 0.9999

#: The built-in reference against the PyTorch engine, both in float64, on the case matrix.
BUILTIN_VS_ENGINE_CORR = 0.99999

#: Sum ratio between two float64 implementations of the same physics.
BUILTIN_VS_ENGINE_SUM_TOL = 1e-6
