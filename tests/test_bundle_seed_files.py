"""The seed task's bundle items, piece by piece: notes/, profile/run.log, torch_env.txt, and
summary.md's Commands, Follow-up hypotheses, Spec links and Files (no Ray: fast)."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from farm.bundle import torch_env
from farm.bundle.command_list import command_list
from farm.bundle.folder import NOTES_README, Bundle, create_bundle
from farm.bundle.hypotheses import hypotheses_section
from farm.bundle.run_log import RunLog, plain
from farm.bundle.spec_links import PROJECT, SPECS, anchor, slug, spec_links
from farm.bundle.summary import files_section
from farm.grid import parse_grid

GRID = 'campaign = "c"\nphase = "p"\niterations = 3\n[axes]\nsize = [8, 16]\n'


def test_a_new_bundle_has_profile_and_notes_with_its_readme(tmp_path):
    bundle = create_bundle(tmp_path / "r")
    assert (bundle.path / "profile").is_dir()
    readme = (bundle.path / "notes" / "README.md").read_text()
    assert readme == NOTES_README and "Phase B2 reader" in readme
    (bundle.path / "notes" / "README.md").write_text("my notes\n")
    bundle.make_folders()  # a resume: the reader's text stays
    assert (bundle.path / "notes" / "README.md").read_text() == "my notes\n"


def test_run_log_keeps_lines_said_before_the_bundle_then_appends_plain_text(tmp_path):
    clock = iter([0.0, 65.0, 65.0, 70.0]).__next__
    log = RunLog(clock=clock)
    log.say("\x1b[1mbefore\x1b[0m the bundle")
    progress = SimpleNamespace(
        stage="cells", total=4, done=1, running=1, failed=0, skipped=0, last="a: ok"
    )
    log.progress(progress)
    log.progress(SimpleNamespace(**{**vars(progress), "running": 0}))  # only running: no line
    log.attach(tmp_path)
    log.say("50%\r100% done")
    lines = (tmp_path / "profile" / "run.log").read_text().splitlines()
    assert lines == [
        "before the bundle",
        "[0:01:05] cells: 1/4 cells done, 1 running, 0 failed, 0 skipped; last: a: ok",
        "100% done",
    ]
    log.close()
    again = RunLog()
    again.attach(tmp_path, resumed=True)
    again.say("second session")
    again.close()
    text = (tmp_path / "profile" / "run.log").read_text()
    assert re.search(r"100% done\n# resumed \S+Z: the lines below are this session's\n", text)
    assert text.endswith("second session\n")


def test_a_run_log_that_cannot_be_written_does_not_stop_the_sweep(tmp_path):
    (tmp_path / "profile").write_text("a file where the folder should be")
    log = RunLog()
    log.attach(tmp_path)
    log.say("still fine")
    assert log.broken and "profile" in log.broken


def test_plain_drops_ansi_and_overwritten_text():
    assert plain("\x1b[2K\x1b[1A\x1b[32mok\x1b[0m\n12%\r99%") == "ok\n99%"


def _env_with(monkeypatch, tmp_path, code: str, timeout_s: float = 30.0):
    monkeypatch.setattr(torch_env, "COMMAND", [sys.executable, "-c", code])
    return torch_env.TorchEnv(tmp_path, timeout_s=timeout_s)


def test_torch_env_that_fails_says_why_in_one_line(monkeypatch, tmp_path):
    env = _env_with(monkeypatch, tmp_path, "import sys; sys.exit('no collect_env here')")
    env.start()
    line = env.finish()
    text = (tmp_path / "torch_env.txt").read_text()
    assert text.count("\n") == 1
    assert text.startswith("not collected: ") and "exited 1: no collect_env here" in text
    assert line.splitlines()[1].startswith("-> exit 1 (failed: no collect_env here; ")


def test_torch_env_is_killed_after_its_timeout(monkeypatch, tmp_path):
    env = _env_with(monkeypatch, tmp_path, "import time; time.sleep(30)", timeout_s=0.5)
    start = time.perf_counter()
    env.start()
    env.finish()
    assert time.perf_counter() - start < 10
    assert (
        tmp_path / "torch_env.txt"
    ).read_text() == "not collected: torch.utils.collect_env timed out after 0.5 s\n"


def test_torch_env_keeps_stdout_only_and_runs_once_per_bundle(monkeypatch, tmp_path):
    code = "import sys; print('PyTorch version: x'); print('noise', file=sys.stderr)"
    env = _env_with(monkeypatch, tmp_path, code)
    assert env.wanted
    env.start()
    assert env.running
    assert "exit 0 (output in torch_env.txt; " in env.finish()
    assert (tmp_path / "torch_env.txt").read_text() == "PyTorch version: x\n"
    again = torch_env.TorchEnv(tmp_path)
    again.start()
    assert not again.wanted and not again.running and again.finish() is None


def test_command_list_pairs_each_command_with_its_exit_code(tmp_path):
    log = tmp_path / "commands.txt"
    log.write_text(
        "# started\n$ farm sweep --grid g.toml\n$ mkdir /r/x\n-> exit 0 (the stamp folder)\n"
        "$ git status --short\n-> exit 0\n     M a.py\n$ uname -a\n"
        "# resumed\n$ python3 -m farm sweep --grid g.toml --resume x\n"
    )
    assert command_list(log, ["python -m torch.utils.collect_env"]) == [
        "`$ farm sweep --grid g.toml` → this sweep: its exit code is the last line of commands.txt",
        "`$ mkdir /r/x` → exit 0 (the stamp folder)",
        "`$ git status --short` → exit 0",
        "`$ uname -a` → no exit code recorded",
        "`$ python3 -m farm sweep --grid g.toml --resume x` → this sweep: its exit code is the "
        "last line of commands.txt",
        "`$ python -m torch.utils.collect_env` → runs after this summary; its exit code "
        "follows in commands.txt",
    ]


def test_hypotheses_cite_the_measured_figures():
    grid = parse_grid(GRID)
    small, large = grid.cells()
    by_id = {
        small.cell_id: {
            "status": "ok",
            "verdict": "fail",
            "correlation_warm": 0.72104,
            "sum_ratio": 1.2,
            "py_time_warm": 0.5,
            "py_time_cold": 2.0,
            "py_time_profiled": 0.6,
            "py_time_warm_samples": [0.5, 0.5, 0.5],
        },
        large.cell_id: {
            "status": "ok",
            "verdict": "pass",
            "py_time_warm": 8.18,
            "py_time_cold": 10.6,
            "py_time_profiled": 3.65,
            "py_time_warm_samples": [8.18],
        },
    }
    heading, _, body = hypotheses_section(grid.cells(), by_id, ["from the analysis"], "x")
    items = body.strip().split("\n")
    assert heading == "## Follow-up hypotheses\n"
    assert items[0].startswith(f"- `{small.tag}` failed the parity gate (corr >= 0.999 and ")
    assert "corr 0.721040, sum ratio 1.200000, verdict fail" in items[0]
    assert items[1] == (
        f"- `{large.tag}`: the machine, not the code, may explain its timings (other sweeps "
        "shared this host's cores): the warm median (8.18 s) is 2.2x the profiled render "
        "(3.65 s), which carries the profiler's overhead: the timed renders were disturbed; "
        "rerun the cell (1 more under Stability warnings)."
    )
    assert len(items) == 3  # one line per cell with warnings; the small cell has none
    assert items[-1] == "- from the analysis"
    assert all(re.search(r"\d", item) for item in items[:-1])  # each cites a number


def test_spec_links_resolve_from_the_bundle_folder(tmp_path):
    bundle = tmp_path / "reports" / "c" / "p" / "20260101T000000Z"
    bundle.mkdir(parents=True)
    items = spec_links(bundle)
    assert len(items) == len(SPECS)
    linked = 0
    for item in items:
        for target in re.findall(r"\]\(([^)]+)\)", item):
            path, _, frag = target.partition("#")
            assert not Path(path).is_absolute(), item
            resolved = (bundle / path).resolve()
            assert resolved.is_file(), item
            if frag:
                assert frag in _anchors(resolved), item
            linked += 1
    readme = [i for i in items if i.startswith("[README.md § ")]
    assert len(readme) == sum(s.document == "README.md" for s in SPECS)
    physics = next(i for i in items if "Parity thresholds our users work to" in i)
    if not (PROJECT / "physics.md").exists() and not (PROJECT / "docs" / "physics.md").exists():
        assert "carried out in [analysis/parity/tolerances.py](" in physics
    assert linked >= len(readme) + 1


def _anchors(path: Path) -> set[str]:
    return {
        anchor(path, m.group(1).replace("`", ""))
        for m in re.finditer(r"^#{1,6} (.+)$", path.read_text(), re.M)
    }


def test_slug_is_githubs():
    assert slug("Sweeps: `farm sweep`") == "sweeps-farm-sweep"
    assert slug("Failures, Ctrl-C and --resume") == "failures-ctrl-c-and---resume"


def test_files_lists_what_is_written_after_summary(tmp_path):
    bundle = Bundle(tmp_path, "20260101T000000Z")
    bundle.make_folders()
    (tmp_path / "profile" / "run.log").write_text("x\n")
    [_, body] = files_section(bundle, ["report.html", "torch_env.txt"])
    assert body.splitlines()[:6] == [
        "- `notes/README.md` (hand notes of the Phase B2 reader go in `notes/`)",
        "- `profile/run.log` (the sweep's console, as plain text)",
        "- `report.html` (written after this summary)",
        "- `summary.md` (this file)",
        "- `torch_env.txt` (`python -m torch.utils.collect_env` on the driver; written after "
        "this summary)",
        "- `tables/`: 0 Parquet parts; `cells/`: one benchmark record per cell",
    ]


def test_shares_are_named_one_way():
    """Every text calls pct_of_run a share of the representative profiled render."""
    from analysis.evidence import backlog
    from analysis.grains import SHARE_LABEL, SHARE_NOTE

    assert backlog.RENDER_NOTE == SHARE_NOTE
    assert "representative profiled render" in SHARE_NOTE and SHARE_LABEL in SHARE_NOTE
    assert "not a share of the timed warm renders" in SHARE_NOTE
    wrong = re.compile(r"(share|shares|%) of (the |each )?(profiled )?(warm )?run\b", re.I)
    texts = [
        PROJECT / "README.md",
        *PROJECT.glob("analysis/**/*.py"),
        *PROJECT.glob("farm/**/*.py"),
    ]
    found = [
        f"{path.relative_to(PROJECT)}:{n}: {line.strip()}"
        for path in texts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if wrong.search(line)
    ]
    assert found == []
