"""farm nightly, compare and history on real sweeps of a target whose cost is set from outside.

Four ``farm nightly`` runs through the session's Ray (``python:nightly_targets:scaled``, 2
cells): a first night, an identical rerun, a night where the float64 cell does 1.5x the work
and the float32 cell's image is distorted, and a night of another grid. History runs on 12
nights cloned from the first one's measured rows, with a step in the middle.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from night_series import clone_night
from typer.testing import CliRunner

from analysis.nights.bundles import BundleRef, NightsError, newest_pair
from analysis.nights.compare import CompareOptions, compare_bundles
from analysis.nights.history import history
from analysis.nights.render import comparison_markdown, history_text
from farm.cli import app

pytestmark = pytest.mark.slow

GRID = """
campaign = "tests"
phase = "nightly"
target = "python:nightly_targets:scaled"
flags = "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100"
reference = "builtin"
iterations = 9
profile = false
cpus_per_actor = 2
threads = 1

[axes]
dtype = ["float32", "float64"]
size = [{size}]
"""


def farm(*args: str):
    return CliRunner().invoke(app, list(args))


def night(tmp: Path, knobs_file: Path, knobs: dict, size: int = 96) -> tuple[BundleRef, Any]:
    """One ``farm nightly`` of the grid (baseline: last-good) with the target's knobs set."""
    knobs_file.write_text(json.dumps(knobs))
    grid = tmp / f"grid-{size}.toml"
    grid.write_text(GRID.format(size=size))
    result = farm("nightly", "--grid", str(grid), "--reports", str(tmp / "reports"))
    [line] = [x for x in result.stdout.splitlines() if x.startswith("bundle: ")]
    return BundleRef.of(Path(line.removeprefix("bundle: "))), result


@pytest.fixture(scope="module")
def nights(ray_local, farm_knobs, tmp_path_factory):
    """Four nights: base (the first), an identical rerun, a worse one, another grid."""
    tmp = tmp_path_factory.mktemp("nights")
    out = {}
    out["base"], out["base_cli"] = night(tmp, farm_knobs, {})
    out["same"], out["same_cli"] = night(tmp, farm_knobs, {})
    worse = {"work": 1.5, "work_dtype": "float64", "parity": 0.05, "parity_dtype": "float32"}
    out["worse"], out["worse_cli"] = night(tmp, farm_knobs, worse)
    out["other"], out["other_cli"] = night(tmp, farm_knobs, {}, size=48)
    farm_knobs.write_text("{}")
    out["root"] = tmp / "reports"
    return out


def test_an_identical_rerun_is_not_flagged(nights):
    cmp = compare_bundles(nights["base"], nights["same"])
    assert len(cmp.cells) == 2 and cmp.regressions == [] and cmp.exit_code == 0
    assert all(c.timing is not None and c.timing.n_base == 9 for c in cmp.cells)
    assert "## No regression" in comparison_markdown(cmp)


def test_a_slowdown_and_a_parity_drop_are_flagged_and_named(nights):
    cmp = compare_bundles(nights["base"], nights["worse"])
    assert cmp.exit_code == 1
    by_tag = {c.tag: c for c in cmp.cells}
    f32, f64 = (
        by_tag["device=cpu,dtype=float32,size=96"],
        by_tag["device=cpu,dtype=float64,size=96"],
    )
    assert [r.split(":")[0] for r in f64.regressions] == ["warm_s"]
    assert 1.3 < f64.timing.ratio < 1.7 and f64.timing.slower
    assert not f32.timing.slower
    assert f32.corr_drop > 1e-4
    assert any(r.startswith(("corr", "parity")) for r in f32.regressions)
    text = comparison_markdown(cmp)
    assert "device=cpu,dtype=float64,size=96" in text and "warm_s" in text


def test_a_tighter_threshold_does_not_flag_noise_but_a_looser_one_hides_the_slowdown(nights):
    loose = compare_bundles(nights["base"], nights["worse"], CompareOptions(threshold=0.8))
    assert not any(r.startswith("warm_s") for _, r in loose.regressions)


def test_different_grids_are_refused(nights):
    with pytest.raises(NightsError, match="no cell in common"):
        compare_bundles(nights["base"], nights["other"])


def test_with_no_arguments_the_two_newest_of_a_series_are_compared(nights):
    base, new = newest_pair(nights["root"])
    assert (base.stamp, new.stamp) == (nights["worse"].stamp, nights["other"].stamp)


# history: 12 nights cloned from the real base night, with a step in the middle -------------

STEP_AT = 6


@pytest.fixture(scope="module")
def twelve_nights(nights, tmp_path_factory):
    import numpy as np

    reports = tmp_path_factory.mktemp("twelve") / "reports"
    rng = np.random.default_rng(3)
    paths = []
    for night in range(12):
        slow = night >= STEP_AT
        paths.append(
            clone_night(
                nights["base"].path,
                reports,
                night,
                scale=(1.4 if slow else 1.0) * float(np.exp(rng.normal(0, 0.02))),
                commit=f"commit{night:02d}",
                corr=0.99999 - (5e-4 if night >= 9 else 0.0),
                loops={"loopA": 60.0 + (15.0 if slow else 0.0) + rng.normal(0, 1), "loopB": 8.0},
            )
        )
    return reports, paths


