"""``profile/run.log``: the sweep's console stream, as plain text, kept in the bundle.

The seed task tees the profiler's stdout and stderr into ``profile/run.log``. A sweep's
console is the progress bar (animated, on a terminal), warnings, errors and its final lines
(bundle, cells, next steps). :class:`RunLog` keeps the same stream without the animation:
one line per change of the progress (stage, cells done, failed, skipped, the cell that
finished last; with the cells running then) and the time since the sweep started, and every
line the sweep printed or is about to print, ANSI codes removed. Lines said before the
bundle existed wait in memory until :meth:`RunLog.attach`; after that each line is appended
and flushed at once, so an interrupted or killed sweep leaves what it had shown. A resumed
bundle's log is appended to, after a line that says so. Writing never stops a sweep: a log
that cannot be written (the disk full) stops being written, and the sweep goes on.
"""

from __future__ import annotations

import contextlib
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")


def plain(text: str) -> str:
    r"""``text`` without ANSI escapes; of a line overwritten with ``\r``, what stays."""
    lines = _ANSI.sub("", text).split("\n")
    return "\n".join(line.rsplit("\r", 1)[-1] for line in lines)


def elapsed(seconds: float) -> str:
    """``0:01:05``: hours, minutes, seconds (as the progress bar shows them)."""
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class RunLog:
    """The console stream of one sweep, for ``profile/run.log`` (see the module docstring)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._pending: list[str] = []
        self._fh: TextIO | None = None
        self._last_progress: tuple[Any, ...] | None = None
        self.path: Path | None = None
        self.broken: str | None = None

    def attach(self, bundle_path: Path, *, resumed: bool = False) -> None:
        """Write into ``<bundle>/profile/run.log`` from now on (the lines kept so far first)."""
        self.path = Path(bundle_path) / "profile" / "run.log"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        except OSError as exc:
            self.broken = f"{self.path}: {exc.strerror or exc}"
            return
        if resumed:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self._pending.insert(0, f"# resumed {stamp}: the lines below are this session's")
        pending, self._pending = self._pending, []
        self._write(pending)

    def say(self, text: str) -> None:
        """Keep what the console shows (one or more lines), as plain text."""
        self._write(plain(text).rstrip("\n").split("\n"))

    def progress(self, p: Any) -> None:
        """One plain line for a :class:`~farm.driver.SweepProgress` that changed."""
        key = (p.stage, p.total, p.done, p.failed, p.skipped, p.last)
        if key == self._last_progress:
            return  # only the count of running cells changed
        self._last_progress = key
        line = (
            f"[{elapsed(self._clock() - self._start)}] {p.stage}: {p.done}/{p.total} cells "
            f"done, {p.running} running, {p.failed} failed, {p.skipped} skipped"
        )
        self._write([line + (f"; last: {p.last}" if p.last else "")])

    def close(self) -> None:
        """Close the file (lines said later are dropped)."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
        self._fh = None

    def _write(self, lines: list[str]) -> None:
        if self._fh is None:
            if self.path is None:
                self._pending.extend(lines)
            return
        try:
            self._fh.write("".join(line + "\n" for line in lines))
            self._fh.flush()
        except (OSError, ValueError) as exc:
            self.broken = f"{self.path}: {getattr(exc, 'strerror', None) or exc}"
            self.close()


@contextlib.contextmanager
def warnings_into(log: RunLog) -> Iterator[None]:
    """While the block runs, Python warnings shown on the console are kept in ``log`` too."""
    shown = warnings.showwarning

    def show(message: Any, category: Any, filename: str, lineno: int, *args: Any) -> None:
        log.say(warnings.formatwarning(message, category, filename, lineno).rstrip())
        shown(message, category, filename, lineno, *args)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown
