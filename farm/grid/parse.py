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
from farm.grid.model import DEVICES, DTYPES, ISOLATIONS, KEYS, REFERENCES, Grid, GridError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FLAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


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
    for key in ("iterations", "cuda_threads"):
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


def _check_options(
    path: Path, options: Any, axes: dict[str, list[Any]], target: str
) -> dict[str, Any]:
    """Validate ``[options]``: scalar target options, none named like an axis or ``flags``.

    For the simulator target the names and types are known (``simulator.target.OPTIONS``),
    so a misspelt option is an error rather than silently ignored.
    """
    if not isinstance(options, dict):
        raise GridError(path, "options", f"expected a table, got {_type_name(type(options))}")
    for name, value in options.items():
        key = f"options.{name}"
        if name in axes or name == "flags":
            raise GridError(path, key, "an option cannot share its name with an axis or 'flags'")
        if not isinstance(value, (bool, int, float, str)):
            raise GridError(path, key, f"options are numbers, strings or true/false, got {value!r}")
        if target == "simulator":
            from simulator.target import OPTIONS

            if name not in OPTIONS:
                raise GridError(
                    path, key, f"unknown simulator option (known: {', '.join(OPTIONS)})"
                )
            want = OPTIONS[name]
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise GridError(path, key, f"expected {_type_name(want)}, got {value!r}")
    return dict(sorted(options.items()))


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
    """Parse every distinct flag string with the simulator's parser, when it is installed."""
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
