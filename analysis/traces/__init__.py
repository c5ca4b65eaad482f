"""Traces: profile a call with call-site lines, and read its trace into table ``ops``."""

from analysis.traces.capture import CaptureSummary, choose_method, profile_call
from analysis.traces.ingest import trace_to_ops
from analysis.traces.trace_reader import TraceError

__all__ = ["CaptureSummary", "TraceError", "choose_method", "profile_call", "trace_to_ops"]
