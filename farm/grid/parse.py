"""Reading a grid file: TOML syntax, every key's type and range, axes, options and flags.

:func:`load_grid` and :func:`parse_grid` return a validated :class:`~farm.grid.model.Grid`
or raise :class:`~farm.grid.model.GridError`, whose message names the file and the key.
"""

from __future__ import annotations

import difflib
import re
import shlex
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from farm.grid.cells import BUILTIN_AXES, Cell
from farm.grid.model import (
    COLD_MODES,
    DEVICES,
    DTYPES,
    ISOLATIONS,
    KEYS,
    REFERENCES,
    Grid,
    GridError,
)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FLAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def load_grid(path: Path | str) -> Grid:
    """Read and validate a grid file.

    Args:
        path: the TOML file.

    Returns:
        The validated :class:`Grid`.

    Raises:
        GridError: on any problem, naming the file and the key.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GridError(path, "(file)", f"cannot read: {exc.strerror or exc}") from None
    return parse_grid(text, path)


def parse_grid(text: str, path: Path | str = "<grid>") -> Grid:
    """Validate grid TOML text (see :func:`load_grid`)."""
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GridError(path, "(syntax)", f"not valid TOML: {exc}") from None

    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        known = ", ".join(sorted(KEYS))
        hint = did_you_mean(unknown[0], KEYS)
        raise GridError(path, unknown[0], f"unknown key{hint} (known keys: {known})")

    values: dict[str, Any] = {}
    for key, spec in KEYS.items():
        if key in ("axes", "options"):
            continue
        if key not in data:
            if spec.default is None:
                raise GridError(path, key, "required key is missing")
            values[key] = spec.default
            continue
        values[key] = _check_type(path, key, data[key], spec.types)

    for key in ("campaign", "phase"):
        if not _NAME_RE.match(values[key]):
            raise GridError(
                path, key, f"{values[key]!r} must be a folder name (letters, digits, . _ -)"
            )
    if values["reference"] not in REFERENCES:
        raise GridError(
            path, "reference", f"{values['reference']!r} is not one of {', '.join(REFERENCES)}"
        )
    if values["isolation"] not in ISOLATIONS:
        raise GridError(
            path, "isolation", f"{values['isolation']!r} is not one of {', '.join(ISOLATIONS)}"
        )
    if values["cold"] not in COLD_MODES:
        raise GridError(path, "cold", f"{values['cold']!r} is not one of {', '.join(COLD_MODES)}")
    values["env"] = _check_env(path, "env", values["env"])
    for key in ("iterations", "cuda_threads", "profile_renders"):
        if values[key] < 1:
            raise GridError(path, key, f"must be at least 1, got {values[key]}")
    for key in ("threads", "cpus_per_actor", "reference_timeout_s", "cell_timeout_s", "warmups"):
        if values[key] < 0:
            raise GridError(path, key, f"must be 0 or more, got {values[key]}")
    values["reference_timeout_s"] = float(values["reference_timeout_s"])
    values["cell_timeout_s"] = float(values["cell_timeout_s"])
    _check_target(path, values["target"])
    try:
        flag_words = shlex.split(values["flags"])
    except ValueError as exc:
        raise GridError(path, "flags", f"cannot split: {exc}") from None
    if "-detpixels" in flag_words:
        raise GridError(path, "flags", "leave out -detpixels: the size axis sets it")

    axes = _check_axes(path, data.get("axes"))
    options = _check_options(path, data.get("options", {}), axes, values["target"])
    grid = Grid(path=path, text=text, axes=axes, options=options, **values)
    _check_flags(grid)
    return grid


def _check_type(path: Path, key: str, value: Any, types: tuple[type, ...]) -> Any:
    """Return ``value`` when it has one of ``types`` (bool is never an int here)."""
    is_bool = isinstance(value, bool)
    ok = isinstance(value, types) and (bool in types or not is_bool)
    if not ok:
        want = " or ".join(_type_name(t) for t in types)
        raise GridError(path, key, f"expected {want}, got {_type_name(type(value))} {value!r}")
    return value


def _type_name(t: type) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true/false",
        dict: "a table",
        list: "a list",
    }.get(t, t.__name__)


def _check_target(path: Path, target: str) -> None:
    if target in ("simulator", "nanobrag_torch"):
        return
    if target.startswith("python:"):
        parts = target[len("python:") :].split(":")
        if (
            len(parts) == 2
            and all(p.isidentifier() for p in parts[0].split("."))
            and parts[1].isidentifier()
        ):
            return
    raise GridError(
        path,
        "target",
        f"{target!r} is not 'simulator', 'nanobrag_torch' or 'python:package.module:factory'",
    )


def _check_axes(path: Path, axes: Any) -> dict[str, list[Any]]:
    """Validate the ``[axes]`` table; return it with sorted keys."""
    if axes is None:
        raise GridError(path, "axes", "required table is missing (at least axes.size)")
    if not isinstance(axes, dict):
        raise GridError(path, "axes", f"expected a table, got {_type_name(type(axes))}")
    out: dict[str, list[Any]] = {}
    axes = {"device": ["cpu"], "dtype": ["float32"], **axes}
    if "size" not in axes:
        raise GridError(path, "axes.size", "required axis is missing")
    for name in sorted(axes):
        key = f"axes.{name}"
        values = axes[name]
        if not isinstance(values, list):
            values = [values]
        if not values:
            raise GridError(path, key, "axis is empty: give at least one value")
        if len(set(map(repr, values))) != len(values):
            raise GridError(path, key, f"axis repeats a value: {values!r}")
        if name == "device":
            for v in values:
                if v not in DEVICES:
                    raise GridError(path, key, f"unknown device {v!r} (known: cpu, cuda)")
        elif name == "dtype":
            for v in values:
                if v not in DTYPES:
                    raise GridError(path, key, f"unknown dtype {v!r} (known: float32, float64)")
        elif name == "size":
            for v in values:
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise GridError(path, key, f"sizes are positive integers, got {v!r}")
        elif name == "env":
            values = [_check_env(path, key, v) for v in values]
        else:
            flag = name.removeprefix("-")
            if not _FLAG_RE.match(flag) or flag == "detpixels":
                raise GridError(path, key, "not a nanoBragg flag name (the size axis sets pixels)")
            hint = did_you_mean(flag, BUILTIN_AXES)
            if hint and not _known_flag(flag):
                raise GridError(
                    path,
                    key,
                    f"unknown axis{hint} (built-in axes: {', '.join(BUILTIN_AXES)}; any "
                    "other axis is a nanoBragg flag without its dash)",
                )
            for v in values:
                if not isinstance(v, (bool, int, float, str)):
                    raise GridError(
                        path, key, f"values are numbers, strings or true/false, got {v!r}"
                    )
            name = flag
        out[name] = list(values)
    return dict(sorted(out.items()))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'dtype'?"`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def _known_flag(name: str) -> bool:
    """Whether ``-name`` is a nanoBragg flag the simulator reads."""
    from simulator.flags import lookup  # here: importing the simulator loads torch

    return lookup(f"-{name}") is not None


def flag_key(grid: Grid) -> str:
    """The keys a cell's flags come from: ``flags``, and every flag axis."""
    flag_axes = [n for n in grid.axes if n not in BUILTIN_AXES]
    return "flags" if not flag_axes else f"flags / axes.{', axes.'.join(flag_axes)}"


