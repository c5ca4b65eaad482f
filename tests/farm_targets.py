"""Small targets for the sweep tests: ``python:farm_targets:<name>``.

Each follows the target contract ``factory(size, device, dtype, params) -> render()``; they
are cheap so real sweeps through Ray stay fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def _blob(size: int, device: str, dtype: str, width: float = 8.0) -> torch.Tensor:
    """A smooth Gaussian spot with a tilt: non-constant, finite, deterministic."""
    dt = getattr(torch, dtype)
    ax = torch.arange(size, device=device, dtype=dt)
    s, f = torch.meshgrid(ax, ax, indexing="ij")
    c = (size - 1) / 2
    return torch.exp(-((s - c) ** 2 + (f - c) ** 2) / (2 * width**2)) + 1e-3 * (s + f)


def gaussian(size: int, device: str, dtype: str, params: dict[str, Any]):
    """A well-behaved target: a loop of small tensor ops, so the profile has Python loops."""
    base = _blob(size, device, dtype)
    scale = float(params.get("N", 1) or 1)

    def render() -> torch.Tensor:
        image = torch.zeros_like(base)
        for k in range(4):
            image = image + base * (scale + k)
        return image

    return render


def raises(size: int, device: str, dtype: str, params: dict[str, Any]):
    """Construction works; every render raises."""

    def render() -> torch.Tensor:
        raise RuntimeError(f"boom at size {size}")

    return render


def nan_image(size: int, device: str, dtype: str, params: dict[str, Any]):
    """Renders an image with NaN pixels."""
    base = _blob(size, device, dtype)

    def render() -> torch.Tensor:
        image = base.clone()
        image[0, :3] = float("nan")
        return image

    return render


def crash(size: int, device: str, dtype: str, params: dict[str, Any]):
    """Kills its worker process on every render (a dead actor, twice)."""

    def render() -> torch.Tensor:
        os._exit(3)

    return render


def crash_once(size: int, device: str, dtype: str, params: dict[str, Any]):
    """Kills its worker on the first render of a given marker file, then works.

    ``params["marker"]`` (an axis of the grid) names a file: absent -> create it and die.
    """
    marker = Path(str(params["marker"]))
    base = _blob(size, device, dtype)

    def render() -> torch.Tensor:
        if not marker.exists():
            marker.write_text("died once\n")
            os._exit(4)
        return base * 2

    return render


def allocates_when_warm(size: int, device: str, dtype: str, params: dict[str, Any]):
    """From its second render on, each render also fills a 128 MiB buffer, then frees it.

    The cold phase (construction and the first render) does not: a memory probe that resets
    its peak per phase sees the warm peak 128 MiB above the cold one.
    """
    base = _blob(size, device, dtype)
    renders = 0

    def render() -> torch.Tensor:
        nonlocal renders
        renders += 1
        if renders > 1:
            buffer = torch.ones(32 * 2**20, dtype=torch.float32)  # 128 MiB, touched
            assert float(buffer[-1]) == 1.0
            del buffer
        return base

    return render


def slow_first_warm(size: int, device: str, dtype: str, params: dict[str, Any]):
    """The first render after the cold one takes 0.5 s longer (a first-warm effect)."""
    import time

    base = _blob(size, device, dtype)
    renders = 0

    def render() -> torch.Tensor:
        nonlocal renders
        renders += 1
        if renders == 2:
            time.sleep(0.5)
        return base

    return render


def interruptible(size: int, device: str, dtype: str, params: dict[str, Any]):
    """Renders of sizes >= 32 wait while the file after ``-slow_marker`` exists (up to 60 s).

    A test holds a cell in its render with the file and lets it go by deleting it.
    """
    import shlex
    import time

    words = shlex.split(params.get("flags", ""))
    marker = Path(words[words.index("-slow_marker") + 1])
    base = _blob(size, device, dtype)

    def render() -> torch.Tensor:
        end = time.monotonic() + 60
        while size >= 32 and marker.exists() and time.monotonic() < end:
            time.sleep(0.05)
        return base

    return render


def by_mode(size: int, device: str, dtype: str, params: dict[str, Any]):
    """Behaves as the cell's ``mode`` axis says: ok | raises | nan | crash |
    crash_once | alloc | slow_first_warm.

    ``crash_once`` keeps its marker in the folder given by the grid flag ``-marker_dir``.
    """
    import shlex

    mode = params["mode"]
    if mode == "ok":
        return gaussian(size, device, dtype, params)
    if mode == "raises":
        return raises(size, device, dtype, params)
    if mode == "nan":
        return nan_image(size, device, dtype, params)
    if mode == "crash":
        return crash(size, device, dtype, params)
    if mode == "alloc":
        return allocates_when_warm(size, device, dtype, params)
    if mode == "slow_first_warm":
        return slow_first_warm(size, device, dtype, params)
    if mode == "crash_once":
        words = shlex.split(params.get("flags", ""))
        folder = Path(words[words.index("-marker_dir") + 1])
        marker = folder / f"crashed-{size}-{dtype}"
        return crash_once(size, device, dtype, {**params, "marker": marker})
    raise ValueError(f"unknown mode {mode!r}")


def _compile_without_a_toolchain(fn, **kwargs):
    """Stands in for ``torch.compile`` on a machine that cannot build kernels.

    Like inductor without a C++ compiler (or Triton without a GPU toolchain), the wrapper
    is returned at once and the failure comes with the first call.
    """

    def compiled(*args, **kw):
        raise RuntimeError("CppCompileError: C++ compile error: no toolchain on this machine")

    return compiled


def compile_fails(size: int, device: str, dtype: str, params: dict[str, Any]):
    """The simulator with ``compile = true`` where torch.compile cannot build its kernel."""
    from unittest import mock

    from simulator.target import factory

    with mock.patch("torch.compile", _compile_without_a_toolchain):
        return factory(size, device, dtype, {**params, "compile": True})


#: FARM_PROBE as it was when this module was imported (in the actor process).
_PROBE_AT_IMPORT = os.environ.get("FARM_PROBE")


def _probe_physics(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(x) * torch.cos(2 * x) + x * x


def compiled_probe(size: int, device: str, dtype: str, params: dict[str, Any]):
    """A compiled target that checks its environment (``FARM_PROBE``).

    ``torch.compile`` with ``aot_eager`` (Dynamo and AOT graphs, no C compiler). The render
    raises when ``FARM_PROBE`` is unset; with option ``at_import`` the factory raises unless
    it already had the same value when this module was imported (at process start).
    """
    seen = os.environ.get("FARM_PROBE")
    if params.get("at_import") and seen != _PROBE_AT_IMPORT:
        raise RuntimeError(f"FARM_PROBE at import was {_PROBE_AT_IMPORT!r}, now {seen!r}")
    base = _blob(size, device, dtype)
    physics = torch.compile(_probe_physics, backend="aot_eager")

    def render() -> torch.Tensor:
        if not os.environ.get("FARM_PROBE"):
            raise RuntimeError("FARM_PROBE is not set in the actor")
        return physics(base)

    return render


compiled_probe.OPTIONS = {"at_import": bool}


def _tool_parser():
    import argparse

    parser = argparse.ArgumentParser(prog="tool", add_help=False, allow_abbrev=False)
    parser.add_argument("-width", type=float, default=8.0)
    parser.add_argument("-tilt", type=float, default=1e-3)
    return parser


def _tool_check(flags: str) -> None:
    import contextlib
    import io
    import shlex

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            _tool_parser().parse_args(shlex.split(flags))
        except SystemExit:
            raise ValueError(err.getvalue().strip().splitlines()[-1]) from None


def cli_tool(size: int, device: str, dtype: str, params: dict[str, Any], *, gain: float = 1.0):
    """A third-party-style target with its own command line (argparse) for the flags.

    The farm asks that parser at grid check (``check_flags``); ``gain`` is an option the
    factory declares as a keyword-only parameter.
    """
    import shlex

    args = _tool_parser().parse_args(shlex.split(params.get("flags", "")))
    base = _blob(size, device, dtype, args.width) * gain

    def render() -> torch.Tensor:
        return base

    return render


cli_tool.check_flags = _tool_check
