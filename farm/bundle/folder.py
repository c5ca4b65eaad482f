"""The bundle folder of one sweep, ``reports/<campaign>/<phase>/<STAMP>/``, and its stamps.

The stamp folder is created with one ``mkdir`` (atomic: two sweeps never share a stamp; a
taken stamp waits for the next second). Files that are rewritten (env.json, the reports) are
written under a temporary name and renamed, so the folder is a valid, possibly partial, bundle
at every moment. ``commands.txt`` is append-only.

Layout (see design.md): commands.txt, env.json, grid.toml (the grid it ran), pytest_collect.log,
torch_env.txt, benchmark_results.json (its copy in profile/, as the seed task keeps it),
correlation.txt, summary.md, cells/<cell_id>.json (one benchmark record per finished cell,
the source of benchmark_results.json), profile/run.log (the console), profile/<tag>/trace.json.gz,
tables/<table>/part-<cell_id>.parquet, and notes/ (the Phase B2 reader's hand notes; the
sweep writes only its README.md). profile/ and notes/ exist from the moment the folder does.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis.tables.parts import (
    as_write_error,
    cells_with_part,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from farm.grid import Cell, Grid, GridError

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
#: notes/README.md: what the folder is for (written once; the sweep never touches notes/ again).
NOTES_README = """# notes/

Hand notes of the Phase B2 reader: what you saw in this bundle's traces, tables and
report.html, the hypotheses you checked and what came of them, links to follow-up work.

The sweep created this folder with the bundle and writes nothing here after this file;
`farm sweep --resume` leaves it alone, so your notes stay with the evidence they are about.
summary.md's "Follow-up hypotheses" lists what the measurements themselves suggest.
"""
_STAMP_RE = re.compile(r"^\d{8}T\d{6}Z$")


def utc_stamp(now: datetime | None = None) -> str:
    """UTC ``YYYYMMDDTHHMMSSZ``."""
    return (now or datetime.now(UTC)).strftime(STAMP_FORMAT)


@dataclass(frozen=True)
class Bundle:
    """One stamp folder.

    Attributes:
        path: the folder.
        stamp: its stamp.
    """

    path: Path
    stamp: str

    # files ----------------------------------------------------------------------------------

    def file(self, name: str) -> Path:
        """Path of a file in the bundle."""
        return self.path / name

    def cell_record_path(self, cell_id: str) -> Path:
        """``cells/<cell_id>.json``."""
        return self.path / "cells" / f"{cell_id}.json"

    def write_cell_record(self, cell_id: str, record: dict[str, Any]) -> Path:
        """Store the benchmark record of a finished cell."""
        return write_json_atomic(self.cell_record_path(cell_id), record)

    def cell_records(self, cells: list[Cell]) -> list[dict[str, Any]]:
        """Records of the cells that have one, in grid order."""
        out = []
        for cell in cells:
            path = self.cell_record_path(cell.cell_id)
            if path.exists():
                out.append(json.loads(path.read_text(encoding="utf-8")))
        return out

    def make_folders(self) -> None:
        """``profile/`` and ``notes/`` (with its README.md, unless there is one already)."""
        (self.path / "profile").mkdir(exist_ok=True)
        (self.path / "notes").mkdir(exist_ok=True)
        readme = self.path / "notes" / "README.md"
        if not readme.exists():
            write_text_atomic(readme, NOTES_README)

    def done_cells(self) -> set[str]:
        """Cells that have rows (a ``runs`` part): what ``--resume`` leaves alone."""
        return cells_with_part(self.path, "runs")

    def write_trace_files(self, tag: str, files: dict[str, bytes]) -> list[Path]:
        """Write the profiled run's files into ``profile/<tag>/``."""
        folder = self.path / "profile" / tag
        written = []
        for name, data in files.items():
            target = (folder / name).resolve()
            if folder.resolve() not in target.parents:
                continue  # a name that would leave the folder
            written.append(write_bytes_atomic(target, data))
        return written

    # commands.txt ---------------------------------------------------------------------------

    def log(self, text: str) -> None:
        """Append lines to ``commands.txt`` and flush them to disk."""
        path = self.file("commands.txt")
        try:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(text if text.endswith("\n") else text + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise as_write_error(exc, path) from exc

    def log_command(
        self, argv: list[str] | str, rc: int | None, output: str | None = None, note: str = ""
    ) -> None:
        """Record one command, its exit code and (optionally) its output."""
        cmd = argv if isinstance(argv, str) else shlex.join(argv)
        lines = [
            f"$ {cmd}",
            f"-> exit {rc if rc is not None else '?'}{f' ({note})' if note else ''}",
        ]
        if output:
            lines += ["    " + line for line in output.rstrip().splitlines()]
        self.log("\n".join(lines))


def resume_command(argv: list[str], stamp: str) -> str:
    """The command that completes bundle ``stamp``: ``argv`` with ``--resume stamp``.

    Every other option (``--reports``, ``--address``, ``--c-bin``) is kept, so the line can
    be copied as it is.
    """
    words = list(argv)
    if "--resume" in words:
        i = words.index("--resume")
        del words[i : i + 2]
    words = [w for w in words if not w.startswith("--resume=")]
    return shlex.join([*words, "--resume", stamp])


def create_bundle(parent: Path, attempts: int = 5) -> Bundle:
    """Create a new stamp folder below ``parent`` atomically, with its subfolders; return it.

    Raises:
        FileExistsError: when no free stamp was found after ``attempts`` seconds.
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for _ in range(attempts):
        stamp = utc_stamp()
        try:
            (parent / stamp).mkdir()
        except FileExistsError:
            time.sleep(1.0 - (time.time() % 1.0) + 0.01)
            continue
        bundle = Bundle(parent / stamp, stamp)
        bundle.make_folders()
        return bundle
    raise FileExistsError(f"no free stamp below {parent} after {attempts} tries")


def open_bundle(grid: Grid, reports: Path, stamp: str) -> Bundle:
    """Open an existing bundle of ``grid`` for ``--resume``.

    Raises:
        GridError: when the stamp is malformed, missing, or was started with another grid.
    """
    if not _STAMP_RE.match(stamp):
        raise GridError(grid.path, "--resume", f"{stamp!r} is not a stamp (YYYYMMDDTHHMMSSZ)")
    path = grid.bundle_parent(reports) / stamp
    if not path.is_dir():
        raise GridError(grid.path, "--resume", f"no bundle {path}")
    saved = path / "grid.toml"
    if saved.exists():
        before = tomllib.loads(saved.read_text(encoding="utf-8"))
        if before != tomllib.loads(grid.text):
            raise GridError(
                grid.path,
                "--resume",
                f"the grid differs from the one bundle {stamp} was started with ({saved}); "
                "resume with that grid",
            )
    return Bundle(path, stamp)
