"""Grid files: validation messages, expansion order, ids and tags; targets; the CLI's exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from farm.actors.targets import TargetError, resolve_target
from farm.cli import app
from farm.grid import Cell, GridError, load_grid, parse_grid

ROOT = Path(__file__).resolve().parents[1]


def grid_text(
    extra: str = "",
    axes: str = "size = [8]",
    *,
    campaign: str | None = '"c"',
    target: str = '"python:farm_targets:gaussian"',
    reference: str = '"none"',
) -> str:
    head = f"campaign = {campaign}\n" if campaign is not None else ""
    return (
        f'{head}phase = "p"\ntarget = {target}\nreference = {reference}\n{extra}\n[axes]\n{axes}\n'
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return path


# the shipped grids ------------------------------------------------------------------------------


def test_b1_grid_is_the_seed_task():
    grid = load_grid(ROOT / "configs" / "b1.toml")
    assert (grid.campaign, grid.phase) == ("2026-01-vectorization-gap", "phase_b")
    assert grid.target == "simulator" and grid.reference == "builtin"
    assert grid.iterations == 1 and grid.profile and grid.collect_tests
    assert grid.flags == "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"
    [cell] = grid.cells()
    assert cell.tag == "device=cpu,dtype=float32,size=4096"
    assert cell.full_flags.endswith("-distance 100 -detpixels 4096")


def test_smoke_and_nightly_grids_cover_what_they_promise():
    smoke = load_grid(ROOT / "configs" / "smoke.toml").cells()
    assert {(c.device, c.dtype, c.size) for c in smoke} == {
        ("cpu", d, s) for d in ("float32", "float64") for s in (64, 128)
    }
    nightly = load_grid(ROOT / "configs" / "nightly.toml").cells()
    assert {c.size for c in nightly} == {256, 512, 1024, 2048, 4096}
    assert {c.device for c in nightly} == {"cpu", "cuda"}
    assert {c.dtype for c in nightly} == {"float32", "float64"}
    assert len(nightly) == 20


# expansion ------------------------------------------------------------------------------------


def test_expansion_is_sorted_cartesian_with_last_key_fastest(tmp_path):
    grid = load_grid(
        write(
            tmp_path,
            grid_text(axes='size = [16, 8]\ndtype = ["float64", "float32"]\ndevice = ["cpu"]'),
        )
    )
    tags = [c.tag for c in grid.cells()]
    assert tags == [
        "device=cpu,dtype=float64,size=16",
        "device=cpu,dtype=float64,size=8",
        "device=cpu,dtype=float32,size=16",
        "device=cpu,dtype=float32,size=8",
    ]


def test_flag_axes_append_flags_and_tags_are_filesystem_safe(tmp_path):
    text = grid_text(
        extra='flags = "-default_F 100"',
        axes='size = [8]\nN = [5, 10]\ncell = ["100 100 100 90 90 90"]\nnopolar = [true, false]',
    )
    cells = load_grid(write(tmp_path, text)).cells()
    assert len(cells) == 4
    first = cells[0]
    assert first.tag == "N=5,cell=100_100_100_90_90_90,device=cpu,dtype=float32,nopolar=true,size=8"
    assert first.flags == "-default_F 100 -N 5 -cell 100 100 100 90 90 90 -nopolar"
    assert "-nopolar" not in cells[1].flags
    assert first.params == {
        "flags": first.flags,
        "N": 5,
        "cell": "100 100 100 90 90 90",
        "nopolar": True,
    }
    for c in cells:
        assert "/" not in c.tag and " " not in c.tag


def test_cell_ids_are_stable_and_depend_on_content(tmp_path):
    a = load_grid(write(tmp_path, grid_text(axes="size = [8, 16]"))).cells()
    b = parse_grid(grid_text(axes="size = [16, 8]")).cells()
    assert {c.cell_id for c in a} == {c.cell_id for c in b}
    c = parse_grid(grid_text(extra='flags = "-N 3"', axes="size = [8, 16]")).cells()
    assert not {x.cell_id for x in a} & {x.cell_id for x in c}
    assert all(len(x.cell_id) == 12 for x in a)
    assert isinstance(a[0], Cell) and a[0].pixels == 64


def test_options_reach_the_factory_and_are_part_of_the_cell(tmp_path):
    plain = parse_grid(grid_text(target='"simulator"')).cells()
    opted = parse_grid(
        grid_text(extra="[options]\ncompile = true\nchunk_elements = 4096", target='"simulator"')
    ).cells()
    assert opted[0].params == {"flags": "", "chunk_elements": 4096, "compile": True}
    assert opted[0].cell_id != plain[0].cell_id
    assert "-compile" not in opted[0].flags


# validation: one message naming key and file ---------------------------------------------------

BAD = [
    (grid_text(extra="colour = 3"), "colour", "unknown key"),
    (grid_text(extra="iteration = 3"), "iteration", "unknown key; did you mean 'iterations'?"),
    (grid_text(axes='size = [8]\ndtyp = ["float64"]'), "axes.dtyp", "did you mean 'dtype'?"),
    (grid_text(axes='size = [8]\ndevices = ["cpu"]'), "axes.devices", "did you mean 'device'?"),
    (grid_text(extra="warmups = -1"), "warmups", "must be 0 or more"),
    (grid_text(extra='iterations = "3"'), "iterations", "expected an integer"),
    (grid_text(extra="iterations = 0"), "iterations", "at least 1"),
    (grid_text(extra="profile = 1"), "profile", "expected true/false"),
    (grid_text(axes="size = []"), "axes.size", "empty"),
    (grid_text(axes='size = [8]\ndevice = ["tpu"]'), "axes.device", "unknown device 'tpu'"),
    (grid_text(axes='size = [8]\ndtype = ["float16"]'), "axes.dtype", "unknown dtype"),
    (grid_text(axes="size = [0]"), "axes.size", "positive integers"),
    (grid_text(axes='size = ["big"]'), "axes.size", "positive integers"),
    (grid_text(axes="N = [5]"), "axes.size", "required axis is missing"),
    (grid_text(axes="size = [8]\ndetpixels = [8]"), "axes.detpixels", "size axis"),
    (grid_text(reference='"c"'), "reference", "not one of"),
    (grid_text(target='"pkg.mod:f"'), "target", "python:package.module:factory"),
    (grid_text(extra='flags = "-detpixels 64"'), "flags", "-detpixels"),
    (grid_text(extra='flags = "-N \'5"'), "flags", "cannot split"),
    (grid_text(campaign=None), "campaign", "missing"),
    (grid_text(campaign='"a/b"'), "campaign", "folder"),
    ("campaign = [", "(syntax)", "not valid TOML"),
    (grid_text(extra="options = 3"), "options", "expected a table"),
    (grid_text(extra="[options]\nsize = 3"), "options.size", "share its name"),
    (grid_text(extra="[options]\ncompile = [1, 2]"), "options.compile", "numbers, strings"),
    (
        grid_text(extra="[options]\ncomplie = true"),
        "options.complie",
        "unknown option of target python:farm_targets:gaussian (known: none: it takes no",
    ),
    (grid_text(extra='cold = "warm"'), "cold", "not one of process, instance"),
    (grid_text(extra="profile_renders = 0"), "profile_renders", "at least 1"),
    (grid_text(extra="env = {A = 1}"), "env.A", "values are strings"),
    (grid_text(extra='env = {"1A" = "x"}'), "env.1A", "not an environment variable"),
    (grid_text(axes='size = [8]\nenv = ["A=1"]'), "axes.env", "expected a table"),
    (
        grid_text(extra="[options]\ncompil = true", target='"simulator"'),
        "options.compil",
        "unknown option of target simulator; did you mean 'compile'? (known: compile, chunk_",
    ),
    (
        grid_text(extra='[options]\nchunk_elements = "big"', target='"simulator"'),
        "options.chunk_elements",
        "expected an integer",
    ),
]


@pytest.mark.parametrize(("text", "key", "fragment"), BAD)
def test_bad_grid_names_file_and_key(tmp_path, text, key, fragment):
    path = write(tmp_path, text)
    with pytest.raises(GridError) as info:
        load_grid(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert fragment in message
    assert "\n" not in message


def test_flags_are_checked_by_the_simulator_parser(tmp_path):
    text = grid_text(extra='flags = "-default_F 100 -bogus 3"', target='"simulator"')
    path = write(tmp_path, text)
    with pytest.raises(GridError) as info:
        load_grid(path)
    assert str(info.value).startswith(f"{path}: flags: ")
    assert "-bogus" in str(info.value)


def test_missing_file_is_a_grid_error(tmp_path):
    with pytest.raises(GridError, match="cannot read"):
        load_grid(tmp_path / "nope.toml")


# the CLI: exit 2, one line, nothing created ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (grid_text(axes='size = [8]\ndevice = ["tpu"]'), "axes.device: unknown device 'tpu'"),
        (grid_text(extra="threads = -1"), "threads: must be 0 or more"),
        (grid_text(target='"python:no_such_module_xyz:f"'), "target: "),
    ],
)
def test_cli_bad_grid_exits_2_with_one_message(tmp_path, text, expected):
    path = write(tmp_path, text)
    reports = tmp_path / "reports"
    result = CliRunner().invoke(app, ["sweep", "--grid", str(path), "--reports", str(reports)])
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith(f"error: {path}: ")
    assert expected in err
    assert len(err.splitlines()) == 1
    assert not (reports / "c" / "p").exists() or not any((reports / "c" / "p").iterdir())


def test_cli_help_has_an_example():
    result = CliRunner().invoke(app, ["sweep", "--help"])
    assert result.exit_code == 0
    assert "farm sweep --grid configs/smoke.toml" in result.output
    for option in ("--grid", "--address", "--resume", "--reports", "--c-bin"):
        assert option in result.output


# targets -------------------------------------------------------------------------------------


def test_resolve_targets():
    sim = resolve_target("simulator")
    assert (sim.module, sim.attr, sim.package) == ("simulator.target", "factory", "simulator")
    py = resolve_target("python:farm_targets:gaussian")
    assert (py.module, py.attr, py.package) == ("farm_targets", "gaussian", "farm_targets")
    assert py.load()(8, "cpu", "float32", {"flags": ""})().shape == (8, 8)
    assert py.package_dir() == Path(__file__).resolve().parent
    nbt = resolve_target("nanobrag_torch")
    assert nbt.optional and nbt.package == "nanobrag_torch"


def test_missing_target_module_is_a_clear_error():
    target = resolve_target("python:no_such_module_xyz:factory")
    assert "no_such_module_xyz" in target.missing()
    with pytest.raises(TargetError, match="no_such_module_xyz"):
        target.load()
    with pytest.raises(TargetError, match="no callable 'nope'"):
        resolve_target("python:farm_targets:nope").load()


@pytest.mark.slow
def test_nanobrag_torch_adapter_renders_when_installed():
    pytest.importorskip("nanobrag_torch", reason="nanobrag_torch not installed")
    target = resolve_target("nanobrag_torch")
    render = target.load()(
        32, "cpu", "float64", {"flags": "-default_F 100 -cell 100 100 100 90 90 90 -N 5"}
    )
    image = render()
    assert tuple(image.shape) == (32, 32)
    assert float(image.sum()) > 0


def test_sweep_of_a_missing_optional_target_skips_its_cells(tmp_path):
    import importlib.util
    import json

    if importlib.util.find_spec("nanobrag_torch") is not None:
        pytest.skip("nanobrag_torch is installed here")
    path = write(tmp_path, grid_text(target='"nanobrag_torch"', axes="size = [8, 16]"))
    reports = tmp_path / "reports"
    result = CliRunner().invoke(
        app, ["sweep", "--grid", str(path), "--reports", str(reports), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "cells: 0 ok, 0 failed, 2 skipped, 0 pending" in result.stdout
    [bundle] = (reports / "c" / "p").iterdir()
    records = json.loads((bundle / "benchmark_results.json").read_text())
    assert [r["status"] for r in records] == ["skipped", "skipped"]
    assert records[0]["error"].startswith("target nanobrag_torch: package 'nanobrag_torch'")


def test_unreachable_address_exits_2_and_leaves_no_bundle(tmp_path):
    path = write(tmp_path, grid_text())
    reports = tmp_path / "reports"
    result = CliRunner().invoke(
        app,
        ["sweep", "--grid", str(path), "--reports", str(reports), "--address", "127.0.0.1:1"],
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        "error: cannot connect to Ray at 127.0.0.1:1: nothing answers (Connection refused)"
    )
    assert list((reports / "c" / "p").iterdir()) == []  # the bundle is made once Ray is up


def test_a_fatal_error_is_recorded_as_such_not_as_an_interruption(tmp_path, monkeypatch, ray_local):
    import farm.driver.sweep
    from farm.driver import SweepOptions, run_sweep

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(farm.driver.sweep, "git_context", broken)
    grid = load_grid(write(tmp_path, grid_text()))
    reports = tmp_path / "reports"
    with pytest.raises(RuntimeError, match="the disk is on fire"):
        run_sweep(grid, SweepOptions(reports=reports, argv=["farm", "sweep"]))
    [bundle] = (reports / "c" / "p").iterdir()
    [session] = json.loads((bundle / "env.json").read_text())["sessions"]
    assert session["interrupted"] is False
    assert session["stopped"] == "stopped by RuntimeError: the disk is on fire"
    log = (bundle / "commands.txt").read_text()
    assert "# sweep stopped by RuntimeError: the disk is on fire" in log
    assert "interrupted" not in log
    assert "-> exit 1 (" in log
    summary = (bundle / "summary.md").read_text()
    assert "(stopped by RuntimeError: the disk is on fire)" in summary
    assert "interrupted" not in summary.lower()


def test_progress_bar_shows_done_running_failed(monkeypatch):
    import io

    from farm.cli.sweep import _ProgressBar
    from farm.driver import SweepProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr("sys.stderr", term)
    with _ProgressBar(enabled=True) as bar:
        bar.update(SweepProgress("cells", total=10, done=4, running=2, failed=1, skipped=3))
    out = term.getvalue()
    for text in ("cells", "4/10", "running 2", "failed 1", "skipped 3"):
        assert text in out, out
    quiet = Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    with _ProgressBar(enabled=False) as bar:
        bar.update(SweepProgress("cells", total=10, done=4))
    assert quiet.getvalue() == ""


@pytest.mark.parametrize("prog", ["farm", "python -m farm"])
def test_commands_txt_records_the_program_as_it_was_run(monkeypatch, prog):
    import sys

    import farm.driver

    seen = {}

    def stop(spec, options, on_progress, run_log=None):
        seen["argv"] = options.argv
        raise farm.driver.StartError("stopped by the test")

    monkeypatch.setattr(farm.driver, "run_sweep", stop)
    argv = ["sweep", "--grid", "configs/smoke.toml", "--no-progress"]
    result = CliRunner().invoke(app, argv, prog_name=prog)
    assert result.exit_code == 2 and "stopped by the test" in result.stderr
    program = ["farm"] if prog == "farm" else [Path(sys.executable).name, "-m", "farm"]
    assert seen["argv"] == [*program, "sweep", "--grid", "configs/smoke.toml"]
