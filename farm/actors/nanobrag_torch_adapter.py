"""The ``nanobrag_torch`` target: the port the seed came from, through its own command line.

The port's command line (``python -m nanobrag_torch``) is the authority on its flags: its
``create_parser()`` accepts every flag the port takes, and its ``main()`` turns them into
the detector, crystal, beam and simulator exactly as a user running the port gets them
(conventions, pivots, beam centres, sources, HKL files, masks). The adapter therefore runs
``main()`` with the cell's flags plus ``-detpixels <size> -device <d> -dtype <t>``, and
stops it at the moment it would run the simulation: the ``Simulator`` it built is the
cell's target, its ``run`` (with the arguments ``main`` chose) the render. Nothing is
mapped by hand, so every flag the port accepts reaches it, and the flags it refuses are
refused at grid check (:func:`check_flags`, exit 2), with the port's own message.

Only where ``nanobrag_torch`` is importable (cells are skipped otherwise).
"""

from __future__ import annotations

import contextlib
import functools
import io
import shlex
import sys
from collections.abc import Callable, Iterator
from typing import Any

#: Flags the farm sets itself (the size, device and dtype axes): a grid may not give them.
FARM_FLAGS = (
    "-detpixels",
    "-detpixels_f",
    "-detpixels_s",
    "-detpixels_x",
    "-detpixels_y",
    "-detsize",
    "-detsize_f",
    "-detsize_s",
    "-device",
    "-dtype",
)
#: The adapter takes no grid ``[options]`` (the port reads its switches from flags and from
#: its environment, e.g. ``env = {NANOBRAG_DISABLE_COMPILE = "1"}``).
OPTIONS: dict[str, type] = {}


class FlagRefused(ValueError):
    """The port's command line refuses the flags; the message is its own, on one line."""


class _Built(BaseException):  # not an Exception: main() catches those and exits
    """Raised from inside ``main()`` when it is about to run the simulation."""

    def __init__(self, sim: Any, args: tuple, kwargs: dict) -> None:
        super().__init__("simulator built")
        self.sim, self.args, self.kwargs = sim, args, kwargs


def _words(flags: str | list[str]) -> list[str]:
    return shlex.split(flags) if isinstance(flags, str) else list(flags)


def _last_line(text: str, fallback: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        if "error" in line.lower():
            return line
    return lines[-1] if lines else fallback


@contextlib.contextmanager
def _argv(argv: list[str]) -> Iterator[io.StringIO]:
    """``sys.argv`` set to ``argv`` and the port's output captured, for one call."""
    out = io.StringIO()
    old = sys.argv
    sys.argv = argv
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            yield out
    finally:
        sys.argv = old


def check_flags(flags: str | list[str]) -> None:
    """Parse ``flags`` with the port's own parser, as a cell would give them.

    Raises:
        FlagRefused: a flag the farm sets itself, or one the port's parser refuses (its
            message), or arguments it cannot validate.
    """
    words = _words(flags)
    owned = sorted(set(words) & set(FARM_FLAGS))
    if owned:
        raise FlagRefused(
            f"{owned[0]} is set by the farm (the size, device and dtype axes), not by flags"
        )
    from nanobrag_torch.__main__ import create_parser, parse_and_validate_args

    with _argv(["nanoBragg", *words, "-detpixels", "8"]) as out:
        try:
            args = create_parser().parse_args()
        except SystemExit:
            why = _last_line(out.getvalue(), "bad flags")
            raise FlagRefused(f"nanobrag_torch refuses the flags: {why}") from None
        try:
            parse_and_validate_args(args)
        except (SystemExit, Exception) as exc:
            why = _last_line(out.getvalue(), str(exc) or type(exc).__name__)
            raise FlagRefused(f"nanobrag_torch cannot use the flags: {why}") from None


def build(flags: str | list[str], size: int, device: str, dtype: str) -> Callable[[], Any]:
    """Run the port's ``main()`` up to the simulation; return the simulator's render.

    Raises:
        FlagRefused: the port's command line exits (its message, one line).
    """
    from nanobrag_torch import __main__ as cli
    from nanobrag_torch.simulator import Simulator

    argv = ["nanoBragg", *_words(flags), "-detpixels", str(int(size))]
    argv += ["-device", device, "-dtype", dtype]
    run = Simulator.run

    def stop(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise _Built(self, args, kwargs)

    Simulator.run = stop  # the port's class, for the length of one main() call
    try:
        with _argv(argv) as out:
            cli.main()
    except _Built as built:
        return functools.partial(run, built.sim, *built.args, **built.kwargs)
    except SystemExit as exc:
        why = _last_line(out.getvalue(), f"exit status {exc.code}")
        raise FlagRefused(f"nanobrag_torch could not build the simulation: {why}") from None
    finally:
        Simulator.run = run
    raise FlagRefused("nanobrag_torch's main() returned without running a simulation")


def nanobrag_torch_factory(size: int, device: str, dtype: str, params: dict[str, Any]):
    """Build the port's simulator for the cell (cold) and return its render (warm)."""
    return build(params.get("flags", ""), size, device, dtype)


nanobrag_torch_factory.OPTIONS = OPTIONS  # type: ignore[attr-defined]
nanobrag_torch_factory.check_flags = check_flags  # type: ignore[attr-defined]
