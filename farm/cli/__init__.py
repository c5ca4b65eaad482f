"""The `farm` command line: a thin layer that parses arguments and prints results.

Each command group lives in its own module and registers itself on the shared app.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="farm",
    help="Sweep the profiled simulator over a grid; query parity and residual Python loops.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    """Import every command module; each one adds its commands to `app`."""
    import importlib

    for name in ("sweep", "query", "parity"):
        try:
            importlib.import_module(f"farm.cli.{name}")
        except ModuleNotFoundError as exc:  # a command module not written yet
            if exc.name != f"farm.cli.{name}":
                raise


_register_commands()


def main() -> None:
    """Console-script entry point."""
    app()
