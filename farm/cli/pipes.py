"""When the reader of the output goes away (``farm inventory | head -3``): stop, exit 0.

click turns a broken pipe into exit status 1 with no word said, and so does rich (its
console raises ``SystemExit(1)``), which reads as a failure in a pipeline. Here the command
stops where it is, its output streams are pointed at ``/dev/null`` (so the interpreter's
last flush says nothing), and the status is 0; a status the command had already chosen
(``farm compare``: 1 for a regression) is kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

import typer

T = TypeVar("T")


def until_reader_leaves(run: Callable[[], T]) -> T:
    """``run()``, with its output flushed; a broken pipe ends it quietly (exit 0)."""
    try:
        result = run()
    except BrokenPipeError:
        _silence()
        raise typer.Exit(0) from None
    except SystemExit as exc:
        if not isinstance(exc.__context__, BrokenPipeError):
            raise
        _silence()  # rich's Console.on_broken_pipe: the reader is gone, not a failure
        raise typer.Exit(0) from None
    except typer.Exit:
        _flush()
        raise
    _flush()
    return result


def _flush() -> None:
    """Flush stdout and stderr now, while a broken pipe can still be told apart."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            _silence()
            return
        except (AttributeError, ValueError):  # closed, or not a real stream (CliRunner)
            continue


def _silence() -> None:
    """Point stdout and stderr at /dev/null, so nothing more is written to the pipe."""
    null = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(null, stream.fileno())
        except (AttributeError, OSError, ValueError):  # not backed by a file descriptor
            continue
    os.close(null)
