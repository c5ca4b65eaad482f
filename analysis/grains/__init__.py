"""Where the time goes at every grain: lines, functions, operators, kernels, compiled regions.

:func:`grain_tables` turns table ``ops`` into ``hot_lines`` (exclusive: shares add up),
``hot_functions`` (inclusive) and ``hot_ops`` (operators and kernels by inclusive and self
time, ``torch.compile`` regions as units with the line that called them), each a median
over a cell's profiled renders.
"""

from analysis.grains.attribute import grain_tables
from analysis.grains.tables import GRAIN_TABLES, HOT_FUNCTIONS, HOT_LINES, HOT_OPS

__all__ = ["GRAIN_TABLES", "HOT_FUNCTIONS", "HOT_LINES", "HOT_OPS", "grain_tables"]
