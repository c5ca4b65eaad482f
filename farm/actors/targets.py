"""Targets: what a sweep profiles.

A target is a factory ``factory(size, device, dtype, params) -> Callable[[], torch.Tensor]``:
the factory call is the cold part (construction), the returned callable renders once (the
warm part) and returns the image. Three kinds of spec name one:

* ``"simulator"``: our engine, ``python:simulator.target:factory``;
* ``"nanobrag_torch"``: the port the seed came from, through
  :func:`farm.actors.nanobrag_torch_adapter.nanobrag_torch_factory`
  (only where the ``nanobrag_torch`` package is importable; cells are skipped otherwise);
* ``"python:package.module:factory"``: any importable factory with that signature.

The loop inventory scans the target's *package* (:attr:`Target.package`). A render that is
also a :class:`ReportingRender` (the simulator's is) says how it ran: compiled or eager and
why, its matmul precision, its block size; each runs row records that.

A factory declares the grid ``[options]`` it takes (:func:`declared_options`): an
``OPTIONS`` mapping (name -> type) on the factory or its module, and keyword-only
parameters of its signature (which also receive the values). It may check a cell's flags
at grid time (a ``check_flags(flags)`` attribute, raising ``ValueError``): the
nanobrag_torch adapter asks the port's own parser. :meth:`Target.provenance` says which
code ran: package, version, source folder, git commit and whether it was dirty.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from farm.actors.nanobrag_torch_adapter import nanobrag_torch_factory
from simulator.target import factory as simulator_factory

Factory = Callable[[int, str, str, dict[str, Any]], Callable[[], Any]]


#: What a reporting render may say, as columns of table ``runs``.
REPORT_COLUMNS = ("compiled", "compile_error", "matmul_precision", "chunk_elements")


@runtime_checkable
class ReportingRender(Protocol):
    """A render that also says how it ran (``simulator.target.SimulatorRender`` is one).

    :meth:`report` returns any of :data:`REPORT_COLUMNS`: ``compiled`` (the compiled kernel
    ran; false after a fallback to eager), ``compile_error`` (why it fell back),
    ``matmul_precision`` (what the render ran under), ``chunk_elements``.
    """

    def __call__(self) -> Any: ...  # noqa: D102

    def report(self) -> Mapping[str, Any]: ...  # noqa: D102


def render_report(render: Any) -> dict[str, Any]:
    """The :data:`REPORT_COLUMNS` a render reports (all None for one that does not)."""
    said = dict(render.report()) if isinstance(render, ReportingRender) else {}
    return {key: said.get(key) for key in REPORT_COLUMNS}


class TargetError(RuntimeError):
    """A target cannot be imported or loaded; the message says which and why."""


@dataclass(frozen=True)
class Target:
    """A resolved target spec.

    Attributes:
        spec: the spec as written in the grid.
        module: module that holds the factory.
        attr: the factory's name in that module.
        package: the package whose source the loop inventory scans.
        optional: when true, an unimportable package skips the cells instead of failing.
        builtin: for the farm's own targets, the factory itself (imported statically, so
            no project module is ever loaded by a string); ``None`` for ``python:`` specs,
            whose module is imported by name when the target is loaded.
    """

    spec: str
    module: str
    attr: str
    package: str
    optional: bool = False
    builtin: Factory | None = None

    def load(self) -> Factory:
        """Import the module and return the factory.

        Raises:
            TargetError: when the module or the attribute is missing.
        """
        reason = self.missing()
        if reason:
            raise TargetError(reason)
        if self.builtin is not None:
            return self.builtin
        try:
            module = importlib.import_module(self.module)
        except Exception as exc:
            raise TargetError(
                f"importing {self.module} failed: {type(exc).__name__}: {exc}"
            ) from exc
        factory = getattr(module, self.attr, None)
        if not callable(factory):
            raise TargetError(f"{self.module} has no callable {self.attr!r}")
        return factory

    def missing(self) -> str | None:
        """Why the target's package cannot be imported here, or ``None`` when it can."""
        for name in dict.fromkeys([self.package, self.module.split(".")[0]]):
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError) as exc:
                return f"package {name!r} cannot be imported: {exc}"
            if spec is None:
                return f"package {name!r} is not importable (not installed, not on sys.path)"
        return None

    def check_flags(self, flags: str) -> None:
        """Refuse flags the target cannot take (its factory's ``check_flags``, if any).

        Raises:
            ValueError: one line saying which flag and why.
        """
        check = getattr(self.load(), "check_flags", None)
        if callable(check):
            check(flags)

    def provenance(self) -> dict[str, Any]:
        """Which code the target is: package, version, folder, git commit, dirty state."""
        folder = self.package_dir()
        out: dict[str, Any] = {
            "target_package": self.package,
            "target_version": _version(self.package),
            "target_dir": str(folder) if folder else None,
            "target_commit": None,
            "target_dirty": None,
        }
        if folder is not None:
            head = _git(folder, "rev-parse", "HEAD")
            if head:
                status = _git(folder, "status", "--porcelain", "--untracked-files=no", ".")
                out["target_commit"] = head
                out["target_dirty"] = bool(status)
        return out

    def package_dir(self) -> Path | None:
        """Directory of :attr:`package` (for the loop inventory), or ``None`` if unknown."""
        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        if spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations))).resolve()
        return Path(spec.origin).resolve().parent if spec.origin else None


def resolve_target(spec: str) -> Target:
    """Resolve a grid's ``target`` string (already checked by :mod:`farm.grid.parse`)."""
    if spec == "simulator":
        return Target(
            spec, simulator_factory.__module__, "factory", "simulator", builtin=simulator_factory
        )
    if spec == "nanobrag_torch":
        adapter = nanobrag_torch_factory
        return Target(
            spec,
            adapter.__module__,
            adapter.__name__,
            "nanobrag_torch",
            optional=True,
            builtin=adapter,
        )
    if spec.startswith("python:"):
        module, attr = spec[len("python:") :].split(":")
        return Target(spec, module, attr, module.split(".")[0])
    raise TargetError(f"unknown target {spec!r}")


def declared_options(factory: Factory) -> dict[str, type]:
    """The grid ``[options]`` a factory takes, name -> type (none declared: none taken).

    From an ``OPTIONS`` mapping on the factory, else on its module, and from the factory's
    keyword-only parameters (type: a plain annotation, else the default's type).
    """
    declared = getattr(factory, "OPTIONS", None)
    if declared is None:
        declared = getattr(sys.modules.get(getattr(factory, "__module__", "")), "OPTIONS", None)
    out = dict(declared or {})
    for name, param in keyword_options(factory).items():
        hint = param.annotation
        if isinstance(hint, str):
            hint = {"bool": bool, "int": int, "float": float, "str": str}.get(hint)
        if hint not in (bool, int, float, str):
            hint = type(param.default) if param.default is not param.empty else str
        out.setdefault(name, hint)
    return out


def keyword_options(factory: Factory) -> dict[str, inspect.Parameter]:
    """The factory's keyword-only parameters (options it receives as keyword arguments)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    return {n: p for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _version(package: str) -> str | None:
    """The version of the installed distribution that provides ``package``."""
    for dist in importlib.metadata.packages_distributions().get(package, [package]):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _git(folder: Path, *args: str) -> str | None:
    """``git -C folder args`` output, stripped; None outside a repository or without git."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
