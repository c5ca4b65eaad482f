"""Exceptions as one line of text, for commands.txt, rows and records."""

from __future__ import annotations

import traceback
from pathlib import Path


def short_error(exc: BaseException) -> str:
    """An exception's message on one line, at most 300 characters."""
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")


def one_line_error(exc: BaseException) -> str:
    """``Type: message (file:line in function)`` for the innermost frame of ``exc``."""
    msg = " ".join(str(exc).split()) or repr(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        f = frames[-1]
        where = f" ({Path(f.filename).name}:{f.lineno} in {f.name})"
    return f"{type(exc).__name__}: {msg}{where}"
