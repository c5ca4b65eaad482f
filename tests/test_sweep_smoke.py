"""The smoke grid through `farm sweep`: real Ray, the real simulator and builtin reference,
real torch.profiler traces and Parquet tables; then every bundle file is checked.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from analysis.tables.schema import CORRELATIONS, RUNS, SCHEMA_VERSION
from farm.cli import app
from farm.grid import load_grid

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
OLD_FIELDS = [
    "size",
    "pixels",
    "c_time",
    "py_time_cold",
    "py_time_warm",
    "py_setup_cold",
    "py_setup_warm",
    "py_sim_cold",
    "py_sim_warm",
    "py_mem_cold",
    "py_mem_warm",
    "speedup_cold",
    "speedup_warm",
    "correlation_cold",
    "correlation_warm",
]


@pytest.fixture(scope="module")
def smoke(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smoke")
    text = (ROOT / "configs" / "smoke.toml").read_text()
    assert "collect_tests = false" in text
    grid_path = tmp / "smoke.toml"
    grid_path.write_text(text.replace("collect_tests = false", "collect_tests = true"))
    reports = tmp / "reports"
    result = CliRunner().invoke(
        app, ["sweep", "--grid", str(grid_path), "--reports", str(reports), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    [bundle] = (reports / "smoke" / "smoke").iterdir()
    return {
        "bundle": bundle,
        "output": result.stdout,
        "stderr": result.stderr,
        "grid": load_grid(grid_path),
    }


def test_cli_reports_the_bundle(smoke):
    out = smoke["output"]
    assert f"bundle: {smoke['bundle']}" in out
    assert re.search(r"cells: 4 ok, 0 failed, 0 skipped, 0 pending; [\d.]+ s \(Ray reused", out)
    assert re.fullmatch(r"\d{8}T\d{6}Z", smoke["bundle"].name)
    stamp = smoke["bundle"].name
    assert out.splitlines()[-3:] == [
        "next:",
        f"  open {smoke['bundle'] / 'report.html'}",
        f"  farm rank {stamp} --reports {smoke['bundle'].parents[2]}",
    ]


def test_bundle_has_every_file_of_the_task(smoke):
    b = smoke["bundle"]
    for name in (
        "commands.txt",
        "env.json",
        "grid.toml",
        "pytest_collect.log",
        "benchmark_results.json",
        "correlation.txt",
        "summary.md",
        "report.html",
        "torch_env.txt",
        "profile/run.log",
        "profile/benchmark_results.json",
        "notes/README.md",
    ):
        assert (b / name).is_file() and (b / name).stat().st_size > 0, name
    for cell in smoke["grid"].cells():
        assert (b / "profile" / cell.tag / "trace.json.gz").is_file(), cell.tag
        assert (b / "tables" / "runs" / f"part-{cell.cell_id}.parquet").is_file()
        assert (b / "tables" / "correlations" / f"part-{cell.cell_id}.parquet").is_file()
    assert not list(b.rglob(".*.tmp"))


def test_run_log_is_what_the_console_showed_in_plain_text(smoke):
    log = (smoke["bundle"] / "profile" / "run.log").read_text()
    assert "\x1b" not in log and "\r" not in log
    lines = log.splitlines()
    # the last lines are the command's own, as printed (stdout; stderr had nothing)
    printed = smoke["output"].splitlines()
    assert smoke["stderr"] == "" and lines[-len(printed) :] == printed
    progress = lines[: -len(printed)]
    assert all(re.match(r"\[\d+:\d\d:\d\d\] ", line) for line in progress), progress
    for k, cell in enumerate(smoke["grid"].cells(), 1):
        [done] = [x for x in progress if x.endswith(f"; last: {cell.tag}: ok")][:1]
        assert f"] cells: {k}/4 cells done, " in done, done
    assert (
        progress[-1].startswith("[")
        and "] done: 4/4 cells done, 0 running, 0 failed" in (progress[-1])
    )
    stamps = [
        int(a) * 3600 + int(b) * 60 + int(c)
        for a, b, c in re.findall(r"^\[(\d+):(\d\d):(\d\d)\]", log, re.M)
    ]
    assert stamps == sorted(stamps)


def test_profile_holds_the_same_benchmark_results(smoke):
    b = smoke["bundle"]
    copy = (b / "profile" / "benchmark_results.json").read_bytes()
    assert copy == (b / "benchmark_results.json").read_bytes()
    assert not (b / "profile" / "benchmark_results.json").is_symlink()


def test_torch_env_txt_is_collect_env_of_the_driver(smoke):
    import torch

    text = (smoke["bundle"] / "torch_env.txt").read_text()
    assert f"PyTorch version: {torch.__version__}" in text
    assert "RuntimeWarning" not in text  # stdout only, like `> torch_env.txt`
    log = (smoke["bundle"] / "commands.txt").read_text()
    assert re.search(
        r"-m torch\.utils\.collect_env\n-> exit 0 \(output in torch_env\.txt; [\d.]+ s in the "
        r"background after the cells, [\d.]+ s of it waited for\)",
        log,
    )


def test_notes_folder_says_what_it_is_for(smoke):
    readme = (smoke["bundle"] / "notes" / "README.md").read_text()
    assert readme.startswith("# notes/\n") and "Phase B2 reader" in readme
    assert [p.name for p in (smoke["bundle"] / "notes").iterdir()] == ["README.md"]


def test_traces_are_real_profiler_traces(smoke):
    for cell in smoke["grid"].cells():
        path = smoke["bundle"] / "profile" / cell.tag / "trace.json.gz"
        trace = json.loads(gzip.decompress(path.read_bytes()))
        names = {e.get("name", "") for e in trace["traceEvents"]}
        assert any(n.startswith("aten::") for n in names), cell.tag
        assert any(e.get("cat") == "python_function" for e in trace["traceEvents"])


def test_commands_txt_records_every_command_with_exit_codes(smoke):
    log = (smoke["bundle"] / "commands.txt").read_text()
    assert "$ farm sweep --grid " in log
    for cmd in ("$ git rev-parse HEAD", "$ git status --short", "$ uname -a"):
        assert cmd in log
        assert re.search(re.escape(cmd) + r"\n-> exit \d+", log)
    assert re.search(r"-m pytest --collect-only -q\n-> exit 0 \(output in pytest_collect.log", log)
    # one reference per distinct (size, flags), shared by both dtypes
    refs = re.findall(r"builtin reference, ok", log)
    assert len(refs) == 2
    assert log.rstrip().splitlines()[-1].startswith("-> exit 0 (")


def test_env_json_describes_machine_threads_and_ray(smoke):
    import platform

    import ray
    import torch

    env = json.loads((smoke["bundle"] / "env.json").read_text())
    assert env["python"] == platform.python_version()
    assert env["torch"] == torch.__version__
    assert env["torch_cuda"] == torch.version.cuda
    assert env["cuda_available"] is torch.cuda.is_available()
    assert env["device_count"] == torch.cuda.device_count()
    assert env["gpu_names"] == [
        torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
    ]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert env["git_sha"] == head.stdout.strip()
    assert env["stamp"] == smoke["bundle"].name
    assert env["driver_host"] == socket.gethostname()
    assert env["ray"]["version"] == ray.__version__
    assert env["ray"]["how"] == "this process was already connected to Ray"
    assert env["concurrent_sweeps"] == []
    assert env["ray"]["cluster_resources"]["CPU"] == 2
    assert env["ray"]["nodes"][0]["hostname"] == socket.gethostname()
    assert env["threads"]["cpus_per_actor"] == 2
    assert env["threads"]["cpu_actor_torch_threads"] == 2
    assert env["workers"] and env["workers"][0]["torch_threads"] == 2
    assert "OMP_NUM_THREADS" in env["workers"][0]["env_threads"]
    assert env["cell_nodes"] == [socket.gethostname()]
    assert env["schema_version"] == SCHEMA_VERSION


def test_pytest_collect_log_and_count_in_summary(smoke):
    log = (smoke["bundle"] / "pytest_collect.log").read_text()
    count = int(re.search(r"(\d+) tests? collected", log).group(1))
    assert count > 10
    assert (
        f"- Tests collected: {count} (`pytest --collect-only -q` exit 0"
        in (smoke["bundle"] / "summary.md").read_text()
    )


def test_benchmark_results_keep_the_old_field_names(smoke):
    results = json.loads((smoke["bundle"] / "benchmark_results.json").read_text())
    assert [r["tag"] for r in results] == [c.tag for c in smoke["grid"].cells()]
    for r in results:
        for name in [*OLD_FIELDS, "device", "dtype", "target"]:
            assert name in r, name
        assert r["target"] == "simulator" and r["device"] == "cpu"
        assert r["pixels"] == r["size"] ** 2
        assert r["py_time_cold"] == pytest.approx(r["py_setup_cold"] + r["py_sim_cold"])
        # the built-in reference is no C binary: c_time and speed-ups are the C program's only
        assert r["reference_engine"] == "builtin" and r["reference_time"] > 0
        assert r["c_time"] is None and r["speedup_warm"] is None and r["speedup_cold"] is None
        assert r["correlation_warm"] >= 0.999 and r["correlation_cold"] >= 0.999
        assert r["iterations"] == 3 and len(r["py_time_warm_samples"]) == 3
        assert r["warmups"] == 1
        assert r["profile_ratio"] == pytest.approx(r["py_time_profiled"] / r["py_time_warm"])
        assert "profile_overhead" not in r


def test_correlation_txt_has_one_verdict_per_cell(smoke):
    lines = (smoke["bundle"] / "correlation.txt").read_text().splitlines()
    body = [line for line in lines if not line.startswith("#")]
    assert [line.split("\t")[0] for line in body] == [c.tag for c in smoke["grid"].cells()]
    for line in body:
        assert re.search(r"corr=0\.99\d+|corr=1\.0+", line) and "verdict=pass" in line


def test_runs_table(smoke):
    runs = pq.read_table(smoke["bundle"] / "tables" / "runs")
    assert set(RUNS.names) <= set(runs.column_names)
    rows = runs.to_pylist()
    assert len(rows) == 4 * (1 + 3 + 3)  # cold, 3 warm, 3 profiled (warm-up: no row)
    records = {
        r["cell_id"]: r
        for r in json.loads((smoke["bundle"] / "benchmark_results.json").read_text())
    }
    for r in rows:
        assert r["schema_version"] == SCHEMA_VERSION
        assert r["stamp"] == smoke["bundle"].name
        assert r["status"] == "ok" and r["threads"] == 2
        assert r["sim_s"] > 0 and r["throughput_px_s"] == pytest.approx(r["pixels"] / r["sim_s"])
        assert json.loads(r["params"])["flags"].startswith("-default_F 100")
    for cell_id, rec in records.items():
        mine = [r for r in rows if r["cell_id"] == cell_id]
        cold = [r["peak_mem_mb"] for r in mine if r["phase"] == "cold"]
        warm = [r["peak_mem_mb"] for r in mine if r["phase"] == "warm"]
        # the record's memory is the rows' (peak RSS of an actor that holds torch: >= 100 MiB)
        assert cold == [rec["py_mem_cold"]] and max(warm) == rec["py_mem_warm"]
        assert 100 < min(warm) <= rec["py_mem_warm"] < 4096
    phases = sorted((r["phase"], r["iteration"]) for r in rows if r["cell_tag"].endswith("=64"))
    assert phases.count(("cold", 0)) == 2 and phases.count(("profiled", 0)) == 2
    assert phases.count(("profiled", 2)) == 2
    cold = [r for r in rows if r["phase"] == "cold"]
    assert {(r["cold_mode"], r["process_cells"]) for r in cold} == {("process", 0)}
    assert {r["target_package"] for r in rows} == {"simulator"}


def test_correlations_table(smoke):
    corr = pq.read_table(smoke["bundle"] / "tables" / "correlations")
    assert set(CORRELATIONS.names) <= set(corr.column_names)
    rows = corr.to_pylist()
    assert len(rows) == 4
    for r in rows:
        assert r["reference"] == "builtin" and r["status"] == "ok"
        assert r["verdict"] == "pass" and r["corr"] >= 0.999
        assert abs(r["sum_ratio"] - 1) <= 5e-3
        assert r["reference_s"] > 0


def test_ops_table_of_every_cell(smoke):
    ops = pq.read_table(smoke["bundle"] / "tables" / "ops").to_pylist()
    assert {r["cell_id"] for r in ops} == {c.cell_id for c in smoke["grid"].cells()}
    assert all(r["stamp"] == smoke["bundle"].name for r in ops)


def test_summary_md_sections(smoke):
    summary = (smoke["bundle"] / "summary.md").read_text()
    assert "- State: complete" in summary
    for section in (
        "## Timings",
        "## Correlation",
        "## Failures and skips",
        "## Stability warnings",
        "## Commands",
        "## Follow-up hypotheses",
        "## Spec links",
        "## Files",
    ):
        assert section in summary
    files = summary.split("## Files\n")[1]
    for name in ("report.html", "torch_env.txt", "profile/run.log", "notes/README.md"):
        assert f"- `{name}`" in files, name
    assert "- `profile/benchmark_results.json` (the same JSON as" in files
    for cell in smoke["grid"].cells():
        assert f"| {cell.tag} | ok |" in summary
    assert "None." in summary.split("## Failures and skips")[1].split("##")[0]
    assert (
        "; reference `builtin`; 1 untimed warm-up render, then 3 timed warm renders; "
        "one profiled render per cell" in summary
    )


def test_summary_md_prints_words_not_python_values(smoke):
    summary = (smoke["bundle"] / "summary.md").read_text()
    lines = [line for line in summary.splitlines() if line.strip() != "None."]
    for line in lines:
        assert not re.search(r"\b(None|True|False)\b|\[\d|\['", line), line
    assert "torch threads per actor: 2" in summary


def test_analysis_ran(smoke):
    b = smoke["bundle"]
    summary = (b / "summary.md").read_text()
    assert "## Analysis\n\n**" not in summary  # not "Failed" or "Interrupted"
    assert "## Residual Python loops" in summary
    for name in ("hot_loops.csv", "backlog.md"):
        assert (b / name).is_file(), name
    assert list((b / "tables" / "hot_loops").glob("part-*.parquet"))
    assert list((b / "tables" / "loops").glob("part-*.parquet"))
    backlog = (b / "backlog.md").read_text()
    assert (
        "`% of profiled render` (`pct_of_run`) is a share of the cell's representative "
        "profiled render" in backlog
    )
    assert "| device | dtype | size | % of profiled render | counts |" in backlog
    for text in (backlog, summary):
        assert not re.search(r"(share|%) of the (profiled )?warm run\b", text)
        assert "% of run" not in text
    for table in ("hot_lines", "hot_functions", "hot_ops"):
        assert len(list((b / "tables" / table).glob("part-*.parquet"))) == 4, table
    for section in ("## Where the time goes", "## Top-5 kernels by inclusive time"):
        assert section in summary
    csv_lines = (b / "hot_loops.csv").read_text().splitlines()
    assert csv_lines[0] == "module,line,loop_id,%time,call_count,notes"  # the seed's names
    assert all("%time of the profiled render (mean; max " in line for line in csv_lines[1:])
    commands = (b / "commands.txt").read_text()
    assert "# analysis ok: loops of simulator (/" in commands and "packages={" not in commands


def _section(text: str, heading: str) -> str:
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_summary_md_commands_hypotheses_and_spec_links(smoke):
    b = smoke["bundle"]
    summary = (b / "summary.md").read_text()
    commands = _section(summary, "Commands")
    assert "- `$ git rev-parse HEAD` → exit 0\n" in commands
    assert f"- `$ mkdir {b}` → exit 0 (the stamp folder, atomically)" in commands
    assert re.search(
        r"-m pytest --collect-only -q` → exit 0 \(output in pytest_collect\.log; ", commands
    )
    assert "-m torch.utils.collect_env` → runs after this summary" in commands
    hypotheses = _section(summary, "Follow-up hypotheses")
    backlog = (b / "backlog.md").read_text()
    best = re.findall(
        r"Best (.+?) candidate \(backlog\.md #(\d+)\): `([^`]+)`.*?Estimated gain in .+?: "
        r"([\d.]+) ms",
        hypotheses,
    )
    assert best, hypotheses
    for kind, n, where, ms in best:
        entry = backlog.split(f"## {n}. `{where}` {kind}:", 1)[1].split("\n## ", 1)[0]
        assert f"{ms} ms (" in entry, (kind, n, ms)
    assert "No CUDA cell is evidence" in hypotheses  # this grid has CPU cells only
    links = re.findall(r"\]\(([^)#]+)(?:#([^)]+))?\)", _section(summary, "Spec links"))
    assert len(links) >= 7
    for path, _ in links:
        assert (b / path).resolve().is_file(), path
