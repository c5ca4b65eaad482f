"""``-curved_det``: every pixel at the same distance from the sample (no C binary needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from simulator import constants
from simulator.curved_detector import curved_positions, rotate_about
from simulator.engine import Simulation
from simulator.flags import parse_flags
from simulator.reference.builtin import render_setup
from simulator.reference.builtin_terms import curved_position
from simulator.resolve import resolve

DTYPES = [torch.float32, torch.float64]
MOSFLM = {  # beam, slow, fast
    "beam": (1.0, 0.0, 0.0),
    "sdet": (0.0, -1.0, 0.0),
    "fdet": (0.0, 0.0, 1.0),
}


def _frame(dtype):
    return [torch.tensor(MOSFLM[k], dtype=dtype) for k in ("beam", "sdet", "fdet")]


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_position_is_at_the_distance(dtype):
    beam, sdet, fdet = _frame(dtype)
    y = torch.linspace(-0.05, 0.05, 101, dtype=dtype)
    z = torch.linspace(0.04, -0.03, 101, dtype=dtype)
    pos = curved_positions(y, z, 0.1, beam, sdet, fdet)
    rtol = 1e-12 if dtype == torch.float64 else 1e-6
    torch.testing.assert_close(pos.norm(dim=0), torch.full_like(y, 0.1), rtol=rtol, atol=0.0)


def test_lab_y_is_an_arc_length_about_the_slow_axis():
    beam, sdet, fdet = _frame(torch.float64)
    y = torch.tensor([0.0, 0.01, -0.02], dtype=torch.float64)
    pos = curved_positions(y, torch.zeros_like(y), 0.1, beam, sdet, fdet)
    angle = torch.acos(pos[0] / 0.1)  # from the beam (x)
    torch.testing.assert_close(angle, y.abs() / 0.1)
    assert torch.all(pos[1] == 0)  # a rotation about the slow axis (lab y) stays in x-z


def test_rodrigues_rotation_is_right_handed():
    z_axis = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    x = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    out = rotate_about(x, z_axis, torch.tensor([math.pi / 2], dtype=torch.float64))
    torch.testing.assert_close(out[:, 0], torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))


def test_builtin_mapping_matches_the_kernel():
    beam, sdet, fdet = _frame(torch.float64)
    det = np.array([MOSFLM["fdet"], MOSFLM["sdet"]])
    for y, z in ((0.013, -0.007), (-0.02, 0.031)):
        want = curved_positions(
            torch.tensor([y], dtype=torch.float64), torch.tensor([z], dtype=torch.float64),
            0.08, beam, sdet, fdet,
        )[:, 0].numpy()  # fmt: skip
        got = curved_position(y, z, 0.08, np.array(MOSFLM["beam"]), det)
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-18)


FLAT_FIELD = (
    "-default_F 10 -cell 100 100 100 90 90 90 -N 1 -lambda 1 -distance 80 -detpixels 48 "
    "-pixel 0.5 -nopolar -point_pixel"
)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_curved_detector_image_is_flat_for_a_featureless_crystal(dtype):
    """F = const, F_latt = 1, no polarisation, ω = 1/R²: pixel ∝ 1/R², so on the curved
    detector every pixel equals r_e²·fluence·F²/distance²; on the flat one it falls off."""
    want = constants.R_E_SQR * constants.DEFAULT_FLUENCE * 100.0 / 0.08**2
    curved = Simulation(parse_flags(FLAT_FIELD + " -curved_det"), dtype=dtype).render()
    rtol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(curved.double().numpy(), want, rtol=rtol)
    flat = Simulation(parse_flags(FLAT_FIELD), dtype=dtype).render().double().numpy()
    assert flat.min() < 0.97 * want  # 1/R² falls off towards the corners
    builtin = render_setup(resolve(parse_flags(FLAT_FIELD + " -curved_det")))
    np.testing.assert_allclose(builtin, want, rtol=1e-12)


def test_curved_detector_survives_rotations_and_sensor_layers():
    flags = FLAT_FIELD + " -curved_det -detector_rotx 5 -twotheta 12 -detector_thick 50"
    flags += " -detector_thicksteps 3 -detector_abs 300 -oversample 2"
    engine = Simulation(parse_flags(flags), dtype="float64").render().numpy()
    builtin = render_setup(resolve(parse_flags(flags)))
    np.testing.assert_allclose(engine, builtin, rtol=1e-10)
