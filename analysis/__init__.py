"""Analysis of sweep results: parity, loop inventory, trace ingestion, attribution, ranking."""
