"""Where nanoBragg turns interpolation off, in the engine and the built-in reference.

The one-thread C program interpolates every sample until the first one (in its loop order:
slow, fast, layer, sub-pixel, source, φ, domain) whose neighbourhood leaves the HKL grid,
and uses nearest-neighbour F from that sample on. The engine renders in blocks; the stop
must not depend on how the image is cut into them.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator import Simulation, parse_flags, resolve
from simulator.parity_cases import case_flags, write_case_data
from simulator.reference.builtin import render_interpolation_stop


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_case_data(tmp_path_factory.mktemp("stop"))


def _render(flags: str, **kwargs):
    simulation = Simulation(parse_flags(flags), dtype="float64", **kwargs)
    return simulation.render().numpy(), simulation.interpolation_stop


@pytest.mark.parametrize("chunk_elements", [300, 5000, 1 << 18, 1 << 26])
def test_stop_is_the_same_whatever_the_block_size(data, chunk_elements):
    flags = case_flags("interpolate_stop", data)
    builtin, builtin_hkl = render_interpolation_stop(resolve(parse_flags(flags)))
    image, stop = _render(flags, chunk_elements=chunk_elements)
    assert (stop.slow, stop.fast) == (61, 0)
    np.testing.assert_allclose(stop.hkl, builtin_hkl, rtol=1e-12)
    np.testing.assert_allclose(image, builtin, rtol=1e-10, atol=1e-12 * builtin.max())


def test_pixels_from_the_stop_on_use_nearest_F(data):
    flags = case_flags("interpolate_stop", data)
    image, stop = _render(flags)
    nearest, none = _render(flags + " -nointerpolate")
    assert none is None
    after = np.zeros(image.shape, bool)
    after[stop.slow, stop.fast + 1 :] = True
    after[stop.slow + 1 :] = True
    np.testing.assert_array_equal(image[after], nearest[after])
    before = ~after
    before[stop.slow, stop.fast] = False
    assert np.mean(image[before] != nearest[before]) > 0.9  # interpolated there


def test_masked_and_cut_pixels_do_not_stop_interpolation(data):
    flags = case_flags("interpolate_stop", data)
    _, masked_stop = _render(case_flags("interpolate_stop_mask", data))
    # rows 55-69, columns 0-19 are masked: the first unmasked sample out of range is (61, 20)
    assert (masked_stop.slow, masked_stop.fast) == (61, 20)
    _, builtin_hkl = render_interpolation_stop(resolve(parse_flags(flags + " -roi 10 95 0 95")))
    _, roi_stop = _render(flags + " -roi 10 95 0 95")
    assert roi_stop.fast >= 10 and roi_stop.slow >= 61
    np.testing.assert_allclose(roi_stop.hkl, builtin_hkl, rtol=1e-12)


def test_no_stop_when_every_sample_is_inside_the_grid(data):
    image, stop = _render(case_flags("interpolate_auto", data))
    builtin, builtin_stop = render_interpolation_stop(
        resolve(parse_flags(case_flags("interpolate_auto", data)))
    )
    assert stop is None and builtin_stop is None
    np.testing.assert_allclose(image, builtin, rtol=1e-10)


def test_command_line_prints_the_C_programs_warning(data, tmp_path):
    import subprocess
    import sys

    flags = case_flags("interpolate_stop", data).split()
    out = subprocess.run(
        [sys.executable, "-m", "simulator", *flags, "--dtype", "float64"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert (
        "WARNING: out of range for three point interpolation: h,k,l,h0,k0,l0: "
        "-0.330579,-4.03306,-3.17355,0,-4,-3" in out.stdout
    )
    assert "WARNING: further warnings will not be printed!" in out.stdout
