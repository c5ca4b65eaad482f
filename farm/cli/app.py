"""The shared typer app; each command module registers its commands on it."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="farm",
    help="Sweep the profiled simulator over a grid; query parity and residual Python loops.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
