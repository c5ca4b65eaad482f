"""Reading nanoBragg flags into a :class:`SimulationConfig`, left to right, as the C program does.

A later flag wins; each flag's values are taken by its :class:`FlagSpec` in
:mod:`simulator.flags.table`, and the sections are validated by the config dataclasses (a
:class:`ConfigError` becomes a one-line :class:`FlagError` naming the flag).
"""

from __future__ import annotations

import shlex
import shutil
import textwrap
from collections.abc import Sequence

from simulator.config import (
    BeamConfig,
    ConfigError,
    CrystalConfig,
    DetectorConfig,
    OutputConfig,
    SamplingConfig,
    SimulationConfig,
)
from simulator.flags.cross_matches import apply_cross_matches
from simulator.flags.noop import NOOP_SPECS
from simulator.flags.table import SPECS, FlagError, FlagSpec, State
from simulator.smv_settings import SMVHeaderError, img_settings, mask_settings

#: Every flag: those that set something, then those that change nothing in the image.
ALL_SPECS: tuple[FlagSpec, ...] = (*SPECS, *NOOP_SPECS)


def lookup(flag: str) -> FlagSpec | None:
    """The table's entry for the spelling ``flag``, or ``None`` when no flag is spelt so."""
    for spec in ALL_SPECS:
        for name in spec.names:
            if name.endswith("*"):
                if flag.startswith(name[:-1]):
                    return spec
            elif flag == name:
                return spec
    return None


def known_flags() -> list[str]:
    """Every accepted spelling (``*`` marks a prefix family)."""
    return [name for spec in ALL_SPECS for name in spec.names]


def split_flags(flags: str | Sequence[str]) -> list[str]:
    """Split a flag string the way a shell would; sequences pass through."""
    if isinstance(flags, str):
        return shlex.split(flags)
    return [str(f) for f in flags]


def _is_value(token: str) -> bool:
    """A token that belongs to the flag before it: not a flag (a number may be negative)."""
    if not token.startswith("-") or len(token) < 2:
        return True
    try:
        float(token)
    except ValueError:
        return False
    return True


def _take_values(spec: FlagSpec, flag: str, tokens: list[str], i: int) -> list[str]:
    """The values following ``tokens[i]``: every token up to the next flag, in the flag's arity.

    Raises:
        FlagError: More or fewer values than the flag takes (one line: expected, got).
    """
    values = []
    for token in tokens[i + 1 :]:
        if not _is_value(token):
            break
        values.append(token)
    counts = spec.counts
    if len(values) in counts:
        return values
    expected = " or ".join(str(n) for n in counts)
    if not values:
        what = f": {spec.help}" if spec.help else ""
        raise FlagError(f"{flag}: missing value ({expected} expected{what})")
    if counts == (0,):
        raise FlagError(f"{flag}: takes no value, got {values[0]!r}")
    noun = "value" if counts == (1,) else "values"
    hint = f" ({spec.help})" if spec.help else ""
    shown = " ".join(values[:8]) + (" ..." if len(values) > 8 else "")
    raise FlagError(f"{flag}: expected {expected} {noun}{hint}, got {len(values)}: {shown}")


def _last_value(tokens: list[str], flag: str) -> str | None:
    """The value after the last ``flag`` on the command line, if any."""
    path = None
    for i, token in enumerate(tokens[:-1]):
        if token == flag:
            path = tokens[i + 1]
    return path


def _read_image_headers(tokens: list[str], state: State) -> None:
    """Seed ``state`` from the last ``-mask`` and then the last ``-img`` header (as nanoBragg).

    Every flag then overrides what the headers gave, wherever it stands on the command line
    (see :mod:`simulator.smv_settings` for the keys). A mask that cannot be read seeds
    nothing here: reading its pixels names the problem when the setup is resolved.
    """
    mask = _last_value(tokens, "-mask")
    if mask is not None:
        try:
            settings = mask_settings(mask)
        except SMVHeaderError:
            settings = {}
        for section, values in settings.items():
            state[section].update(values)
    img = _last_value(tokens, "-img")
    if img is None:
        return
    try:
        settings = img_settings(img)
    except SMVHeaderError as exc:
        raise FlagError(f"-img {exc}") from None
    for section, values in settings.items():
        state[section].update(values)


