"""summary.md's "Commands": the commands of commands.txt, one line each, with their exit codes.

commands.txt keeps every command with its exit code and output (append-only); this is its
index: ``$ command`` → ``exit N (note)``, output left out. The sweep's own command has its
exit code at the end of commands.txt, after summary.md is written; so do commands that run
after summary.md (``later``).
"""

from __future__ import annotations

import re
from pathlib import Path

#: The sweep's own command (``farm sweep``, ``python3 -m farm nightly``, ...).
_SWEEP = re.compile(r"(^|[\s/])farm (sweep|nightly)\b")


def command_list(commands_txt: Path, later: list[str] | None = None) -> list[str]:
    """``$ cmd`` → ``exit N (note)`` per command of ``commands_txt`` (a missing file: none)."""
    try:
        lines = commands_txt.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    out = []
    for i, line in enumerate(lines):
        if not line.startswith("$ "):
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if nxt.startswith("-> "):
            result = nxt.removeprefix("-> ")
        elif _SWEEP.search(line.removeprefix("$ ")):
            result = "this sweep: its exit code is the last line of commands.txt"
        else:
            result = "no exit code recorded"
        out.append(f"`{line}` → {result}")
    out += [
        f"`$ {cmd}` → runs after this summary; its exit code follows in commands.txt"
        for cmd in later or []
    ]
    return out


def commands_section(commands_txt: Path, later: list[str] | None = None) -> list[str]:
    """The section: heading, a line on where the full record is, the list."""
    items = command_list(commands_txt, later)
    body = "\n".join(f"- {item}" for item in items) if items else "None recorded."
    return [
        "## Commands\n",
        "Every command this bundle ran, in order (output and details: `commands.txt`).\n",
        body + "\n",
    ]
