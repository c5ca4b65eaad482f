"""Shared test configuration: marker handling for GPU, cluster, C-binary and browser tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from report_bundle import chromium


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _c_binary() -> str | None:
    path = os.environ.get("NB_C_BIN")
    if path and shutil.which(path):
        return shutil.which(path)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip gpu, cluster, cbin and browser tests cleanly where their resource is absent."""
    skip_browser = pytest.mark.skip(
        reason="no Chromium or no playwright (apt-get install chromium)"
    )
    has_browser = chromium() is not None
    skip_gpu = pytest.mark.skip(reason="no CUDA device")
    skip_cluster = pytest.mark.skip(reason="RAY_ADDRESS not set: no Ray cluster to join")
    skip_cbin = pytest.mark.skip(reason="NB_C_BIN not set to an executable nanoBragg")
    has_cuda = _cuda_available()
    has_cluster = bool(os.environ.get("RAY_ADDRESS"))
    has_cbin = _c_binary() is not None
    for item in items:
        if item.get_closest_marker("gpu") is not None and not has_cuda:
            item.add_marker(skip_gpu)
        if item.get_closest_marker("cluster") is not None and not has_cluster:
            item.add_marker(skip_cluster)
        if item.get_closest_marker("cbin") is not None and not has_cbin:
            item.add_marker(skip_cbin)
        if "browser" in item.keywords and not has_browser:
            item.add_marker(skip_browser)


@pytest.fixture(scope="session", autouse=True)
def sweep_registry(tmp_path_factory):
    """The tests' sweeps register in a folder of their own, not in the host's list.

    Other sweeps on a shared machine would otherwise show up as concurrent in the tests'
    bundles; subprocess sweeps inherit the variable.
    """
    from farm.driver.host_sweeps import REGISTRY_ENV

    folder = tmp_path_factory.mktemp("sweep-registry")
    before = os.environ.get(REGISTRY_ENV)
    os.environ[REGISTRY_ENV] = str(folder)
    yield folder
    if before is None:
        os.environ.pop(REGISTRY_ENV, None)
    else:
        os.environ[REGISTRY_ENV] = before


@pytest.fixture(scope="session")
def c_binary() -> str:
    """Path of the nanoBragg C binary named by NB_C_BIN (tests using it are marked cbin)."""
    path = _c_binary()
    if path is None:
        pytest.skip("NB_C_BIN not set")
    return path


@pytest.fixture(scope="session")
def farm_knobs(tmp_path_factory) -> Path:
    """The JSON file that ``python:nightly_targets:scaled`` reads its cost and parity from.

    Named by ``FARM_TEST_KNOBS`` in the environment of the session's Ray (its workers keep
    the environment they started with, so a file is what a test can change between sweeps).
    """
    path = tmp_path_factory.mktemp("knobs") / "knobs.json"
    path.write_text("{}")
    return path


@pytest.fixture(scope="session")
def ray_local(farm_knobs):
    """One local Ray for the whole test session (2 CPUs, no GPU, no dashboard).

    Sweeps run in the test process find it connected and reuse it, so Ray starts once
    (10-20 s here). Its workers get ``tests/`` on ``PYTHONPATH`` so grid targets such as
    ``python:farm_targets:gaussian`` import there too, and ``FARM_TEST_KNOBS`` (see
    :func:`farm_knobs`). It has no GPU even on a GPU machine, so CUDA cells are skipped
    deterministically in the tests that use it.
    """
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        yield ray
        return
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (tests_dir, before) if p)
    os.environ["FARM_TEST_KNOBS"] = str(farm_knobs)
    try:
        ray.init(
            address="local",
            num_cpus=2,
            num_gpus=0,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def report_sweep(ray_local, tmp_path_factory):
    """One real sweep of tests/report_bundle.py's grid, shared by the report tests."""
    from report_bundle import sweep_report_grid

    tmp = tmp_path_factory.mktemp("report")
    progress: list[dict] = []
    grid, outcome = sweep_report_grid(tmp, progress)
    return {
        "progress": progress,
        "grid": grid,
        "outcome": outcome,
        "bundle": outcome.bundle.path,
        "reports": tmp / "reports",
    }
