"""report.html and index.html: from a real sweep's bundle (real Ray, simulator, profiler,
Parquet, DuckDB), then the pieces on their own (fits, crossovers, SVG ids, previews).
"""

from __future__ import annotations

import base64
import html
import math
import re
import struct
import zlib

import numpy as np
import pytest
from report_bundle import FAILING_TAG, relabel_copy
from typer.testing import CliRunner

from analysis.loops.snippets import snippet
from analysis.parity.diff_png import png_bytes, reduce_difference
from analysis.queries.scaling import Fit, crossovers, dtype_ratios
from farm.cli import app
from farm.html.bundle_report import write_bundle_report
from farm.html.history_index import Mark, as_marks, write_history_index

SECTIONS = (
    "summary",
    "scaling",
    "phases",
    "memory",
    "hotspots",
    "cpu-gpu",
    "parity",
    "stability",
    "failures",
    "traces",
    "environment",
)


@pytest.fixture(scope="module")
def swept(report_sweep):
    return report_sweep


@pytest.fixture(scope="module")
def page(swept):
    return (swept["bundle"] / "report.html").read_text(encoding="utf-8")


def _charts(html: str) -> int:
    return len(re.findall(r"<svg data-chart=", html))


# the sweep writes the report ------------------------------------------------------------------


def test_the_sweep_writes_a_self_contained_report(swept, page):
    assert swept["outcome"].counts == {"ok": 4, "failed": 0, "skipped": 4, "pending": 0}
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page, anchor
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert html.unescape(csp).startswith("default-src 'none';")
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(https?:)?//', page), "nothing may point at the network"
    meta = int(re.search(r'<meta name="farm-charts" content="(\d+)">', page).group(1))
    # scaling, float32/float64, phases, memory, CPU vs GPU, correlation, tile maps, and one
    # ranking per grain, device and dtype (loops: cpu float32, cpu float64)
    groups = len(re.findall(r"<figcaption>[^<]*, cpu float(32|64)</figcaption>", page))
    assert groups >= 2
    assert meta == _charts(page) == 7 + groups
    assert len(page.encode()) < 5_000_000


def test_the_report_shows_the_fit_and_the_dtypes(page):
    assert re.search(r"device=cpu,dtype=float32 \(k = -?\d+\.\d\d\)", page)
    assert "float64 / float32" in page
    assert "No series ran on both CPU and GPU" in page  # CUDA cells were skipped


def test_the_ranking_shows_the_loop_beside_its_source(page):
    assert "report_targets.py:" in page
    assert "for _ in range(3):  # a residual Python loop of tiny operators" in page
    assert "Refused as evidence" in page and "failed the parity gate" in page


def test_the_failing_cell_has_its_tile_map_and_difference_image(swept, page):
    assert f"difference image of {FAILING_TAG}" in page
    b64 = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page).group(1)
    png = base64.b64decode(b64)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (64, 64)
    assert (swept["bundle"] / "parity" / FAILING_TAG / "diff.png").is_file()
    assert "Tile maps" in page and "No tile maps" not in page


def test_skips_warnings_traces_and_provenance(swept, page):
    assert page.count("no GPU in the Ray cluster") == 4
    assert "Stability warnings" in page
    assert "ui.perfetto.dev" in page and "nothing is uploaded" in page
    assert 'href="profile/device=cpu,dtype=float32,size=32/trace.json.gz"' in page
    env = (swept["bundle"] / "env.json").read_text()
    sha = re.search(r'"git_sha": "([0-9a-f]+|unknown)"', env).group(1)
    assert sha in page
    assert "grid.toml (the grid as it ran)" in page
    assert "CUDA</th><td>available: no; torch CUDA none (a CPU build)" in page
    assert not re.search(r"<td>(True|False|None)</td>|: (True|False|None)[;<]", page)
    # the facts table: a name in each row's header cell, no empty header row
    assert "<th></th>" not in page and '<table class="facts"><tbody><tr><th scope="row">' in page
    # threads in words (the grid sets threads = 1 and cpus_per_actor = 1), not env.json's keys
    threads = re.search(r'<th scope="row">threads</th><td>([^<]*)</td>', page).group(1)
    assert threads == "each CPU actor: 1 CPU, 1 torch thread; each CUDA actor: 1 torch thread"
    # the Files line names every file at the top of the bundle, and its folders
    files = re.search(r"Files in this bundle: ([^<]*)\.</p>", page).group(1)
    top = {p.name for p in swept["bundle"].iterdir() if p.is_file()} | {"report.html"}
    for name in top | {"grid.toml", "commands.txt", "env.json"}:
        assert name in files, name
    assert "tables/ (" in files and "profile/ (" in files


