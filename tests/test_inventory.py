"""Loop inventory (Phase A): every loop of a package, from its AST."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.loops import InventoryError, loops_table, resolve_package, scan_package
from analysis.tables import LOOPS

PACKAGE = Path(__file__).resolve().parent / "synthetic_loops"

SOURCE = """\
import torch


class Engine:
    def render(self, x, n_phi):
        out = []
        for phi in range(n_phi):
            for k in range(x.shape[0]):
                out.append(x[k] * phi)
        while len(out) > 3:
            out.pop()
        return [o.sum() for o in out if o is not None]


def read(path):
    with open(path) as fh:
        return {k: v for k, v in (line.split() for line in fh)}


TABLE = [i * i for i in range(10)]
"""


def _write(tmp_path: Path, text: str = SOURCE) -> Path:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "engine.py").write_text(text)
    return pkg


def test_every_loop_with_its_context(tmp_path):
    loops = scan_package(_write(tmp_path))
    got = [(lp.line, lp.end_line, lp.kind, lp.function, lp.depth) for lp in loops]
    assert got == [
        (7, 9, "for", "Engine.render", 0),
        (8, 9, "for", "Engine.render", 1),
        (10, 11, "while", "Engine.render", 0),
        (12, 12, "comprehension", "Engine.render", 0),
        (17, 17, "comprehension", "read", 0),
        (17, 17, "comprehension", "read", 1),
        (20, 20, "comprehension", "<module>", 0),
    ]
    first, inner = loops[0], loops[1]
    assert first.module == "pkg/engine.py" and first.package == "pkg"
    assert first.header == "for phi in range(n_phi):"
    assert first.iteration_hint == "range over n_phi"
    assert inner.iteration_hint == "tensor dimension: x.shape[0]"
    assert loops[2].header == "while len(out) > 3:"
    assert loops[3].header == "for o in out if o is not None"
    assert loops[4].iteration_hint.startswith("items of")


def test_loop_ids_survive_edits_elsewhere(tmp_path):
    before = {lp.header: lp.loop_id for lp in scan_package(_write(tmp_path))}
    shifted = tmp_path / "shifted"
    shifted.mkdir()
    after = {
        lp.header: lp.loop_id for lp in scan_package(_write(shifted, "# a comment\n\n" + SOURCE))
    }
    assert before == after
    assert len(set(before.values())) == len(before)


def test_table_has_the_schema(tmp_path):
    loops = scan_package(_write(tmp_path))
    table = loops_table(loops, stamp="20260101T000000Z")
    assert table.schema == LOOPS
    assert set(table["cell_id"].to_pylist()) == {"inventory:pkg"}
    assert table.num_rows == len(loops)


def test_synthetic_target_inventory():
    loops = scan_package(PACKAGE)
    kinds = [lp.kind for lp in loops if lp.module == "synthetic_loops/target.py"]
    assert kinds.count("comprehension") == 3  # loop_c, side and the DEFAULTS dict comprehension
    assert kinds.count("while") == 1


def test_resolve_package_by_name_and_errors(tmp_path):
    assert resolve_package("analysis").name == "analysis"
    assert resolve_package(PACKAGE) == PACKAGE
    with pytest.raises(InventoryError, match="not found"):
        resolve_package("no_such_package_xyz")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "m.py").write_text("for x in :\n  pass\n")
    with pytest.raises(InventoryError, match=r"bad/m\.py:1: cannot parse"):
        scan_package(bad)
