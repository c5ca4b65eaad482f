"""Where the time goes at every grain: lines, functions, operators, kernels, compiled regions.

:func:`grain_tables` turns table ``ops`` into ``hot_lines`` (exclusive: shares add up),
``hot_functions`` (inclusive) and ``hot_ops`` (operators and kernels by inclusive and self
time, ``torch.compile`` regions as units with the line that called them), each from a
cell's representative profiled render, with the spread over its renders (schemas:
:mod:`analysis.tables.schema`).
"""

from analysis.grains.attribute import UNREPRESENTATIVE_RATIO, grain_tables, load_cells
from analysis.grains.renders import SHARE_LABEL, SHARE_NOTE, SHARE_OF

__all__ = [
    "SHARE_LABEL",
    "SHARE_NOTE",
    "SHARE_OF",
    "UNREPRESENTATIVE_RATIO",
    "grain_tables",
    "load_cells",
]
