"""nanoBragg's command-line flags: read into a :class:`SimulationConfig` and written back.

Flags keep nanoBragg's spelling and the synonyms the C program accepts. Like the C program,
flags are read left to right and a later flag wins; flags that move the detector pivot
(``-distance``, ``-Xclose``, ``-twotheta``…) record the pivot they ask for, and conventions
(``-xds``…) or custom vectors (``-fdet_vector``…) record the convention. The C program's
order-dependent side effects that matter are kept (``-detector_abs inf`` zeroes a thickness
given before it); its substring cross-matches are not (``-misset_seed`` does not also set
misset angles here), and :func:`to_flags` orders flags so the C program reads what we read.

* :mod:`simulator.flags.table`: every flag, its spellings, values and what it sets;
* :mod:`simulator.flags.parser`: flags -> config (:func:`parse_flags`, :func:`with_flags`);
* :mod:`simulator.flags.emitter`: config -> canonical flags for the C program (:func:`to_flags`);
* :mod:`simulator.flags.noop`: flags that change nothing in the image, and what to print for
  them (:func:`noop_notes`).
"""

from simulator.flags.cross_matches import cross_match_notes
from simulator.flags.emitter import to_flags
from simulator.flags.noop import noop_names, noop_notes
from simulator.flags.parser import (
    help_entry,
    known_flags,
    lookup,
    parse_flags,
    split_flags,
    usage,
    with_flags,
)
from simulator.flags.table import FlagError, FlagSpec

__all__ = [
    "FlagError",
    "FlagSpec",
    "cross_match_notes",
    "help_entry",
    "known_flags",
    "lookup",
    "noop_names",
    "noop_notes",
    "parse_flags",
    "split_flags",
    "to_flags",
    "usage",
    "with_flags",
]
