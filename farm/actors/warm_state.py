"""What was already warm when a cell's cold run started, and the cell's environment.

"Cold" means the first render of a target in a process. With ``cold = "process"`` (the
default) every cell gets a fresh actor process, so nothing of the target ran before it;
with ``cold = "instance"`` cells share an actor and each ``runs`` row says what was warm:
``process_cells``, the cells this process measured before (their compiled code, caches
and imports are still there), and ``compile_cache_files``, the files of torch's compile
cache on disk (inductor's FX-graph and kernel caches, shared by every process of the user:
they make a later compilation cheaper even in a fresh process).

:func:`cell_environment` sets a cell's ``env`` in the actor for the length of the cell.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path


def compile_cache_dir() -> Path:
    """torch's compile cache folder (``TORCHINDUCTOR_CACHE_DIR`` or torch's default)."""
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])
    try:
        from torch._inductor.runtime.cache_dir_utils import cache_dir  # private: guarded

        return Path(cache_dir())
    except Exception:
        return Path(tempfile.gettempdir()) / f"torchinductor_{getpass.getuser()}"


def compile_cache_files() -> int | None:
    """Files in the compile cache now; None when there is no cache folder."""
    folder = compile_cache_dir()
    if not folder.is_dir():
        return None
    return sum(len(files) for _, _, files in os.walk(folder))


@contextlib.contextmanager
def cell_environment(env: Mapping[str, str]) -> Iterator[None]:
    """Set ``env`` in ``os.environ`` for the block; restore what was there after."""
    before = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
