"""Signals that stop a sweep: Ctrl-C and SIGTERM take one path, a partial bundle.

SIGINT raises :class:`KeyboardInterrupt`; :func:`sigterm_as_interrupt` makes SIGTERM (what a
scheduler or ``kill`` sends) raise :class:`Terminated`, a ``KeyboardInterrupt``, so the
sweep stops its actors, writes summary.md for what is there and exits ``128 + signal``
(130 for Ctrl-C, 143 for SIGTERM).

Ray replaces the SIGTERM handler three times while it connects: ``ray.init`` installs one
that calls ``sys.exit`` (``ray/_private/worker.py``), an embedded head node installs one that
kills its processes and exits 1 (``Node._register_shutdown_hooks``, ``ray/_private/node.py``),
and the driver's core worker installs its C++ failure-signal handler, which prints
``*** SIGTERM received ***`` and aborts. :func:`keeping_sigterm_handler` puts ours back
once ``ray.init`` returns.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, taken as an interruption (the Ctrl-C path)."""

    signum = signal.SIGTERM


def exit_code(exc: BaseException) -> int:
    """``128 + signal``: 143 after SIGTERM, 130 after Ctrl-C."""
    return 128 + int(getattr(exc, "signum", signal.SIGINT))


def describe(exc: BaseException) -> str:
    """``SIGTERM`` or ``Ctrl-C``: what stopped the sweep, for summary.md and commands.txt."""
    return "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class SignalLatch:
    """Remembers that SIGTERM arrived.

    Ray re-raises an interruption inside ``ray.wait`` as a bare ``KeyboardInterrupt``, so the
    exception alone cannot tell SIGTERM from Ctrl-C.
    """

    def __init__(self) -> None:
        self.signum: int | None = None

    def classify(self, exc: KeyboardInterrupt) -> KeyboardInterrupt:
        """``exc`` as :class:`Terminated` when SIGTERM was what stopped the sweep."""
        if self.signum == signal.SIGTERM and not isinstance(exc, Terminated):
            return Terminated()
        return exc


@contextmanager
def sigterm_as_interrupt() -> Iterator[SignalLatch]:
    """Within the block, SIGTERM raises :class:`Terminated` once; later ones are ignored.

    The first SIGTERM stops the sweep; one that arrives while the partial bundle is being
    written does not cut that short (SIGKILL still ends the process).
    """
    latch = SignalLatch()
    if not _in_main_thread():
        yield latch
        return

    def handler(signum: int, frame: Any) -> None:
        if latch.signum is not None:
            return
        latch.signum = signum
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield latch
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def keeping_sigterm_handler() -> Iterator[None]:
    """Put back the Python SIGTERM handler in place before the block (Ray replaces it).

    Only a handler someone installed on purpose (a Python callable) is put back; without
    one, Ray's own handlers stay and clean up as Ray intends.
    """
    previous = signal.getsignal(signal.SIGTERM) if _in_main_thread() else None
    try:
        yield
    finally:
        if callable(previous):
            signal.signal(signal.SIGTERM, previous)
