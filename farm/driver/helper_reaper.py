"""A reaper for the helpers of an embedded Ray: they die with the driver, even after SIGKILL.

When the driver that started Ray is killed, the kernel ends the processes it started itself
(Ray starts them with a parent-death signal), but the raylet's own helpers,
``ray::DashboardAgent`` and ``ray::RuntimeEnvAgent``, notice the raylet's death and then wait
60 s for the dead GCS to take their last error report (``publish_error_to_driver``) before
they exit: 60-70 s as orphans after every killed sweep.

:class:`HelperReaper` starts a small process in a session of its own, gives it the driver's
descendants (pid and start time) once Ray is up, and keeps its stdin open. When the driver
ends, however it ends, the pipe closes; the reaper sends SIGTERM to each of those processes
still alive (the start time guards against a reused pid), then SIGKILL after 2 s. Linux only
(it reads ``/proc``); elsewhere :meth:`HelperReaper.start` returns ``None``.

Run as a script (``python helper_reaper.py``) this module is the reaper itself; it imports
nothing from the project.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE_S = 2.0


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(state, parent pid, start time) of a process, from ``/proc/<pid>/stat``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return fields[0], int(fields[1]), fields[19]


def descendants(root: int) -> list[tuple[int, str]]:
    """(pid, start time) of every process below ``root`` (children, their children, ...)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        info = _stat(int(entry.name))
        if info is not None:
            children.setdefault(info[1], []).append((int(entry.name), info[2]))
    out: list[tuple[int, str]] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child[0])
    return out


def _alive(pid: int, start: str) -> bool:
    info = _stat(pid)
    return info is not None and info[2] == start and info[0] != "Z"


def reap(watched: dict[int, str], grace_s: float = GRACE_S) -> list[int]:
    """SIGTERM the watched processes still alive, SIGKILL them after ``grace_s``."""
    alive = [pid for pid, start in watched.items() if _alive(pid, start)]
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(p, watched[p]) for p in alive):
        time.sleep(0.05)
    for pid in alive:
        if _alive(pid, watched[pid]):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    return alive


class HelperReaper:
    """The driver's end of a reaper process (see the module docstring)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @classmethod
    def start(cls) -> HelperReaper | None:
        """Start the reaper; ``None`` where ``/proc`` is missing or it cannot start."""
        if not Path("/proc/self/stat").exists():
            return None
        try:
            process = subprocess.Popen(
                [sys.executable, "-S", str(Path(__file__).resolve())],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a signal to the driver's process group spares it
                close_fds=True,
            )
        except OSError:
            return None
        return cls(process)

    def watch_descendants(self) -> int:
        """Hand the reaper every process below the driver (but itself); return how many."""
        own = {self.process.pid}
        procs = [p for p in descendants(os.getpid()) if p[0] not in own]
        self._send("".join(f"{pid} {start}\n" for pid, start in procs))
        return len(procs)

    def _send(self, text: str) -> None:
        if self.process.stdin is None:
            return
        with contextlib.suppress(OSError):
            self.process.stdin.write(text.encode("ascii"))
            self.process.stdin.flush()

    def close(self) -> None:
        """The driver is done with Ray: the reaper ends what is left of it, then exits."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=GRACE_S + 3)


def main() -> None:
    """The reaper: read ``pid start`` lines until the driver's end closes, then reap."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the driver, not to us
    watched: dict[int, str] = {}
    for line in sys.stdin:
        words = line.split()
        if len(words) == 2 and words[0].isdigit():
            watched[int(words[0])] = words[1]
    reap(watched)


if __name__ == "__main__":
    main()
