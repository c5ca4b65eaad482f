"""The case matrix on real flags: built-in reference vs the C binary and vs the PyTorch engine.

Every flag group the Setup carries appears in at least one case: cell/misset/HKL, the four
spot shapes with fudge, polarisation (Kahn, nopolar), point_pixel, oversample and the
oversample_* flags, detector thickness, dmin, roi, mask, water, mosaic, phi, divergence,
dispersion, and each detector convention with rotations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis.parity.metrics import compare_images
from analysis.parity.tolerances import STRICT_CORR
from simulator import parse_flags, resolve
from simulator.parity_cases import PARITY_CASES, write_case_data
from simulator.reference import render_reference
from simulator.reference.builtin import render_setup, warm_up
from simulator.testing import BUILTIN_VS_ENGINE_CORR, BUILTIN_VS_ENGINE_SUM_TOL

CASES = PARITY_CASES


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """The files the cases read (HKL, matrix, sources, mask), written once."""
    return write_case_data(tmp_path_factory.mktemp("matrix"))


def builtin_image(flags: str) -> tuple[np.ndarray, object]:
    setup = resolve(parse_flags(flags))
    warm_up(setup)
    return render_setup(setup), setup


@pytest.mark.cbin
@pytest.mark.parametrize("case", list(CASES))
def test_builtin_matches_c_binary(case, data, c_binary, monkeypatch):
    # one C thread: with phi = 0 the C program reuses the previous pixel's orientation, and
    # the first pixel each thread renders starts fresh; with one thread that is pixel (0, 0)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    flags = CASES[case].format(data=data)
    img, setup = builtin_image(flags)
    # the farm's path: to_flags(cfg) through the adapter
    ref = render_reference("nanobragg", parse_flags(flags), c_bin=c_binary).image
    if case == "phi":
        img[0, 0] = ref[0, 0]
    rep = compare_images(img, ref, setup=setup)
    assert rep.corr >= STRICT_CORR and rep.passes_strict, rep.reasons
    # the C program stores float32: agreement to float32 rounding of the brightest pixel
    assert np.max(np.abs(img - ref)) <= 1e-6 * np.max(np.abs(ref))


@pytest.mark.parametrize("case", list(CASES))
def test_builtin_matches_pytorch_engine_float64(case, data):
    from simulator import Simulation

    flags = CASES[case].format(data=data)
    img, _ = builtin_image(flags)
    engine = Simulation.from_flags(flags, device="cpu", dtype="float64").render()
    got = engine.detach().cpu().numpy()
    rep = compare_images(got, img)
    assert rep.corr >= BUILTIN_VS_ENGINE_CORR, (case, rep.corr)
    assert abs(rep.sum_ratio - 1.0) <= BUILTIN_VS_ENGINE_SUM_TOL, (case, rep.sum_ratio)
