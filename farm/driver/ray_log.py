"""Ray's own log records (its start-up warnings) kept for the bundle's commands.txt.

``import ray`` puts Ray's console handler on the ``ray`` logger, and ``ray.init`` takes every
handler off it again, after which its records (such as "Token authentication is enabled")
reach Python's last-resort handler: the console, in the middle of the progress bar.
:func:`ray_log` replaces both for a block and keeps the records as lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class RayLog(logging.Handler):
    """Ray's log records as lines, until the driver writes them into the bundle.

    Records of other loggers that reach it (as the last-resort handler) go on to the
    handler it stands in for.
    """

    def __init__(self, other: logging.Handler | None = None) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.other = other

    def emit(self, record: logging.LogRecord) -> None:
        """Keep one line (level, message, logger) of a ``ray`` record; pass others on."""
        if record.name != "ray" and not record.name.startswith("ray."):
            if self.other is not None and record.levelno >= self.other.level:
                self.other.handle(record)
            return
        text = " ".join(record.getMessage().split())
        self.lines.append(f"{record.levelname.lower()}: {text} ({record.name})")

    def take(self) -> list[str]:
        """The lines kept so far (and forget them)."""
        lines, self.lines = self.lines, []
        return lines


@contextmanager
def ray_log() -> Iterator[RayLog]:
    """Keep the ``ray`` logger's records (INFO and up) in a :class:`RayLog` while the block runs."""
    import ray  # noqa: F401  (its import configures the logger this replaces)

    logger = logging.getLogger("ray")
    saved = (logger.handlers[:], logger.propagate, logger.level, logging.lastResort)
    handler = RayLog(other=logging.lastResort)
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    logging.lastResort = handler
    try:
        yield handler
    finally:
        logger.handlers, logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])
        logging.lastResort = saved[3]
