"""Analysis of sweep results: parity metrics, loop inventory, trace ingestion, attribution, ranking."""
