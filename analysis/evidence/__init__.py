"""Evidence: the analysis of one bundle (loop tables, CSV hand-offs, backlog, summary sections)."""

from analysis.evidence.analyse import BundleAnalysis, analyse, analyse_bundle
from analysis.evidence.candidates import estimate_gain
from analysis.evidence.markdown import markdown_table

__all__ = ["BundleAnalysis", "analyse", "analyse_bundle", "estimate_gain", "markdown_table"]
