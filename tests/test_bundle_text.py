"""What the bundle's text says: timing anomalies, the tests collected (or why none), the
resume command, and the first bundle's dependencies."""

from __future__ import annotations

import tomllib
from pathlib import Path

from farm.bundle.folder import Bundle, resume_command
from farm.bundle.provenance import collect_tests
from farm.bundle.stability import stability_warnings, timing_anomalies
from farm.bundle.summary import RunFacts, header_section
from farm.grid import parse_grid

ROOT = Path(__file__).resolve().parents[1]
GRID = 'campaign = "c"\nphase = "p"\ncollect_tests = true\niterations = 1\n[axes]\nsize = [8]\n'


def record(warm: float, cold: float, profiled: float | None) -> dict:
    return {
        "py_time_warm": warm,
        "py_time_cold": cold,
        "py_time_profiled": profiled,
        "py_time_warm_samples": [warm],
    }


def test_warm_slower_than_cold_is_an_anomaly():
    """The b1 run that reported warm 7.9 s against cold 2.0 s (speed-up 0.25)."""
    [first, far] = timing_anomalies(record(7.9, 2.0, 0.3))
    assert first.startswith("anomaly: the warm median (7.9 s) is above the cold run (2 s,")
    assert far.startswith("anomaly: the warm median (7.9 s) is 26.3x the profiled render (0.3 s)")
    assert first in stability_warnings(record(7.9, 2.0, 0.3))


def test_a_profiled_render_far_from_warm_is_an_anomaly():
    [line] = timing_anomalies(record(0.1, 2.0, 0.35))
    assert line.startswith("anomaly: the profiled render (0.35 s) is 3.5x the warm median")
    assert "its shares are not those of the warm render" in line


def test_consistent_timings_have_no_anomaly():
    assert timing_anomalies(record(0.23, 2.0, 0.3)) == []
    assert timing_anomalies(record(0.23, 2.0, None)) == []


def test_resume_command_keeps_every_option():
    argv = ["farm", "sweep", "--grid", "my grid.toml", "--address", "auto", "--reports", "/r"]
    assert resume_command(argv, "20260101T000000Z") == (
        "farm sweep --grid 'my grid.toml' --address auto --reports /r --resume 20260101T000000Z"
    )
    again = [*argv, "--resume", "20250101T000000Z", "--c-bin", "/bin/nb"]
    assert resume_command(again, "20260101T000000Z").endswith(
        "--reports /r --c-bin /bin/nb --resume 20260101T000000Z"
    )


def test_pytest_is_a_runtime_dependency():
    """The main job (`pip install -e .`, no test extras) collects tests into every bundle."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.split(">")[0].split("=")[0].strip() == "pytest" for d in project["dependencies"])


def test_tests_collected_without_pytest_are_said_in_words(tmp_path, monkeypatch):
    fake = tmp_path / "no_pytest"
    fake.mkdir()  # shadows pytest the way a missing one fails: `python3: No module named pytest`
    (fake / "pytest.py").write_text(
        "import sys\nsys.stderr.write(f'{sys.executable}: No module named pytest\\n')\n"
        "sys.exit(1)\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(fake))
    bundle = Bundle(tmp_path / "b", "20260101T000000Z")
    bundle.path.mkdir()
    tests = collect_tests(bundle, tmp_path)
    assert tests["rc"] == 1 and tests["count"] is None
    assert "No module named pytest" in bundle.file("pytest_collect.log").read_text()
    grid = parse_grid(GRID)
    counts = {"ok": 1, "failed": 0, "skipped": 0, "pending": 0}
    [facts] = header_section(bundle, grid, {}, counts, RunFacts(tests=tests))[1:]
    [line] = [x for x in facts.splitlines() if x.startswith("- Tests collected:")]
    assert line == (
        "- Tests collected: none: pytest is not installed in this environment (it is a "
        "dependency of bragg-farm: `python3 -m pip install -e .` installs it) "
        "(`pytest --collect-only -q` exit 1; see `pytest_collect.log`)"
    )
    assert "None" not in facts and "True" not in facts
    assert "no untimed warm-up" not in facts and "1 untimed warm-up render, then 1 timed" in facts