# farm report ------------------------------------------------------------------------------------


def test_farm_report_rewrites_a_bundle_report(swept):
    reports, stamp = swept["reports"], swept["bundle"].name
    result = CliRunner().invoke(app, ["report", stamp, "--reports", str(reports)])
    assert result.exit_code == 0, result.output
    assert f"wrote {swept['bundle'] / 'report.html'}" in result.output
    assert re.search(r"\(\d+\.\d\d MB, \d+ charts, \d+\.\d s\)", result.output)


def test_farm_report_is_documented_with_an_example():
    result = CliRunner().invoke(app, ["report", "--help"])
    assert result.exit_code == 0 and "Example" in result.stdout
    assert "farm report --history" in result.stdout


def test_farm_report_refuses_what_is_not_there(swept, tmp_path):
    reports = str(swept["reports"])
    for argv, message in [
        (["report", "20000101T000000Z", "--reports", reports], "no bundle with stamp"),
        (["report", "yesterday", "--reports", reports], "is not a stamp"),
        (["report", "--reports", str(tmp_path / "none")], "no such folder"),
        (["report", "--campaign", "tests", "--reports", reports], "go with --history"),
        (["report", "--history", "--campaign", "nope", "--reports", reports], "no bundles"),
    ]:
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 2, (argv, result.output)
        assert result.output.count("\n") == 1 and message in result.output


def test_the_history_index_links_every_bundle_and_draws_marks(swept):
    bundle = swept["bundle"]
    second = relabel_copy(bundle, "20991231T000000Z")
    result = write_history_index(
        swept["reports"],
        "tests",
        "report",
        marks=[(second.name, "device=cpu,dtype=float32,size=64", "regression", "slower")],
    )
    html = result.path.read_text()
    assert result.path == swept["reports"] / "tests" / "report" / "index.html"
    assert result.stamps == 2 and result.charts == _charts(html) == 2
    assert f'href="{bundle.name}/report.html"' in html
    assert (result.path.parent / bundle.name / "report.html").is_file()
    assert f"{second.name}/summary.md" in html and f"farm report {second.name}" in html
    assert "regression" in html and "slower" in html
    cli = CliRunner().invoke(app, ["report", "--history", "--reports", str(swept["reports"])])
    assert cli.exit_code == 0, cli.output
    assert (swept["reports"] / "index.html").is_file()


# the pieces -----------------------------------------------------------------------------------


def _cells(side: str, times: dict[int, float], dtype: str = "float32") -> list[dict]:
    device = "cuda:0" if side == "gpu" else "cpu"
    series = f"device={device},dtype={dtype}"
    return [
        {
            "series": series,
            "device": device,
            "dtype": dtype,
            "size": s,
            "pixels": s * s,
            "status": "ok",
            "warm_s": t,
        }
        for s, t in times.items()
    ]


def _fit(series: str, device: str, k: float, c: float) -> Fit:
    return Fit(series, "t", device, "float32", 3, 256, 1024, k, math.log(c), 1.0)


def test_the_gpu_crossover_is_measured_and_fitted():
    sizes = [256, 512, 1024]
    cpu = _cells("cpu", {s: 1e-8 * s * s for s in sizes})
    gpu = _cells("gpu", {s: 2e-3 + 1e-10 * s * s for s in sizes})
    fits = [
        _fit("device=cpu,dtype=float32", "cpu", 1.0, 1e-8),
        _fit("device=cuda:0,dtype=float32", "cuda:0", 0.5, 2e-3 / 512),
    ]
    [c] = crossovers(cpu + gpu, fits)
    # CPU 0.66 ms vs GPU 2.0 ms at 256; 2.6 ms vs 2.03 ms at 512: the GPU wins from 512
    assert c.measured_size == 512 and "between 256² and 512²" in c.text
    assert c.fitted_pixels == pytest.approx((2e-3 / 512 / 1e-8) ** 2, rel=1e-9)
    [never] = crossovers(_cells("cpu", {256: 1.0}) + _cells("gpu", {256: 2.0}), [])
    assert never.measured_size is None and "CPU is faster at every size" in never.text


def test_float64_over_float32_per_size():
    ratios = dtype_ratios(_cells("cpu", {64: 1.0, 128: 2.0}) + _cells("cpu", {64: 3.0}, "float64"))
    assert ratios == [
        {
            "key": "device=cpu",
            "device": "cpu",
            "size": 64,
            "float32_s": 1.0,
            "float64_s": 3.0,
            "ratio": 3.0,
        }
    ]