def parse_flags(flags: str | Sequence[str]) -> SimulationConfig:
    """Parse nanoBragg flags into a validated :class:`SimulationConfig`.

    Raises:
        FlagError: unknown or unsupported flag, missing or malformed value, or a value the
            configuration rejects; the message is one line naming the flag.
    """
    tokens = split_flags(flags)
    state: State = {"crystal": {}, "beam": {}, "detector": {}, "sampling": {}, "output": {}}
    _read_image_headers(tokens, state)
    i = 0
    while i < len(tokens):
        flag = tokens[i]
        if not flag.startswith("-") or len(flag) < 2:
            raise FlagError(f"unexpected argument {flag!r}: every value must follow its flag")
        spec = lookup(flag)
        if spec is None:
            raise FlagError(f"unknown flag {flag!r} (see `python -m simulator -help`)")
        values = _take_values(spec, flag, tokens, i)
        spec.apply(state, flag, values)
        apply_cross_matches(state, tokens, i)
        i += 1 + len(values)
    try:
        return SimulationConfig(
            crystal=CrystalConfig(**state["crystal"]),
            beam=BeamConfig(**state["beam"]),
            detector=DetectorConfig(**state["detector"]),
            sampling=SamplingConfig(**state["sampling"]),
            output=OutputConfig(**state["output"]),
            flags=tuple(tokens),
        )
    except ConfigError as exc:
        raise FlagError(str(exc)) from None


def with_flags(cfg: SimulationConfig, extra: list[str] | tuple[str, ...] | str) -> SimulationConfig:
    """Re-parse ``cfg``'s flags with ``extra`` appended (later flags win)."""
    return parse_flags([*cfg.flags, *split_flags(extra)])


#: Where a flag's description starts: two spaces, then the flag padded to this width.
HELP_COLUMN = 18


def help_entry(names: Sequence[str], text: str, width: int) -> list[str]:
    """The ``-help`` lines of one flag: its name and description, then its other spellings.

    The description starts in column :data:`HELP_COLUMN` (on the next line when the name is
    longer) and wraps there; the synonyms follow on a wrapped line of their own (``also:``).
    """
    indent = " " * (2 + HELP_COLUMN + 1)
    room = max(width - len(indent), 20)
    wrap = {"break_on_hyphens": False, "break_long_words": False}
    body = textwrap.wrap(text, room, **wrap) or [""]
    if len(names[0]) <= HELP_COLUMN:
        lines = [f"  {names[0]:<{HELP_COLUMN}} {body[0]}".rstrip()]
        body = body[1:]
    else:
        lines = [f"  {names[0]}"]
    lines += [indent + line for line in body]
    if len(names) > 1:
        also = textwrap.wrap("also: " + ", ".join(names[1:]), room, **wrap)
        lines += [indent + line for line in also]
    return lines


def usage(width: int | None = None) -> str:
    """The flags for ``-help``, fitted to ``width`` (default: the terminal's, else 80).

    One entry per flag family; the flags that change nothing in the image come last.
    """
    if width is None:
        width = shutil.get_terminal_size((80, 24)).columns
    width = max(width, 40)
    lines = ["usage: python -m simulator [flags]  (nanoBragg spelling)", ""]
    for spec in SPECS:
        if spec.help:
            lines += help_entry(spec.names, spec.help, width)
    lines.append("")
    lines += textwrap.wrap(
        "flags that change nothing in the image (accepted; the port says so when given):", width
    )
    for spec in NOOP_SPECS:
        lines += help_entry(spec.names, spec.help, width)
    return "\n".join(lines)
