"""Tricubic structure-factor interpolation: the kernels against their formulas.

nanoBragg's interpolation is a tensor product of cubic Lagrange polynomials through the
4×4×4 grid points around (h, k, l): it returns the grid value at whole indices and
reproduces exactly any F that is a cubic polynomial along each axis.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from simulator.reference.builtin_terms import interpolation_out_of_range, tricubic_F
from simulator.tricubic import (
    amplitudes_until_out_of_range,
    first_in_order,
    lagrange_weights,
    out_of_range,
    tricubic_structure_factor,
)

DTYPES = [torch.float32, torch.float64]
ORIGIN = (-6, -5, -4)
SIZES = (13, 11, 9)  # h -6..6, k -5..5, l -4..4


def _table(dtype: torch.dtype) -> torch.Tensor:
    rng = np.random.default_rng(3)
    return torch.tensor(rng.uniform(5.0, 300.0, SIZES), dtype=dtype)


def _cubic_table(dtype: torch.dtype) -> tuple[torch.Tensor, callable]:
    """F(h, k, l) = p(h)·q(k)·r(l) with cubic p, q, r, sampled on the grid."""

    def f(h, k, l):  # noqa: E741
        return (
            (0.3 * h**3 - h**2 + 2.0 * h + 40.0)
            * (-0.2 * k**3 + 0.5 * k + 30.0)
            * (0.1 * l**3 + 0.7 * l**2 - l + 20.0)
        )

    h, k, l = np.meshgrid(  # noqa: E741
        *(np.arange(o, o + n, dtype=np.float64) for o, n in zip(ORIGIN, SIZES, strict=True)),
        indexing="ij",
    )
    return torch.tensor(f(h, k, l), dtype=dtype), f


@pytest.mark.parametrize("dtype", DTYPES)
def test_weights_partition_unity_and_pick_the_node_at_whole_indices(dtype):
    t = torch.linspace(0.0, 0.999, 101, dtype=dtype)
    w = lagrange_weights(t)
    assert w.shape == (4, 101)
    torch.testing.assert_close(w.sum(0), torch.ones_like(t))
    at_zero = lagrange_weights(torch.zeros(1, dtype=dtype))[:, 0]
    assert at_zero.tolist() == [0.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_reproduces_F_exactly_at_integer_hkl(dtype):
    table = _table(dtype)
    grid = torch.stack(
        torch.meshgrid(torch.arange(-4, 5), torch.arange(-3, 4), torch.arange(-2, 3), indexing="ij")
    ).reshape(3, -1)
    got = tricubic_structure_factor(grid.to(dtype), table, ORIGIN)
    index = grid - torch.tensor(ORIGIN)[:, None]
    want = table[index[0], index[1], index[2]]
    assert torch.equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reproduces_a_cubic_polynomial_between_the_grid_points(dtype):
    table, f = _cubic_table(dtype)
    rng = np.random.default_rng(11)
    hkl = np.stack([rng.uniform(-4, 4, 500), rng.uniform(-3, 3, 500), rng.uniform(-2, 2, 500)])
    got = tricubic_structure_factor(torch.tensor(hkl, dtype=dtype), table, ORIGIN)
    want = torch.tensor(f(*hkl), dtype=dtype)
    scale = float(table.abs().max())  # float32: rounding of the products, on the table's scale
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    torch.testing.assert_close(got, want, rtol=0.0, atol=tol * scale)


@pytest.mark.parametrize("dtype", DTYPES)
def test_keeps_a_batch_shape(dtype):
    table = _table(dtype)
    hkl = torch.zeros(3, 2, 5, dtype=dtype) + 0.25
    assert tricubic_structure_factor(hkl, table, ORIGIN).shape == (2, 5)


def test_out_of_range_follows_the_C_rule_at_each_edge():
    # inside for h_min + 2 <= h <= h_max - 2 (h: -4..4, k: -3..3, l: -2..2)
    inside = [[-4.0, 4.0, 0.0], [-3.0, 3.0, 0.0], [-2.0, 2.0, 0.0]]
    assert not out_of_range(torch.tensor(inside, dtype=torch.float64), ORIGIN, SIZES).any()
    eps = 1e-9
    for axis, (low, high) in enumerate(((-4.0, 4.0), (-3.0, 3.0), (-2.0, 2.0))):
        for value in (low - eps, high + eps):
            point = torch.zeros(3, 1, dtype=torch.float64)
            point[axis] = value
            assert out_of_range(point, ORIGIN, SIZES).all(), (axis, value)


def test_first_in_order_finds_the_first_true_or_reports_none():
    flags = torch.tensor([[False, False], [True, True]])
    assert int(first_in_order(flags)) == 2
    assert int(first_in_order(torch.zeros(2, 3, dtype=torch.bool))) == 6


@pytest.mark.parametrize("dtype", DTYPES)
def test_interpolation_stops_at_the_first_eligible_out_of_range_sample(dtype):
    table = _table(dtype)
    # 2 sources/orientations (J) x 4 positions (N); visiting order is n·J + j
    hkl = torch.full((3, 2, 4), 0.5, dtype=dtype)
    hkl[0, 1, 1] = 5.5  # out of range at (j=1, n=1): visiting index 3
    hkl[0, 0, 0] = 9.0  # out of range too, but the C loop never reaches it (ineligible)
    eligible = torch.ones(2, 4, dtype=torch.bool)
    eligible[0, 0] = False
    nearest = torch.full((2, 4), -1.0, dtype=dtype)
    amplitude, first = amplitudes_until_out_of_range(hkl, table, ORIGIN, nearest, eligible)
    assert int(first) == 3
    order = torch.arange(4)[None, :] * 2 + torch.arange(2)[:, None]
    assert torch.all(amplitude[order >= 3] == -1.0)
    assert torch.all(amplitude[(order < 3)] != -1.0)
    _, none = amplitudes_until_out_of_range(hkl, table, ORIGIN, nearest, eligible & False)
    assert int(none) == 8


def test_builtin_reference_interpolates_like_the_engine_kernel():
    """Two independent implementations (Numba polin3 order vs torch weights) agree."""
    table = _table(torch.float64)
    F = table.numpy()
    hkl_min = np.array(ORIGIN, np.int64)
    rng = np.random.default_rng(2)
    points = np.stack([rng.uniform(-4, 4, 200), rng.uniform(-3, 3, 200), rng.uniform(-2, 2, 200)])
    want = tricubic_structure_factor(torch.tensor(points), table, ORIGIN).numpy()
    got = np.array([tricubic_F(*point, F, hkl_min) for point in points.T])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    outside = out_of_range(torch.tensor(points + 0.6), ORIGIN, SIZES).numpy()
    flagged = [interpolation_out_of_range(*p, F, hkl_min) for p in (points + 0.6).T]
    assert outside.tolist() == flagged


def test_builtin_reference_imports_no_engine_code():
    """The built-in engine is an independent implementation: no engine or kernel imports."""
    import ast
    from pathlib import Path

    import simulator.reference.builtin as builtin

    engine_side = {
        "simulator.engine",
        "simulator.kernels",
        "simulator.tricubic",
        "simulator.curved_detector",
        "simulator.normalisation",
    }
    folder = Path(builtin.__file__).parent
    for name in ("builtin.py", "builtin_terms.py"):
        tree = ast.parse((folder / name).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not imported & engine_side, (name, imported & engine_side)
