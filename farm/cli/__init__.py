"""The `farm` command line: a thin layer that parses arguments and prints results.

Each command group lives in its own module and registers itself on the shared app.
"""

from __future__ import annotations

from farm.cli import nights, parity, query, report, sweep  # noqa: F401  (each registers its commands)
from farm.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