def test_the_preview_keeps_the_largest_difference_of_each_block():
    image = np.zeros((1024, 1024))
    image[5, 7] = -9.0  # one bad pixel must survive the reduction
    image[600, 600] = np.nan
    d = reduce_difference(image, np.zeros_like(image), max_side=512)
    assert d.shape == (512, 512) and d[2, 3] == -9.0 and np.isnan(d[300, 300])
    assert np.count_nonzero(np.nan_to_num(d)) == 1
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    png = png_bytes(rgb)
    idat = png[33 + 8 : -12]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(2, 1 + 9)
    assert struct.unpack(">II", png[16:24]) == (3, 2) and (raw[:, 1:] == rgb.reshape(2, 9)).all()


def test_every_chart_on_a_page_has_its_own_ids():
    import altair as alt

    from farm.html.svg import ChartSet, records

    heat = (
        alt.Chart(records([{"x": i, "v": i / 3} for i in range(4)]))
        .mark_rect()
        .encode(x="x:O", color="v:Q")  # a continuous legend: a gradient with an id
    )
    out = ChartSet()
    page = out.render(heat) + out.render(heat)
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert out.count == 2 and len(ids) >= 2 and len(ids) == len(set(ids))
    assert all(i.startswith(("c1-", "c2-")) for i in ids)
    assert set(re.findall(r"url\(#([^)]+)\)", page)) <= set(ids)


def test_a_snippet_says_when_its_file_changed(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "mod.py").write_text("a = 1\nfor i in range(3):\n    a += i\n")
    s = snippet("pkg/mod.py", 2, 3, {"pkg": pkg}, {"pkg/mod.py": "0" * 40})
    assert s.lines == ("for i in range(3):", "    a += i") and s.changed is True
    assert snippet("pkg/other.py", 1, 1, {"pkg": pkg}).missing
    assert snippet(None, None, None, {"pkg": pkg}) is None


def test_marks_from_tuples():
    assert as_marks([("s", None, "change_point")]) == [Mark("s", None, "change_point")]


def test_a_report_of_an_empty_bundle_says_so(tmp_path):
    bundle = tmp_path / "c" / "p" / "20260101T000000Z"
    (bundle / "tables").mkdir(parents=True)
    result = write_bundle_report(bundle)
    html = result.path.read_text()
    assert result.charts == 0 == _charts(html)
    assert "nothing to plot" in html and "env.json is missing" in html


def test_memory_draws_host_and_device_peaks():
    from farm.html.charts import memory

    cells = [
        {
            "series": "device=cuda:0,dtype=float32",
            "pixels": p,
            "mem_peak_mb": 900.0,
            "device_mem_peak_mb": p * 4e-6,
        }
        for p in (65536, 262144)
    ]
    spec = memory(cells).to_dict()
    kinds = [(v["memory"], v["mib"]) for v in spec["data"]["values"]]
    assert kinds.count(("host RSS", 900.0)) == 2
    assert ("device", 262144 * 4e-6) in kinds
    lines, points = spec["layer"]
    assert lines["mark"]["type"] == "line" and points["mark"]["type"] == "point"
    dash = lines["encoding"]["strokeDash"]
    assert dash["field"] == "memory" and dash["scale"]["range"] == [[1, 0], [5, 3]]
    # the legend shows the dash itself (a point-and-line mark's legend would show dots)
    assert dash["legend"]["symbolType"] == "stroke"
    assert "strokeDash" not in points["encoding"]


def test_the_history_index_marks_farm_historys_change_points(report_sweep, tmp_path):
    from night_series import clone_night

    from farm.html.history_marks import change_point_marks

    reports = tmp_path / "reports"
    for night in range(12):
        clone_night(
            report_sweep["bundle"],
            reports,
            night,
            scale=1.5 if night >= 6 else 1.0 + 0.01 * (night % 3),
            commit=f"commit{night:02d}",
            corr=0.99999 - (5e-4 if night >= 9 else 0.0),
        )
    folders = sorted((reports / "tests").iterdir())
    marks = change_point_marks(reports, folders)
    regressions = {(m.stamp, m.cell) for m in marks if m.kind == "regression"}
    parity = {m.stamp for m in marks if m.kind == "parity"}
    night6, night9 = (sorted(folders[0].iterdir())[n].name for n in (6, 9))
    assert {stamp for stamp, _ in regressions} == {night6}
    assert ("device=cpu,dtype=float32,size=64", night6) in {(c, s) for s, c in regressions}
    assert parity == {night9}
    cli = CliRunner().invoke(app, ["report", "--history", "--reports", str(reports)])
    assert cli.exit_code == 0, cli.output
    html = (reports / "index.html").read_text()
    assert html.count(">regression<") >= 4 and "commit06" in html
