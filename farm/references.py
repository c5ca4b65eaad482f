"""Reference images for a sweep: one per distinct (engine, flags), computed once and shared.

:func:`compute_reference` never raises: a missing engine, a failed run or a reference package
that is not installed yet all come back as a :class:`ReferenceOutcome` with
``status = "no_reference"`` and the reason, so the cells record it and never a fake 1.0.

:class:`SharedReferences` is the driver's side: it submits one Ray task per distinct key
(:func:`reference_task`), logs each as it finishes, and hands every cell the ObjectRef of its
reference, so the image travels through the object store and is never copied to the driver.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.plurals import counted
from farm.error_text import short_error
from farm.grid import Cell


@dataclass(frozen=True)
class ReferenceKey:
    """What identifies one reference image: the engine and the full flags (with -detpixels)."""

    engine: str
    flags: str


@dataclass
class ReferenceOutcome:
    """A computed reference image, or the reason there is none.

    Attributes:
        key: the engine and flags it was computed for.
        status: ``ok`` or ``no_reference``.
        image: float64 ``[spixels, fpixels]`` when ``status == "ok"``.
        wall_s: the reference engine's own wall time.
        command: the argv run (nanobragg engine), else ``None``.
        error: why there is no reference.
        threads: the CPU threads the engine ran on (``None`` when not limited).
    """

    key: ReferenceKey
    status: str
    image: np.ndarray | None = None
    wall_s: float | None = None
    command: list[str] | None = None
    error: str | None = None
    threads: int | None = None

    @property
    def ok(self) -> bool:
        """Whether an image is there."""
        return self.status == "ok" and self.image is not None

    def meta(self) -> dict[str, Any]:
        """Everything but the image (for commands.txt and summaries)."""
        return {
            "engine": self.key.engine,
            "flags": self.key.flags,
            "status": self.status,
            "wall_s": self.wall_s,
            "command": self.command,
            "error": self.error,
            "threads": self.threads,
        }


def limit_threads(engine: str, threads: int | None) -> int | None:
    """Hold a reference engine to ``threads`` CPUs (what its Ray task reserved).

    The built-in engine's Numba threads (by default one per core of the machine) and the C
    binary's OpenMP threads (``OMP_NUM_THREADS``, inherited by its process) are set here.

    Returns:
        The threads the engine will use (``None`` when not limited).
    """
    if not threads:
        return None
    if engine == "builtin":
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        return numba.get_num_threads()
    os.environ["OMP_NUM_THREADS"] = str(int(threads))
    return int(threads)


def compute_reference(
    key: ReferenceKey,
    c_bin: str | None = None,
    timeout_s: float | None = None,
    threads: int | None = None,
) -> ReferenceOutcome:
    """Render the reference image for ``key`` on ``threads`` CPUs (never raises)."""
    if key.engine == "none":
        return ReferenceOutcome(key, "no_reference", error="reference = 'none' in the grid")
    try:
        from simulator import parse_flags
        from simulator.reference import ReferenceFailure, render_reference
    except ImportError as exc:
        return ReferenceOutcome(
            key, "no_reference", error=f"reference engines not available ({exc})"
        )
    start = time.perf_counter()
    try:
        used = limit_threads(key.engine, threads)
        cfg = parse_flags(key.flags)
        ref = render_reference(key.engine, cfg, c_bin=c_bin or None, timeout_s=timeout_s or None)
    except ReferenceFailure as exc:
        return ReferenceOutcome(
            key, "no_reference", wall_s=time.perf_counter() - start, error=str(exc)
        )
    except Exception as exc:  # any other failure of the engine is still "no reference"
        return ReferenceOutcome(
            key,
            "no_reference",
            wall_s=time.perf_counter() - start,
            error=f"{type(exc).__name__}: {exc}",
        )
    image = np.asarray(ref.image, dtype=np.float64)
    return ReferenceOutcome(
        key,
        "ok",
        image=image,
        wall_s=float(ref.wall_s),
        command=list(ref.command) if ref.command else None,
        threads=used,
    )


def reference_task(
    key: ReferenceKey, c_bin: str | None, timeout_s: float | None, threads: int | None = None
):
    """Ray task body: the reference's metadata (small) and the outcome (with its image).

    ``threads`` is the task's CPU reservation: the engine runs on that many threads.

    Run with ``num_returns=2``: the driver reads the metadata and hands the outcome's
    ObjectRef to every cell that shares the reference, so the image is never copied to it.
    """
    outcome = compute_reference(key, c_bin=c_bin, timeout_s=timeout_s, threads=threads)
    return outcome.meta(), outcome


#: ``log_command(argv, rc, note=...)``: record one reference command in commands.txt.
LogCommand = Callable[..., None]


@dataclass
class SharedReferences:
    """The reference tasks of one sweep, and what they reported.

    Attributes:
        meta: :meth:`ReferenceOutcome.meta` of every finished reference, in finishing order.
        pending: ObjectRefs of tasks not collected yet (cancelled by :meth:`cancel`).
    """

    meta: list[dict[str, Any]] = field(default_factory=list)
    pending: list[Any] = field(default_factory=list)

    def compute(
        self,
        engine: str,
        cells: list[Cell],
        *,
        c_bin: str | None,
        timeout_s: float | None,
        cpus: int,
        poll_s: float,
        log_command: LogCommand,
        on_stage: Callable[[str], None],
    ) -> dict[str, Any]:
        """Compute each distinct reference of ``cells`` once; wait for all of them.

        Each task reserves ``cpus`` CPUs and its engine runs on that many threads (so a
        reference's own wall time is not shared with another's). A task whose process dies
        is recorded as ``no_reference`` with the reason.

        Returns:
            Cell id -> the reference's ObjectRef (an outcome for a lost task; ``None`` for
            ``engine == "none"``).
        """
        if engine == "none":
            return {cell.cell_id: None for cell in cells}
        import ray
        from ray.exceptions import RayError

        task = ray.remote(reference_task).options(num_cpus=cpus, num_returns=2)
        keys: dict[ReferenceKey, tuple[Any, Any]] = {}
        for cell in cells:
            key = ReferenceKey(engine, cell.full_flags)
            if key not in keys:
                keys[key] = task.remote(key, c_bin, timeout_s, cpus)
        shared: dict[ReferenceKey, Any] = {key: pair[1] for key, pair in keys.items()}
        on_stage(f"references 0/{len(keys)}")
        metas = {pair[0]: key for key, pair in keys.items()}
        self.pending = [ref for pair in keys.values() for ref in pair]
        waiting = list(metas)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1, timeout=poll_s)
            for ref in done:
                key = metas[ref]
                try:
                    meta = ray.get(ref)
                except RayError as exc:  # the task's process died (out of memory, ...)
                    lost = ReferenceOutcome(
                        key, "no_reference", error=f"reference task failed: {short_error(exc)}"
                    )
                    shared[key] = lost
                    meta = lost.meta()
                self.meta.append(meta)
                _log_reference(meta, log_command)
            on_stage(f"references {len(metas) - len(waiting)}/{len(metas)}")
        self.pending = []
        return {cell.cell_id: shared[ReferenceKey(engine, cell.full_flags)] for cell in cells}

    def cancel(self) -> None:
        """Cancel the tasks not collected yet (after Ctrl-C or a fatal error)."""
        if not self.pending:
            return
        import ray

        for ref in self.pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self.pending = []


def _log_reference(meta: dict[str, Any], log_command: LogCommand) -> None:
    """One finished reference in commands.txt: its command (or engine), status and time."""
    note = f"{meta['engine']} reference, {meta['status']}"
    if meta["wall_s"] is not None:
        note += f", {meta['wall_s']:.2f} s"
    if meta.get("threads"):
        note += f", {counted(meta['threads'], 'thread')}"
    if meta["error"]:
        note += f": {meta['error']}"
    argv = meta["command"] or f"<{meta['engine']} reference> {meta['flags']}"
    log_command(argv, 0 if meta["status"] == "ok" else 1, note=note)
