"""Third-party targets are first-class: declared options, their own flag checks, provenance.

``python:farm_targets:cli_tool`` stands for any package with its own command line: the farm
asks its parser at grid check and validates options from what its factory declares. The
nanobrag_torch adapter is checked against the real port where it is installed.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from test_grid import grid_text, write
from typer.testing import CliRunner

from farm.actors.targets import declared_options, resolve_target
from farm.cli import app
from farm.grid import GridError, load_grid, parse_grid

HAS_NBT = importlib.util.find_spec("nanobrag_torch") is not None
NBT_FLAGS = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"
TOOL = '"python:farm_targets:cli_tool"'


def _refused(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(GridError) as info:
        load_grid(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message[len(f"{path}: ") :]


def test_a_factory_declares_its_options():
    import farm_targets

    assert declared_options(farm_targets.cli_tool) == {"gain": float}
    assert declared_options(farm_targets.compiled_probe) == {"at_import": bool}
    assert declared_options(farm_targets.gaussian) == {}
    assert declared_options(resolve_target("simulator").load()) == {
        "compile": bool,
        "chunk_elements": int,
    }


def test_declared_options_reach_the_factory_and_unknown_ones_are_refused(tmp_path):
    grid = parse_grid(grid_text(extra="[options]\ngain = 2.5", target=TOOL))
    assert grid.cells()[0].options == {"gain": 2.5}
    assert _refused(tmp_path, grid_text(extra="[options]\ngian = 2.5", target=TOOL)) == (
        "options.gian: unknown option of target python:farm_targets:cli_tool; did you mean "
        "'gain'? (known: gain)"
    )
    assert "expected a number" in _refused(
        tmp_path, grid_text(extra='[options]\ngain = "big"', target=TOOL)
    )


def test_flags_the_targets_own_parser_refuses_are_refused_at_grid_check(tmp_path):
    parse_grid(grid_text(extra='flags = "-width 4"', target=TOOL))
    message = _refused(tmp_path, grid_text(extra='flags = "-width 4 -bogus 1"', target=TOOL))
    assert message == (
        "flags: tool: error: unrecognized arguments: -bogus 1 "
        "(cell device=cpu,dtype=float32,size=8)"
    )
    axis = _refused(tmp_path, grid_text(target=TOOL, axes='size = [8]\nwidth = ["wide"]'))
    assert axis.startswith("flags / axes.width: tool: error: argument -width: invalid float")


def test_cli_refuses_an_unknown_option_with_exit_2(tmp_path):
    path = write(tmp_path, grid_text(extra="[options]\ncomplie = true"))
    result = CliRunner().invoke(app, ["sweep", "--grid", str(path), "--reports", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        f"error: {path}: options.complie: unknown option of target "
        "python:farm_targets:gaussian (known: none: it takes no options)"
    )


def test_target_provenance_names_the_code_that_ran():
    sim = resolve_target("simulator").provenance()
    assert sim["target_package"] == "simulator"
    assert Path(sim["target_dir"]) == Path(__file__).resolve().parents[1] / "simulator"
    if sim["target_commit"] is not None:  # a git checkout (CI clones one)
        assert re.fullmatch(r"[0-9a-f]{40}", sim["target_commit"])
        assert isinstance(sim["target_dirty"], bool)
    outside = resolve_target("python:farm_targets:gaussian").provenance()
    assert outside["target_package"] == "farm_targets" and outside["target_version"] is None


# the real port, where it is installed ---------------------------------------------------------

needs_nbt = pytest.mark.skipif(not HAS_NBT, reason="nanobrag_torch not installed")
NBT = '"nanobrag_torch"'


@needs_nbt
def test_nanobrag_torch_takes_every_flag_its_parser_accepts(tmp_path, monkeypatch):
    monkeypatch.setenv("NANOBRAG_DISABLE_COMPILE", "1")  # eager: this test is about flags
    # -misset failed at run time with the old hand-kept map of 11 flags
    flags = f"{NBT_FLAGS} -misset 10 20 30 -xds -round_xtal -mosaic 0.2 -mosaic_dom 2"
    parse_grid(grid_text(extra=f'flags = "{flags}"', target=NBT))
    render = resolve_target("nanobrag_torch").load()(24, "cpu", "float64", {"flags": flags})
    image = render()
    assert tuple(image.shape) == (24, 24) and float(image.sum()) > 0


@needs_nbt
@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        ("-bogus 1", "nanobrag_torch refuses the flags: nanoBragg: error: unrecognized arguments"),
        ("-dispstep 3", "-dispstep is not supported in this version. Use -dispsteps"),
        ("-detpixels_f 64", "-detpixels_f is set by the farm"),
        ("-dtype float64", "-dtype is set by the farm"),
        ("-cell 1 2 3", "argument -cell: expected 6 arguments"),
        ("-cell 100 100 100 90 90 90", "Need -hkl file, Fdump.bin, or -default_F > 0"),
    ],
)
def test_nanobrag_torch_refuses_untakeable_flags_at_grid_check(tmp_path, flags, fragment):
    message = _refused(tmp_path, grid_text(extra=f'flags = "{flags}"', target=NBT))
    assert message.startswith("flags: ") and fragment in message


@needs_nbt
def test_nanobrag_torch_takes_no_options(tmp_path):
    text = grid_text(extra=f'flags = "{NBT_FLAGS}"\n[options]\ncompile = true', target=NBT)
    assert "unknown option of target nanobrag_torch (known: none" in _refused(tmp_path, text)
