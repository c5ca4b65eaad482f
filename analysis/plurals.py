"""Counted nouns in the text the farm prints: ``1 cell``, ``2 cells`` (never ``1 cell(s)``)."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, in the singular for 1 and in the plural otherwise.

    Args:
        n: how many.
        noun: the singular (``"cell"``).
        plural: the plural when it is not ``noun + "s"``.
    """
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
