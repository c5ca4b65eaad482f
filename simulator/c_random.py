"""nanoBragg's random numbers, reproduced so the same seed gives the same crystal.

nanoBragg draws mosaic domains and random missetting orientations from a Numerical-Recipes
style minimal-standard generator (Park-Miller multiplier 16807, modulus 2^31-1) with a
32-entry Bays-Durham shuffle table, returning single-precision deviates in (0, 1). A
negative seed (re)initialises it. The C program keeps one shuffle table for every stream,
so :class:`Ran1` carries that table explicitly and a caller may share one instance between
streams, as the C program does.

Rotations drawn from it are built the same way the C program builds them, including its
single-precision steps, so domain matrices agree to the last few bits.
"""

from __future__ import annotations

import math

import numpy as np

from simulator.rotation import rotation_axis

_IA = 16807
_IM = 2147483647
_AM = 1.0 / _IM  # a double, as in C: the deviate is rounded to float32 once, from AM·iy
_IQ = 127773
_IR = 2836
_NTAB = 32
_NDIV = 1 + (_IM - 1) // _NTAB
_RNMX = 1.0 - 1.2e-7

#: Words of a generator state: ``[idum, iy, iv[0] … iv[31]]``.
STATE_WORDS = 2 + _NTAB


def new_state(idum: int = 0) -> np.ndarray:
    """A fresh generator state (int64 ``[idum, iy, iv…]``, no shuffle table yet)."""
    state = np.zeros(STATE_WORDS, dtype=np.int64)
    state[0] = idum
    return state


def ran1_step(idum: int, iy: int, iv: np.ndarray) -> tuple[int, int, np.float32]:
    """One call of nanoBragg's ``ran1``: (new ``idum``, new ``iy``, the deviate as float32).

    ``iv`` (int64 [32], the shuffle table) is updated in place. Plain Python calling
    nothing, so :mod:`simulator.noise` compiles this very function with Numba for its
    per-pixel loop. Each step is 16807·idum mod (2^31 - 1) by Schrage's method, as in C;
    idum > 0 there, so floor division is C's truncating division.
    """
    if idum <= 0 or iy == 0:  # (re)seed: load the shuffle table after 8 warm-ups
        idum = 1 if -idum < 1 else -idum
        for j in range(_NTAB + 7, -1, -1):
            k = idum // _IQ
            idum = _IA * (idum - k * _IQ) - _IR * k
            idum = idum + _IM if idum < 0 else idum
            if j < _NTAB:
                iv[j] = idum
        iy = iv[0]
    k = idum // _IQ
    idum = _IA * (idum - k * _IQ) - _IR * k
    idum = idum + _IM if idum < 0 else idum
    j = iy // _NDIV
    iy = iv[j]
    iv[j] = idum
    temp = np.float32(_AM * iy)
    if np.float64(temp) > _RNMX:
        temp = np.float32(_RNMX)
    return idum, iy, temp


def ran1_next(state: np.ndarray) -> np.float32:
    """Advance a state array ``[idum, iy, iv…]`` in place; return the next deviate."""
    idum, iy, value = ran1_step(state[0], state[1], state[2:])
    state[0], state[1] = idum, iy
    return value


class Ran1:
    """Uniform deviates in (0, 1), the sequence nanoBragg's ``ran1`` gives for a seed.

    ``state`` is the C program's ``idum`` and its static shuffle table, one array.
    """

    def __init__(self) -> None:
        self.state = new_state()

    def seed(self, idum: int) -> None:
        """Set the generator's seed word (negative values re-initialise, as in C)."""
        self.state[0] = int(idum)

    def next(self) -> float:
        """The next deviate (a float32 value widened to Python float)."""
        return float(ran1_next(self.state))


def random_cap_rotation(mosaicity_rad: float, rng: Ran1) -> np.ndarray:
    """A random rotation about a random axis, uniform within a spherical cap.

    Axis: uniform on the sphere from two deviates; angle:
    ``mosaicity * (1 - r3^2)^(1/3)`` (single precision, as nanoBragg computes it).

    Returns:
        (3, 3) float64 rotation matrix ``U`` (apply as ``U @ v``).
    """
    r1 = 2.0 * rng.next() - 1.0
    r2 = 2.0 * rng.next() - 1.0
    r3 = 2.0 * rng.next() - 1.0
    xyrad = math.sqrt(1.0 - r2 * r2)
    rot = float(
        np.float32(mosaicity_rad)
        * np.float32(np.power(np.float32(1.0 - r3 * r3), np.float32(1.0 / 3.0)))
    )
    axis = np.array([xyrad * math.sin(math.pi * r1), xyrad * math.cos(math.pi * r1), r2])
    return rotation_axis(axis, rot)


def mosaic_domains(
    spread_rad: float, domains: int, seed: int, rng: Ran1 | None = None
) -> np.ndarray:
    """Rotation matrices of ``domains`` mosaic domains, domain 0 being the identity.

    Args:
        spread_rad: mosaic spread (radians), the cap's angular size.
        domains: number of domains.
        seed: nanoBragg's ``-mosaic_seed`` value (the generator is seeded with its negative).
        rng: a generator to continue (nanoBragg shares one between streams); new if None.

    Returns:
        (domains, 3, 3) float64.
    """
    rng = rng or Ran1()
    rng.seed(-seed)
    umats = np.empty((domains, 3, 3))
    for index in range(domains):  # sequential by nature: each draw advances the generator
        umats[index] = random_cap_rotation(spread_rad, rng)
    umats[0] = np.eye(3)
    return umats


def matrix_to_misset(umat: np.ndarray) -> tuple[float, float, float]:
    """Rotation angles (rx, ry, rz) in radians with ``umat = Rz @ Ry @ Rx``.

    Rows are normalised first, as nanoBragg does before extracting its missetting angles.
    """
    u = np.array(umat, dtype=np.float64)
    norms = np.linalg.norm(u, axis=1)
    u = u / np.where(norms > 0, norms, 1.0)[:, None]
    uxx, uxy = u[0, 0], u[0, 1]
    uyx, uyy = u[1, 0], u[1, 1]
    uzx, uzy, uzz = u[2]
    if uzx * uzx < 1.0:
        return (
            math.atan2(uzy, uzz),
            math.atan2(-uzx, math.sqrt(uzy * uzy + uzz * uzz)),
            math.atan2(uyx, uxx),
        )
    return (math.pi, math.pi / 2, math.atan2(uxy, -uyy))


def random_misset(seed: int, rng: Ran1 | None = None) -> tuple[float, float, float]:
    """The missetting angles (radians) of nanoBragg's ``-misset random`` for ``seed``.

    nanoBragg draws a cap rotation of "mosaicity" 90 (radians) and converts it to angles.
    """
    rng = rng or Ran1()
    rng.seed(-seed)
    return matrix_to_misset(random_cap_rotation(90.0, rng))
