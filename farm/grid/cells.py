"""Cells: the points of a grid, and the expansion of a grid's axes into them.

The axes are expanded as a Cartesian product in sorted key order (the last key varies
fastest); every combination is one :class:`Cell`, with a stable id and a filesystem-safe tag
such as ``device=cpu,dtype=float32,size=4096``.

Axes ``device``, ``dtype`` and ``size`` are built in (``size`` becomes ``-detpixels``), and so
is ``env`` (tables of environment variables, each updating the grid's ``env`` for its cells);
any other axis names a nanoBragg flag without its dash (``N = [5, 10]`` -> ``-N 5``; a boolean
axis such as ``nopolar = [true, false]`` adds or omits the switch).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

BUILTIN_AXES = ("device", "dtype", "env", "size")

_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._+=-]+")


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
        env: environment variables the actor sets for the cell (the grid's ``env`` updated
            by the cell's ``env`` axis value).
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
    env: dict[str, str] = field(default_factory=dict)

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

    def env_json(self) -> str | None:
        """The ``runs.env`` column: JSON text of :attr:`env`, None when it is empty."""
        return json.dumps(self.env, sort_keys=True) if self.env else None


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
    if isinstance(value, dict):  # an env axis value: NAME=value+NAME2=value2
        text = "+".join(f"{k}={v}" for k, v in sorted(value.items())) or "none"
        return _UNSAFE_RE.sub("_", text)
    return _UNSAFE_RE.sub("_", str(value)).strip("_") or "_"


def expand_axes(
    axes: dict[str, list[Any]],
    *,
    target: str,
    flags: str,
    options: dict[str, Any],
    env: dict[str, str] | None = None,
) -> list[Cell]:
    """Expand validated axes into cells, in sorted key order (the last key varies fastest).

    Args:
        axes: axis name -> values, keys sorted (a :class:`~farm.grid.model.Grid`'s ``axes``).
        target: the grid's target spec.
        flags: the grid's shared flags.
        options: the grid's ``[options]``.
        env: the grid's ``env`` (each cell's ``env`` axis value updates it).
    """
    names = list(axes)
    cells: list[Cell] = []
    for combo in itertools.product(*(axes[n] for n in names)):
        values = dict(zip(names, combo, strict=True))
        words = shlex.split(flags)
        for name, value in values.items():
            if name not in BUILTIN_AXES:
                words += _flag_words(name, value)
        cell_flags = shlex.join(words)
        tag = ",".join(f"{n}={_tag_value(v)}" for n, v in values.items())
        identity = {"target": target, "flags": cell_flags, "axes": values}
        if options:  # cells of grids without options keep the ids they always had
            identity["options"] = options
        if env:  # likewise for the environment
            identity["env"] = env
        ident = json.dumps(identity, sort_keys=True, default=str)
        cells.append(
            Cell(
                cell_id=hashlib.sha1(ident.encode()).hexdigest()[:12],
                tag=tag,
                target=target,
                device=values["device"],
                dtype=values["dtype"],
                size=values["size"],
                axes=values,
                flags=cell_flags,
                options=dict(options),
                env={**(env or {}), **values.get("env", {})},
            )
        )
    return cells
