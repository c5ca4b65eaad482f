"""The bundle of a sweep.

Its folder and stamps, the cells written into it, where its evidence comes from
(provenance, env.json), and its report files (benchmark_results.json, correlation.txt,
summary.md).
"""

from farm.bundle.cell_writer import write_cell_result
from farm.bundle.folder import Bundle, create_bundle, open_bundle, utc_stamp
from farm.bundle.provenance import git_root
from farm.bundle.reports import write_reports

__all__ = [
    "Bundle",
    "create_bundle",
    "git_root",
    "open_bundle",
    "utc_stamp",
    "write_cell_result",
    "write_reports",
]
