"""Grid files: validate a sweep's TOML and expand it into cells.

A grid is plain data. Its ``[axes]`` table is expanded as a Cartesian product in sorted key
order (the last key varies fastest); every combination is one :class:`Cell`, with a stable id
and a filesystem-safe tag such as ``device=cpu,dtype=float32,size=4096``.

Axes ``device``, ``dtype`` and ``size`` are built in (``size`` becomes ``-detpixels``); any other
axis names a nanoBragg flag without its dash (``N = [5, 10]`` -> ``-N 5``; a boolean axis such
as ``nopolar = [true, false]`` adds or omits the switch).

Every problem is raised as :class:`GridError`, whose message names the file and the key.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEVICES = ("cpu", "cuda")
DTYPES = ("float32", "float64")
REFERENCES = ("builtin", "nanobragg", "none")
BUILTIN_AXES = ("device", "dtype", "size")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FLAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._+=-]+")


class GridError(ValueError):
    """A grid file is malformed: the message names the file and the key at fault."""

    def __init__(self, path: Path | str, key: str, message: str) -> None:
        self.path = Path(path)
        self.key = key
        super().__init__(f"{path}: {key}: {message}")


@dataclass(frozen=True)
class _Key:
    """One accepted top-level key: its Python type(s), default and help text."""

    types: tuple[type, ...]
    default: Any
    help: str


# The accepted top-level keys; README documents each (keep them in step).
KEYS: dict[str, _Key] = {
    "campaign": _Key((str,), None, "bundle folder: reports/<campaign>/<phase>/<STAMP>/"),
    "phase": _Key((str,), None, "bundle sub-folder below the campaign"),
    "description": _Key((str,), "", "free text, copied into summary.md"),
    "target": _Key((str,), "simulator", "simulator | nanobrag_torch | python:pkg.mod:factory"),
    "flags": _Key((str,), "", "nanoBragg flags shared by every cell (no -detpixels)"),
    "reference": _Key((str,), "builtin", "builtin | nanobragg | none"),
    "c_bin": _Key((str,), "", "nanoBragg C binary for reference = 'nanobragg' (else NB_C_BIN)"),
    "reference_timeout_s": _Key((int, float), 0, "give up on one reference after this (0: never)"),
    "iterations": _Key((int,), 3, "timed warm renders per cell (median and spread)"),
    "profile": _Key((bool,), True, "one more warm render under torch.profiler"),
    "collect_tests": _Key((bool,), False, "pytest --collect-only -q into pytest_collect.log"),
    "threads": _Key((int,), 0, "torch intra-op threads per CPU actor (0: the actor's CPUs)"),
    "cuda_threads": _Key((int,), 1, "torch intra-op threads in a CUDA actor"),
    "cpus_per_actor": _Key((int,), 0, "CPUs one CPU actor reserves (0: a whole node)"),
    "cell_timeout_s": _Key((int, float), 0, "fail a cell that runs longer (0: never)"),
    "options": _Key((dict,), {}, "target options passed to the factory, not flags"),
    "axes": _Key((dict,), None, "table of axes; every combination is a cell"),
}


@dataclass(frozen=True)
class Cell:
    """One point of the grid.

    Attributes:
        cell_id: stable 12-hex-digit id (hash of target, flags and every axis value).
        tag: filesystem-safe ``key=value,...`` in sorted key order.
        target: the target spec, as in the grid.
        device: ``cpu`` or ``cuda``.
        dtype: ``float32`` or ``float64``.
        size: detector side in pixels (``-detpixels``).
        axes: every axis value of the cell, built-in ones included.
        flags: the grid's flags with every flag-axis of the cell appended (no ``-detpixels``).
        options: the grid's ``[options]`` (target options such as ``compile``).
    """

    cell_id: str
    tag: str
    target: str
    device: str
    dtype: str
    size: int
    axes: dict[str, Any]
    flags: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def pixels(self) -> int:
        """Pixel count of the square detector."""
        return self.size * self.size

    @property
    def flag_axes(self) -> dict[str, Any]:
        """The axes that are nanoBragg flags (everything but device, dtype, size)."""
        return {k: v for k, v in self.axes.items() if k not in BUILTIN_AXES}

    @property
    def full_flags(self) -> str:
        """Flags including ``-detpixels <size>``: what a reference engine is given."""
        return f"{self.flags} -detpixels {self.size}".strip()

    @property
    def params(self) -> dict[str, Any]:
        """The ``params`` a target factory receives: ``flags``, the flag axes, the options."""
        return {"flags": self.flags, **self.flag_axes, **self.options}

    def params_json(self) -> str:
        """The ``runs.params`` column: JSON text of :attr:`params`."""
        return json.dumps(self.params, sort_keys=True)


@dataclass(frozen=True)
class Grid:
    """A validated grid file.

    Attributes mirror the TOML keys (see :data:`KEYS`); ``axes`` keeps the axis lists in
    sorted key order; ``path`` and ``text`` are the file and its exact content.
    """

    path: Path
    text: str
    campaign: str
    phase: str
    target: str = "simulator"
    flags: str = ""
    reference: str = "builtin"
    c_bin: str = ""
    reference_timeout_s: float = 0.0
    iterations: int = 3
    profile: bool = True
    collect_tests: bool = False
    threads: int = 0
    cuda_threads: int = 1
    cpus_per_actor: int = 0
    cell_timeout_s: float = 0.0
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    axes: dict[str, list[Any]] = field(default_factory=dict)

    def cells(self) -> list[Cell]:
        """Expand the axes into cells (Cartesian product, sorted key order)."""
        return expand(self)

    def bundle_parent(self, reports: Path) -> Path:
        """Folder that holds this grid's stamps: ``reports/<campaign>/<phase>``."""
        return Path(reports) / self.campaign / self.phase


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
        raise GridError(path, unknown[0], f"unknown key (known keys: {known})")

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
    for key in ("iterations", "cuda_threads"):
        if values[key] < 1:
            raise GridError(path, key, f"must be at least 1, got {values[key]}")
    for key in ("threads", "cpus_per_actor", "reference_timeout_s", "cell_timeout_s"):
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
            for v in values:
                if not isinstance(v, (bool, int, float, str)):
                    raise GridError(
                        path, key, f"values are numbers, strings or true/false, got {v!r}"
                    )
            name = flag
        out[name] = list(values)
    return dict(sorted(out.items()))


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