def test_history_finds_the_step_at_its_night_and_commit(twelve_nights):
    reports, paths = twelve_nights
    hist = history(reports, metric="warm_s")
    assert hist.nights == 12 and len(hist.series) == 2
    for s in hist.series:
        [cp] = s.change_points
        assert cp.stamp == paths[STEP_AT].name and cp.commit == f"commit{STEP_AT:02d}"
        assert cp.rel_step == pytest.approx(0.4, abs=0.08)
    text = history_text(hist)
    assert f"change at {paths[STEP_AT].name} (commit commit{STEP_AT:02d})" in text


def test_history_of_corr_and_of_hot_spot_shares(twelve_nights):
    reports, paths = twelve_nights
    corr = history(reports, metric="corr", cell="dtype=float32")
    [s] = corr.series
    assert [cp.stamp for cp in s.change_points] == [paths[9].name]
    assert s.change_points[0].step == pytest.approx(-5e-4, rel=1e-6)
    pct = history(reports, metric="pct_of_run", cell="float64")
    spots = {s.spot: s for s in pct.series}
    assert set(spots) == {"loop nightly_targets.py:50", "loop nightly_targets.py:51"}
    assert [cp.stamp for cp in spots["loop nightly_targets.py:50"].change_points] == [
        paths[STEP_AT].name
    ]
    assert spots["loop nightly_targets.py:51"].change_points == []


def test_history_refuses_unknown_metrics_and_cells(twelve_nights):
    reports, _ = twelve_nights
    with pytest.raises(NightsError, match="unknown metric"):
        history(reports, metric="speed")
    with pytest.raises(NightsError, match="no cell matches"):
        history(reports, cell="size=4096")


# the command line ----------------------------------------------------------------------------


def test_farm_compare_exit_codes_and_output(nights):
    root = str(nights["root"])
    same = farm("compare", nights["base"].stamp, nights["same"].stamp, "--reports", root)
    assert same.exit_code == 0, same.output
    assert "## No regression" in same.stdout
    worse = farm("compare", str(nights["base"].path), str(nights["worse"].path))
    assert worse.exit_code == 1
    assert "`device=cpu,dtype=float64,size=96`\n  - warm_s:" in worse.stdout
    data = json.loads(
        farm("compare", str(nights["base"].path), str(nights["worse"].path), "--json").stdout
    )
    assert {r["metric"].split(":")[0] for r in data["regressions"]} >= {"warm_s"}
    assert data["options"]["min_delta_s"] == 1e-3
    floor = farm("compare", str(nights["base"].path), str(nights["worse"].path), "--json")
    high = farm(
        "compare", str(nights["base"].path), str(nights["worse"].path), "--min-delta-ms", "1000"
    )
    assert floor.exit_code == 1 and "under the 1000 ms noise floor: not counted" in high.stdout
    assert "warm_s:" not in high.stdout.split("## Cells")[0]  # the slowdown is not counted
    negative = farm("compare", "--min-delta-ms", "-1", "--reports", root)
    assert negative.exit_code == 2 and "--min-delta-ms -1" in negative.stderr
    other = farm("compare", str(nights["base"].path), str(nights["other"].path))
    assert other.exit_code == 2 and "no cell in common" in other.stderr
    newest = farm("compare", "--reports", root)
    assert newest.exit_code == 2  # the two newest are worse (96) and other (48): no common cell
    bad = farm("compare", "20990101T000000Z", nights["same"].stamp, "--reports", root)
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "no bundle" in bad.stderr


def test_farm_compare_refuses_other_metadata_unless_forced(nights, tmp_path):
    copy = tmp_path / "reports" / "tests" / "nightly" / nights["same"].stamp
    shutil.copytree(nights["same"].path, copy)
    shutil.rmtree(copy / "tables" / "cell_stats")
    env = json.loads((copy / "env.json").read_text())
    (copy / "env.json").write_text(json.dumps({**env, "torch": "9.9.9"}))
    refused = farm("compare", str(nights["base"].path), str(copy))
    assert refused.exit_code == 2
    assert "not comparable: torch:" in refused.stderr and "--force" in refused.stderr
    forced = farm("compare", str(nights["base"].path), str(copy), "--force")
    assert forced.exit_code == 0 and "FORCED" in forced.stdout and "9.9.9" in forced.stdout


def test_farm_history_cli(twelve_nights):
    reports, paths = twelve_nights
    out = farm("history", "--reports", str(reports), "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["nights"] == 12 and len(data["series"]) == 2
    assert data["series"][0]["change_points"][0]["stamp"] == paths[STEP_AT].name
    assert farm("history", "--reports", str(reports), "--metric", "nope").exit_code == 2


def test_farm_nightly_promotes_clean_nights_and_flags_the_others(nights):
    base, same, worse, other = (nights[k + "_cli"] for k in ("base", "same", "worse", "other"))
    assert base.exit_code == 0, base.output
    assert "baseline: none (first night)" in base.stdout and "(new last-good)" in base.stdout
    assert same.exit_code == 0 and "(new last-good)" in same.stdout
    assert worse.exit_code == 1, worse.output
    assert "REGRESSION device=cpu,dtype=float64,size=96: warm_s" in worse.stdout
    assert other.exit_code == 2 and "no cell in common" in other.stderr
    last_good = nights["root"] / "tests" / "nightly" / "LAST_GOOD"
    assert last_good.read_text().strip() == nights["same"].stamp  # regressed nights are not
    verdict = json.loads((nights["worse"].path / "regressions.json").read_text())
    assert verdict["exit_code"] == 1 and verdict["base"]["stamp"] == nights["same"].stamp
    assert "warm_s" in (nights["worse"].path / "regressions.md").read_text()
    assert "no baseline" in (nights["base"].path / "regressions.md").read_text()
