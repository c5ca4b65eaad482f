"""Queries: documented SQL over the catalog (ranking of loops, CPU vs GPU hotspots).

The hotspot comparison is :func:`analysis.queries.hotspots.hotspots`: it is not handed on
here, where its name would hide the module ``analysis.queries.hotspots``.
"""

from analysis.queries.ranking import LATEST_SQL, Ranking, latest, rank

__all__ = ["LATEST_SQL", "Ranking", "latest", "rank"]