def _check_env(path: Path, key: str, env: Any) -> dict[str, str]:
    """An environment table: variable names to string values."""
    if not isinstance(env, dict):
        raise GridError(path, key, f'expected a table of NAME = "value", got {env!r}')
    for name, value in env.items():
        if not _ENV_RE.match(name):
            raise GridError(path, f"{key}.{name}", "not an environment variable name")
        if not isinstance(value, str):
            raise GridError(path, f"{key}.{name}", f"values are strings, got {value!r}")
    return dict(sorted(env.items()))


def _check_options(
    path: Path, options: Any, axes: dict[str, list[Any]], target: str
) -> dict[str, Any]:
    """Validate ``[options]`` against the options the target's factory declares.

    Names and types come from the factory (:func:`farm.actors.targets.declared_options`):
    a misspelt or unknown option is an error rather than silently ignored. A ``python:``
    target that cannot be imported here is left to the sweep, which refuses it.
    """
    if not isinstance(options, dict):
        raise GridError(path, "options", f"expected a table, got {_type_name(type(options))}")
    declared = _declared(target)
    for name, value in options.items():
        key = f"options.{name}"
        if name in axes or name == "flags":
            raise GridError(path, key, "an option cannot share its name with an axis or 'flags'")
        if not isinstance(value, (bool, int, float, str)):
            raise GridError(path, key, f"options are numbers, strings or true/false, got {value!r}")
        if declared is None:
            continue
        if name not in declared:
            known = ", ".join(declared) or "none: it takes no options"
            hint = did_you_mean(name, declared)
            raise GridError(path, key, f"unknown option of target {target}{hint} (known: {known})")
        want = declared[name]
        if not isinstance(value, want) or (want in (int, float) and isinstance(value, bool)):
            raise GridError(path, key, f"expected {_type_name(want)}, got {value!r}")
    return dict(sorted(options.items()))


def _declared(target: str) -> dict[str, type] | None:
    """The options the target's factory declares; None when it cannot be loaded here."""
    from farm.actors.targets import TargetError, declared_options, resolve_target  # no cycle

    try:
        factory = resolve_target(target).load()
    except TargetError:
        return None
    return declared_options(factory)


def cells_by_flag_set(grid: Grid) -> list[Cell]:
    """One cell per distinct flag set, where flags reach the simulator or a reference engine.

    A ``python:`` target without a reference receives its flags untouched: none then.
    """
    if grid.target != "simulator" and grid.reference == "none":
        return []
    first: dict[str, Cell] = {}
    for cell in grid.cells():
        first.setdefault(cell.full_flags, cell)
    return list(first.values())


def _check_flags(grid: Grid) -> None:
    """Check every distinct flag string: the target's own check, then the simulator's parser.

    A target may check its flags (:meth:`farm.actors.targets.Target.check_flags`: the
    nanobrag_torch adapter asks the port's own parser); flags also matter to the simulator
    target and to reference engines (:func:`cells_by_flag_set`).
    """
    from farm.actors.targets import resolve_target  # here: farm.actors imports farm.grid

    target = resolve_target(grid.target)
    if not target.missing():
        for flags, tag in {c.flags: c.tag for c in grid.cells()}.items():
            try:
                target.check_flags(flags)
            except ValueError as exc:
                raise GridError(grid.path, flag_key(grid), f"{exc} (cell {tag})") from None
    cells = cells_by_flag_set(grid)
    if not cells:
        return
    try:
        from simulator import FlagError, parse_flags
    except ImportError:  # the simulator package is not built yet: nothing to check against
        return
    for cell in cells:
        try:
            parse_flags(cell.full_flags)
        except FlagError as exc:
            raise GridError(grid.path, flag_key(grid), f"{exc} (cell {cell.tag})") from None
