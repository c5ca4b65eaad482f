"""Other sweeps on this host: each sweep registers itself, and says when another overlapped it.

Two sweeps that each start their own Ray both believe they own every core, so their timings
share cores. A sweep registers in a folder of this host (``$FARM_SWEEP_REGISTRY``, default
``<tmp>/bragg-farm-<uid>/sweeps``): a JSON entry (pid, start, stamp, bundle, Ray address) and a
lock file it holds while it runs. At its end it lists every other sweep that was running when
it started (its lock held) or that started while it ran; summary.md and env.json record
them, with whether they used the same Ray (whose scheduler then queued their actors).
Entries of sweeps that ended more than a day ago are removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from analysis.plurals import counted

REGISTRY_ENV = "FARM_SWEEP_REGISTRY"
KEEP_S = 86400.0


def registry_folder() -> Path:
    """Where this host's sweeps register."""
    env = os.environ.get(REGISTRY_ENV)
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"bragg-farm-{os.getuid()}" / "sweeps"


def _held(lock: Path) -> bool:
    """Whether a running sweep holds ``lock``."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


class HostSweeps:
    """This sweep's entry in the host's registry, and the others it saw (best effort)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or registry_folder()
        self.key = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"
        self.entry: dict[str, Any] = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "ended": None,
        }
        self.running_at_start: list[dict[str, Any]] = []
        self.problem: str | None = None
        self._lock_fd: int | None = None

    def register(self, **info: Any) -> None:
        """Note the sweeps running now, then register this one (holding its lock)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.running_at_start = [e for e in self._entries() if e["running"]]
            self._prune()
            self._lock_fd = os.open(self.folder / f"{self.key}.lock", os.O_CREAT | os.O_RDWR)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.update(**info)
        except OSError as exc:
            self.problem = f"cannot check for other sweeps in {self.folder}: {exc.strerror or exc}"

    def update(self, **info: Any) -> None:
        """Record more about this sweep (bundle, Ray address) in its entry."""
        self.entry.update(info)
        if self._lock_fd is None:
            return
        path = self.folder / f"{self.key}.json"
        tmp = path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(self.entry), encoding="utf-8")
            os.replace(tmp, path)

    def overlapping(self) -> list[dict[str, Any]]:
        """Other sweeps that ran during this one: running at its start, or started since."""
        if self._lock_fd is None:
            return []
        seen = {e["key"]: e for e in self.running_at_start}
        for e in self._entries():
            if e["started"] >= self.entry["started"]:
                seen.setdefault(e["key"], e)
            elif e["key"] in seen:
                seen[e["key"]] = e  # a fresher view (its end, its bundle)
        mine = self.entry.get("ray_address")
        out = []
        for e in sorted(seen.values(), key=lambda e: e["started"]):
            e = dict(e)
            e["same_ray"] = bool(mine) and e.get("ray_address") == mine
            out.append(e)
        return out

    def close(self) -> None:
        """This sweep is over: record its end and release its lock."""
        if self._lock_fd is None:
            return
        self.update(ended=time.time())
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)
        self._lock_fd = None

    def _entries(self) -> list[dict[str, Any]]:
        out = []
        for path in self.folder.glob("*.json"):
            if path.stem == self.key:
                continue
            try:
                e = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            e["key"] = path.stem
            e["running"] = _held(path.with_suffix(".lock"))
            out.append(e)
        return out

    def _prune(self) -> None:
        now = time.time()
        for e in self._entries():
            if not e["running"] and now - (e.get("ended") or e.get("started", now)) > KEEP_S:
                for suffix in (".json", ".lock"):
                    (self.folder / f"{e['key']}{suffix}").unlink(missing_ok=True)


def describe_overlap(entries: list[dict[str, Any]]) -> str | None:
    """One warning line for summary.md, or ``None`` when no other sweep overlapped."""
    if not entries:
        return None
    own = [e for e in entries if not e.get("same_ray")]
    parts = []
    for e in entries:
        when = time.strftime("%H:%M:%S", time.gmtime(e["started"]))
        end = time.strftime("%H:%M:%S", time.gmtime(e["ended"])) if e.get("ended") else "..."
        ray = "the same Ray" if e.get("same_ray") else "its own Ray"
        parts.append(
            f"pid {e['pid']} ({e.get('stamp') or 'no bundle yet'}, {when}-{end} UTC, {ray})"
        )
    verdict = (
        "their timings shared this host's cores: compare them with care or rerun alone"
        if own
        else "they shared this sweep's Ray, which queued their actors for CPUs"
    )
    return f"{counted(len(entries), 'other sweep')} ran on this host during this one: " + (
        f"{'; '.join(parts)}; {verdict}"
    )