def _flag_words(name: str, value: Any) -> list[str]:
    """The nanoBragg words for one flag-axis value."""
    if isinstance(value, bool):
        return [f"-{name}"] if value else []
    if isinstance(value, str):
        return [f"-{name}", *shlex.split(value)]
    return [f"-{name}", repr(value) if isinstance(value, float) else str(value)]


def _tag_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _UNSAFE_RE.sub("_", str(value)).strip("_") or "_"


def expand(grid: Grid) -> list[Cell]:
    """Expand ``grid.axes`` into cells, in sorted key order (the last key varies fastest)."""
    names = list(grid.axes)
    cells: list[Cell] = []
    for combo in itertools.product(*(grid.axes[n] for n in names)):
        axes = dict(zip(names, combo, strict=True))
        words = shlex.split(grid.flags)
        for name, value in axes.items():
            if name not in BUILTIN_AXES:
                words += _flag_words(name, value)
        flags = shlex.join(words)
        tag = ",".join(f"{n}={_tag_value(v)}" for n, v in axes.items())
        identity = {"target": grid.target, "flags": flags, "axes": axes}
        if grid.options:  # cells of grids without options keep the ids they always had
            identity["options"] = grid.options
        ident = json.dumps(identity, sort_keys=True, default=str)
        cells.append(
            Cell(
                cell_id=hashlib.sha1(ident.encode()).hexdigest()[:12],
                tag=tag,
                target=grid.target,
                device=axes["device"],
                dtype=axes["dtype"],
                size=axes["size"],
                axes=axes,
                flags=flags,
                options=dict(grid.options),
            )
        )
    return cells


def _check_flags(grid: Grid) -> None:
    """Parse every distinct flag string with the simulator's parser, when it is installed.

    Flags only matter to the simulator target and to reference engines; a python: target
    without a reference receives them untouched.
    """
    if grid.target != "simulator" and grid.reference == "none":
        return
    try:
        from simulator import FlagError, parse_flags
    except ImportError:  # the simulator package is not built yet: nothing to check against
        return
    flag_axes = [n for n in grid.axes if n not in BUILTIN_AXES]
    seen: set[str] = set()
    for cell in expand(grid):
        if cell.full_flags in seen:
            continue
        seen.add(cell.full_flags)
        try:
            parse_flags(cell.full_flags)
        except FlagError as exc:
            key = "flags" if not flag_axes else f"flags / axes.{', axes.'.join(flag_axes)}"
            raise GridError(grid.path, key, f"{exc} (cell {cell.tag})") from None
