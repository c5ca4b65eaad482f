"""``torch_env.txt``: ``python -m torch.utils.collect_env`` on the driver, once per bundle.

It takes one to three seconds (it imports torch and asks pip, conda, nvidia-smi and lscpu),
so it runs in the background while the driver finishes the bundle after the cells (env.json,
the analysis, summary.md; it is awaited before report.html, whose file list names it): no
cell is measured while it runs, and its time hides behind the analysis (the sweep driver
starts it when the cells are done; README, "The bundle", has the measurement). It runs in a
session of its own, so a Ctrl-C meant for the sweep does not cut it short, and is killed
after :data:`TIMEOUT_S`. When it fails, the file is one line that says why (the last line of
its stderr). Its stderr is not kept otherwise: like the seed's ``> torch_env.txt``, the file
holds stdout (torch 2.13 warns on stderr that runpy found the module imported). A bundle
that has the file (``--resume``) keeps it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from analysis.tables.parts import write_text_atomic

TIMEOUT_S = 30.0
NAME = "torch.utils.collect_env"
COMMAND = [sys.executable, "-m", NAME]


class TorchEnv:
    """One background run of :data:`COMMAND` into ``<bundle>/torch_env.txt``."""

    def __init__(self, bundle_path: Path, timeout_s: float = TIMEOUT_S) -> None:
        self.target = Path(bundle_path) / "torch_env.txt"
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: Any = None
        self._err: Any = None
        self._start = 0.0
        self.result: str | None = None  # one line for commands.txt once finished
        self.waited_s = 0.0  # how long finish() waited: what it added to the sweep

    @property
    def wanted(self) -> bool:
        """Whether the bundle still lacks the file."""
        return not self.target.exists()

    @property
    def running(self) -> bool:
        """Whether it was started and not yet finished."""
        return self._proc is not None

    def start(self) -> None:
        """Start the command in the background (nothing when the bundle has the file)."""
        if not self.wanted or self._proc is not None:
            return
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 (read in finish)
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 (read in finish)
        self._start = time.perf_counter()
        try:
            self._proc = subprocess.Popen(
                COMMAND,
                stdout=self._out,
                stderr=self._err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            self._close()
            why = f"not collected: {NAME} could not start: {exc.strerror or exc}"
            self._write(why)
            self.result = f"# torch_env.txt {why}"

    def finish(self) -> str | None:
        """Wait for it (at most the rest of the timeout); write the file; return a log line.

        Returns:
            ``None`` when nothing was started; else the line for commands.txt.

        Raises:
            WriteError: the file could not be written.
        """
        if self._proc is None:
            return self.result
        proc, self._proc = self._proc, None
        waited = time.perf_counter()
        left = max(0.1, self.timeout_s - (waited - self._start))
        try:
            rc: int | None = proc.wait(timeout=left)
        except subprocess.TimeoutExpired:
            _kill(proc)
            rc = None
        now = time.perf_counter()
        took, self.waited_s = now - self._start, now - waited
        text, err = self._read(self._out), self._read(self._err)
        self._close()
        if rc is None:
            self._write(f"not collected: {NAME} timed out after {self.timeout_s:g} s")
            note = f"timed out after {self.timeout_s:g} s"
        elif rc != 0 or not text.strip():
            last = (err.strip() or text.strip() or "no output").splitlines()[-1].strip()
            self._write(f"not collected: {NAME} exited {rc}: {last}")
            note = f"failed: {last}"
        else:
            self._write(text)
            note = "output in torch_env.txt"
        rc_text = "?" if rc is None else str(rc)
        self.result = (
            f"$ {' '.join(COMMAND)}\n-> exit {rc_text} ({note}; {took:.1f} s in the "
            f"background after the cells, {self.waited_s:.1f} s of it waited for)"
        )
        return self.result

    def cancel(self) -> None:
        """Kill a run that is still going (the bundle could not be finished)."""
        if self._proc is not None:
            _kill(self._proc)
            self._proc = None
        self._close()

    @staticmethod
    def _read(fh: Any) -> str:
        fh.seek(0)
        return fh.read().decode("utf-8", "replace")

    def _close(self) -> None:
        for fh in (self._out, self._err):
            if fh is not None:
                fh.close()
        self._out = self._err = None

    def _write(self, text: str) -> None:
        """The file (raises :class:`~analysis.tables.parts.WriteError`)."""
        write_text_atomic(self.target, text if text.endswith("\n") else text + "\n")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill its session (collect_env's own children, such as nvidia-smi, too) and reap it."""
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
