"""The noise image without the C binary: the generator from its definition, Poisson statistics,
the C program's clipping, overloads and order of draws, and the engine against the built-in
reference on the noise cases."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from analysis.parity.tolerances import NOISE_EQUAL_FRACTION
from simulator import Simulation, parse_flags, resolve
from simulator.c_random import Ran1, new_state
from simulator.image_files import read_smv
from simulator.noise import noise_image
from simulator.parity_cases import NOISE_CASES, case_flags, write_case_data
from simulator.reference.builtin import render_setup, warm_up

IM = 2147483647  # 2^31 - 1


def lehmer(n: int, seed: int = 1) -> int:
    """The n-th iterate of x -> 16807·x mod (2^31 - 1), by modular exponentiation."""
    return pow(16807, n, IM) * seed % IM


def test_generator_is_the_minimal_standard_one():
    # Park & Miller's published check: from x0 = 1 the 10000th iterate is 1043618065.
    # Seeding loads the table with 40 iterates, then each deviate takes one more.
    rng = Ran1()
    rng.seed(-1)
    for _ in range(10000 - 40):
        rng.next()
    assert rng.state[0] == lehmer(10000) == 1043618065


def test_deviates_are_the_bays_durham_shuffle_of_the_iterates():
    # Table after seeding: iv[j] = x_(40-j), iy = x_40. Deviate n: j = iy // (1 + (IM-1)//32),
    # output iv[j], then iv[j] = x_(40+n); every deviate is float32(output / IM).
    seed = 12345
    table = [lehmer(40 - j, seed) for j in range(32)]
    iy = table[0]
    expected = []
    for n in range(1, 2001):
        j = iy // (1 + (IM - 1) // 32)
        iy = table[j]
        table[j] = lehmer(40 + n, seed)
        expected.append(min(float(np.float32(iy / IM)), float(np.float32(1.0 - 1.2e-7))))
    rng = Ran1()
    rng.seed(-seed)
    assert [rng.next() for _ in expected] == expected


def test_seeds_zero_and_one_start_the_same_stream():
    # C: a seed word of 0 or -1 both (re)load the table from idum = 1
    image = np.full((16, 16), 3.0)
    a, b = noise_image(image, 0), noise_image(image, 1)
    assert np.array_equal(a.pixels, b.pixels)
    assert not np.array_equal(a.pixels, noise_image(image, 2).pixels)


@pytest.mark.parametrize("mean", [0.3, 4.0, 11.9, 12.0, 45.0, 3000.0, 2.0e6])
def test_poisson_statistics(mean):
    # one branch per range: direct (< 12), rejection (12 .. 1e6), Gaussian (> 1e6)
    image = np.full((256, 256), mean)
    noisy = noise_image(image, seed=7, adc=0.0)
    n = image.size
    if mean > 65535:  # every pixel clipped: an overload each; the photon sum is unclipped
        assert noisy.overloads == n and np.all(noisy.pixels == 65535)
        assert abs(noisy.photons / n - mean) < 5 * np.sqrt(mean / n)
        return
    counts = noisy.pixels.astype(np.float64)
    assert noisy.overloads == 0 and noisy.photons == counts.sum()
    assert abs(counts.mean() - mean) < 5 * np.sqrt(mean / n)
    assert counts.var() == pytest.approx(mean, rel=5 * np.sqrt(2 / n) + 0.01)
    assert np.array_equal(counts, np.round(counts))


def test_adc_overloads_and_truncation():
    image = np.full((32, 32), 5.0)
    base = noise_image(image, seed=3, adc=0.0)
    counts = base.pixels.astype(np.int64)
    # the same draws with any offset; the sum plus offset is truncated to an integer
    shifted = noise_image(image, seed=3, adc=40.7)
    assert np.array_equal(shifted.pixels.astype(np.int64), counts + 40)
    assert shifted.photons == base.photons
    # near full scale: exactly the pixels pushed past 65535 are overloads, stored as 65535
    top = noise_image(image, seed=3, adc=65530.0)
    over = counts + 65530 > 65535
    assert top.overloads == int(over.sum()) > 0
    assert np.array_equal(top.pixels, np.where(over, 65535, counts + 65530))
    # a negative total wraps as C's (unsigned short) of a 32-bit int does
    dark = noise_image(np.zeros((4, 4)), seed=3, adc=-5.0)
    assert np.all(dark.pixels == 65531)


def test_region_of_interest_is_drawn_alone_in_row_order():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 30, (40, 50))
    roi = (5, 30, 10, 25)  # xmin, xmax, ymin, ymax, inclusive
    noisy = noise_image(image, seed=21, roi=roi)
    crop = noise_image(image[10:26, 5:31], seed=21)
    assert np.array_equal(noisy.pixels[10:26, 5:31], crop.pixels)
    outside = np.ones(image.shape, bool)
    outside[10:26, 5:31] = False
    assert np.all(noisy.pixels[outside] == 0) and noisy.photons == crop.photons


def test_negative_seed_continues_the_shuffle_table():
    image = np.full((8, 8), 2.0)
    rng = Ran1()
    rng.state = table = new_state(-99)
    for _ in range(5):
        rng.next()  # the earlier streams (mosaic domains) fill the table
    fresh = noise_image(image, seed=-7)
    continued = noise_image(image, seed=-7, table=table)
    assert not np.array_equal(fresh.pixels, continued.pixels)
    # a non-negative seed reloads the table: what came before does not matter
    assert np.array_equal(noise_image(image, 7, table=table).pixels, noise_image(image, 7).pixels)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_case_data(tmp_path_factory.mktemp("noise"))


@pytest.mark.parametrize("case", list(NOISE_CASES))
def test_engine_noise_matches_builtin_reference(case, data):
    cfg = parse_flags(case_flags(case, data))
    setup = resolve(cfg)
    warm_up(setup)
    out = cfg.output
    table = setup.notes["ran1_state"]
    ref = noise_image(render_setup(setup), out.seed, out.adc, setup.roi, table)
    image = Simulation(setup, dtype="float64").render().numpy()
    ours = noise_image(image, out.seed, out.adc, setup.roi, table)
    assert np.mean(ours.pixels == ref.pixels) >= NOISE_EQUAL_FRACTION
    assert ours.overloads == ref.overloads


def test_command_line_writes_the_noise_image_and_reports_it(tmp_path):
    flags = NOISE_CASES["noise_overloads"].replace("-detpixels 96", "-detpixels 48").split()
    out = subprocess.run(
        [sys.executable, "-m", "simulator", *flags, "-noisefile", "n.img"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    cfg = parse_flags(flags)
    setup = resolve(cfg)
    image = Simulation(setup).render().double().numpy()
    expected = noise_image(image, 4, 65500.0, setup.roi, setup.notes["ran1_state"])
    assert expected.overloads > 0
    assert expected.report() in out.stdout.splitlines()
    _, pixels = read_smv(tmp_path / "n.img")
    assert np.array_equal(pixels, expected.pixels)
