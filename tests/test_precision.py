"""The engine renders with full float32 matmuls whatever the process allows (TF32 off)."""

from __future__ import annotations

import pytest
import torch

from simulator import Simulation, kernels
from simulator.precision import ENGINE_MATMUL_PRECISION, pinned_matmul_precision

TOPHAT = (
    "-default_F 100 -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -tophat_spots "
    "-detpixels 96"
)


@pytest.fixture
def tf32_process():
    """A process that allows TF32, as many training scripts set it; restored afterwards."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    yield
    torch.set_float32_matmul_precision(before)


def test_the_pin_holds_inside_and_restores_outside(tf32_process):
    with pinned_matmul_precision():
        assert torch.get_float32_matmul_precision() == ENGINE_MATMUL_PRECISION == "highest"
        assert torch.backends.cuda.matmul.allow_tf32 is False
    assert torch.get_float32_matmul_precision() == "high"
    with pytest.raises(ZeroDivisionError), pinned_matmul_precision():
        _ = 1 / 0
    assert torch.get_float32_matmul_precision() == "high"  # restored after an error too


def test_the_engine_contracts_under_highest_in_a_tf32_process(tf32_process, monkeypatch):
    seen: list[str] = []
    real = kernels.torch.tensordot

    def watching_tensordot(*args, **kwargs):
        seen.append(torch.get_float32_matmul_precision())
        return real(*args, **kwargs)

    monkeypatch.setattr(kernels.torch, "tensordot", watching_tensordot)
    sim = Simulation.from_flags(TOPHAT)
    sim.render()
    assert seen and set(seen) == {"highest"}
    assert torch.get_float32_matmul_precision() == "high"  # the caller's setting is back
    assert sim.report()["matmul_precision"] == "highest"


@pytest.mark.gpu
def test_a_tf32_process_renders_the_same_cuda_image_as_a_highest_one(tf32_process):
    with pinned_matmul_precision():
        reference = Simulation.from_flags(TOPHAT, device="cuda").render()
    image = Simulation.from_flags(TOPHAT, device="cuda").render()
    assert torch.equal(image, reference)
