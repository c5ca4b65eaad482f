"""Where nanoBragg reads one flag as another: it matches flag names as substrings.

The C program tests each token with ``strstr`` against every flag name in turn, so a token
that contains another flag's name runs that flag's code as well, unless a length check or a
``continue`` stops it. Two such pairs change the image, and the parser follows both:

* ``-misset_seed N`` with three more tokens after it also runs ``-misset``'s code. The
  misset becomes the fixed angles ``atof`` of the next three tokens, whatever they are:
  ``-misset_seed 3 -lambda 1`` gives 3, 0, 1 degrees. A ``-misset random`` before it is
  undone; one after it wins again.
* ``-twotheta_axis X Y Z`` also runs ``-twotheta``'s code: 2θ = atof(X) degrees, and the
  sample pivot.

``-printout_pixel`` also runs ``-printout``'s, which changes nothing in the image.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.flags.table import State
from simulator.smv_settings import c_atof


def _misset_of_seed(tokens: Sequence[str], i: int) -> tuple[float, float, float] | None:
    """The misset ``-misset_seed`` at ``tokens[i]`` also sets, or None where it sets none."""
    if tokens[i] != "-misset_seed" or len(tokens) <= i + 3:
        return None
    x, y, z = (c_atof(t) for t in tokens[i + 1 : i + 4])
    return x, y, z


def _twotheta_of_axis(tokens: Sequence[str], i: int) -> float | None:
    """The 2θ ``-twotheta_axis`` at ``tokens[i]`` also sets, or None where it sets none."""
    if tokens[i] != "-twotheta_axis" or len(tokens) <= i + 1:
        return None
    return c_atof(tokens[i + 1])


def apply_cross_matches(state: State, tokens: Sequence[str], i: int) -> None:
    """Run, for the flag at ``tokens[i]``, the code of the flags whose name it contains."""
    misset, twotheta = _misset_of_seed(tokens, i), _twotheta_of_axis(tokens, i)
    if misset is not None:
        state["crystal"]["misset_deg"] = misset
        state["crystal"]["misset_random"] = False
    if twotheta is not None:
        state["detector"]["twotheta_deg"] = twotheta
        state["detector"]["pivot"] = "sample"


def cross_match_notes(tokens: Sequence[str]) -> list[str]:
    """One line per cross-matched flag among ``tokens`` that changes the image, in order."""
    notes = []
    for i in range(len(tokens)):
        misset, twotheta = _misset_of_seed(tokens, i), _twotheta_of_axis(tokens, i)
        if misset is not None:
            angles = " ".join(f"{v:g}" for v in misset)
            notes.append(
                f"note: nanoBragg also reads -misset_seed as -misset (it matches flag names as "
                f"substrings): misset {angles} degrees from `{' '.join(tokens[i + 1 : i + 4])}`"
                "; put -misset_seed last, or before -misset, to keep a random misset"
            )
        if twotheta is not None:
            notes.append(
                f"note: nanoBragg also reads -twotheta_axis as -twotheta: 2theta "
                f"{twotheta:g} degrees and the sample pivot, unless a -twotheta "
                "or -pivot after it says otherwise"
            )
    return notes
