"""Help that reads well at any width: prose reflowed, examples literal, no type on a flag.

typer (0.29) keeps every newline of a docstring and rich then wraps the lines again, so a
docstring wrapped at 90 columns comes out ragged at 80. It also shows a type after every
option, flags included (``--csv <bool>`` reads as if it took a value). :func:`reflow` joins
the lines of each paragraph (rich wraps them to the terminal) and keeps indented lines, the
examples, as they are; :func:`plain_flags` gives each flag an empty metavar, which typer
shows instead of the type.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any


def reflow(text: str) -> str:
    """``text`` with each paragraph's lines joined; indented lines kept as they are.

    A paragraph is separated by a blank line. An indented line (an example, a list set out
    as a block) stays a line of its own, with its indentation.
    """
    first, *rest = [_reflow_paragraph(p) for p in inspect.cleandoc(text).split("\n\n")]
    if not rest:
        return first
    # typer dedents the text after the first paragraph as a docstring, from its second line
    # on: were "Example:" its first line, the examples below it would lose their indent.
    # An empty first line makes typer measure the indent on every line (it drops the line).
    return first + "\n\n\n" + "\n\n".join(rest)


def _reflow_paragraph(paragraph: str) -> str:
    out: list[str] = []
    prose: list[str] = []
    for line in paragraph.splitlines():
        if line[:1].isspace():
            if prose:
                out.append(" ".join(prose))
                prose = []
            out.append(line.rstrip())
        else:
            prose.append(line.strip())
    if prose:
        out.append(" ".join(prose))
    return "\n".join(out)


def plain_flags(params: Iterable[Any]) -> None:
    """Show no type for a flag, and none for an argument already named by its metavar.

    A flag (``--csv``, ``--progress/--no-progress``, ``--help``) takes no value, so it gets
    the metavar ``""``; an argument with a metavar (``STAMP``) is named by it, so its type
    (``<str>``) is not repeated beside it.
    """
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        elif param.param_type_name == "argument" and param.metavar:
            param.display_type_rich = _no_type  # typer shows a type for every argument


def _no_type(ctx: Any = None) -> None:
    return None
