"""The shared typer app; each command module registers its commands on it.

Every command is a :class:`FarmCommand`: its help reflowed to the terminal and no type shown
on a flag (:mod:`farm.cli.help_format`), and a reader that goes away ends it quietly
(:mod:`farm.cli.pipes`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from farm.cli.help_format import plain_flags, reflow
from farm.cli.pipes import until_reader_leaves


class _FarmHelp:
    """What a farm command and the farm group share: reflowed help, plain flags, pipes."""

    def _farm_setup(self: Any) -> None:
        if self.help:
            self.help = reflow(self.help)
        plain_flags(self.params)

    def get_help_option(self: Any, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            plain_flags([option])
        return option

    def make_context(self: Any, *args: Any, **kwargs: Any) -> Any:
        return until_reader_leaves(lambda: super(_FarmHelp, self).make_context(*args, **kwargs))

    def invoke(self: Any, ctx: Any) -> Any:
        return until_reader_leaves(lambda: super(_FarmHelp, self).invoke(ctx))


class FarmCommand(_FarmHelp, TyperCommand):
    """A farm command (see :class:`_FarmHelp`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._farm_setup()


class FarmGroup(_FarmHelp, TyperGroup):
    """The ``farm`` group (see :class:`_FarmHelp`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._farm_setup()


class FarmApp(typer.Typer):
    """A typer app whose commands are :class:`FarmCommand` unless told otherwise."""

    def command(self, *args: Any, cls: Any = None, **kwargs: Any) -> Any:
        """Register a command (typer's ``command``), as a :class:`FarmCommand` by default."""
        return super().command(*args, cls=cls or FarmCommand, **kwargs)


def reports_option(help: str = "Root folder of bundles.") -> Any:
    """The ``--reports DIR`` option every command that reads or writes bundles takes."""
    return typer.Option(Path("reports"), "--reports", metavar="DIR", help=help)


def invoked_as(ctx: typer.Context) -> list[str]:
    """The words that started this program, for commands.txt: ``farm`` or ``python3 -m farm``.

    click names a program run with ``-m`` ``python -m farm``; the interpreter's own name
    (``python3``) is put in its place, so the line runs as it was typed. Run from
    ``python -c`` (no program to name), it is ``farm``.
    """
    name = ctx.find_root().info_name or ""
    if name.startswith("python -m "):
        return [Path(sys.executable).name, "-m", name.removeprefix("python -m ")]
    return [name] if name and name != "-c" else ["farm"]


app = FarmApp(
    name="farm",
    cls=FarmGroup,
    help=(
        "Sweep a profiled target over a grid; check parity; rank where the time goes; "
        "compare nights; write reports."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
