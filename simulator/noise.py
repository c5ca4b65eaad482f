"""nanoBragg's noise image: its own Poisson deviates, in its order of draws, pixel for pixel.

The C program draws every pixel of the region of interest, slow index outer, fast index
inner, from one ``ran1`` stream seeded by ``-seed`` (the generator of :mod:`simulator.c_random`,
whose shuffle table the mosaic and misset draws have already filled). Per pixel it calls
``poidev`` on the float image value (a float32):

* mean below 12: the direct method, multiplying uniform deviates until the product falls
  below ``exp(-mean)``;
* 12 up to 1e6: rejection from a Lorentzian comparison function, with ``gammln``;
* above 1e6: ``mean + sqrt(mean)·gaussdev``, Box-Muller pairs whose spare deviate carries
  over to the next such pixel.

Then it adds ``-adc``, clips at 65535 (counting an overload) and stores the value truncated to
an unsigned 16-bit integer; pixels outside the region of interest are not drawn and stay 0.
Every float32/float64 step below is the one C's types give, so the same float image and seed
give the same pixels. The loop is sequential by nature (each draw advances the generator), so
it is compiled with Numba; it is not part of the render.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from simulator.c_random import new_state, ran1_next

_ran1 = njit(cache=True, nogil=True)(ran1_next)

_F32 = np.float32
_GAMMLN_COF = (
    76.18009172947146,
    -86.50532032941677,
    24.01409824083091,
    -1.231739572450155,
    0.1208650973866179e-2,
    -0.5395239384953e-5,
)
_C0, _C1, _C2, _C3, _C4, _C5 = _GAMMLN_COF
_SQRT_2PI = 2.5066282746310005
_DIRECT_BELOW = 12.0
_GAUSS_ABOVE = 1.0e6
_FULL_SCALE = 65535.0


@njit(cache=True, nogil=True)
def _gammln(xx: np.float32) -> np.float32:
    """ln Γ(xx) by Lanczos' series, in double, returned as float32 (as the C program's)."""
    x = np.float64(xx)
    tmp = x + 5.5
    tmp -= (x + 0.5) * math.log(tmp)
    ser = 1.000000000190015
    ser += _C0 / (x + 1.0)
    ser += _C1 / (x + 2.0)
    ser += _C2 / (x + 3.0)
    ser += _C3 / (x + 4.0)
    ser += _C4 / (x + 5.0)
    ser += _C5 / (x + 6.0)
    return _F32(-tmp + math.log(_SQRT_2PI * ser / x))


@njit(cache=True, nogil=True)
def _gaussdev(state: np.ndarray, spare: np.ndarray) -> np.float32:
    """A unit normal deviate (polar Box-Muller); ``spare`` = [have one, its value]."""
    if spare[0] != 0.0:
        spare[0] = 0.0
        return _F32(spare[1])
    while True:
        v1 = _F32(2.0 * np.float64(_ran1(state)) - 1.0)
        v2 = _F32(2.0 * np.float64(_ran1(state)) - 1.0)
        rsq = _F32(v1 * v1 + v2 * v2)
        if not (rsq >= 1.0 or rsq == 0.0):
            break
    fac = _F32(math.sqrt(-2.0 * math.log(np.float64(rsq)) / np.float64(rsq)))
    spare[0] = 1.0
    spare[1] = np.float64(_F32(v1 * fac))
    return _F32(v2 * fac)


@njit(cache=True, nogil=True)
def _poidev(xm: np.float32, state: np.ndarray, spare: np.ndarray) -> np.float32:
    """A Poisson deviate of mean ``xm``, drawn exactly as nanoBragg's ``poidev``."""
    if xm > _GAUSS_ABOVE:
        x = np.float64(xm)
        return _F32(x + math.sqrt(x) * np.float64(_gaussdev(state, spare)))
    if xm < _DIRECT_BELOW:
        g = _F32(math.exp(-np.float64(xm)))
        em = _F32(-1.0)
        t = _F32(1.0)
        while True:
            em = _F32(em + _F32(1.0))
            t = _F32(t * _ran1(state))
            if not t > g:
                return em
    sq = _F32(math.sqrt(2.0 * np.float64(xm)))
    alxm = _F32(math.log(np.float64(xm)))
    g = _F32(_F32(xm * alxm) - _gammln(_F32(np.float64(xm) + 1.0)))
    while True:
        while True:
            y = _F32(math.tan(math.pi * np.float64(_ran1(state))))
            em = _F32(_F32(sq * y) + xm)
            if not em < 0.0:
                break
        em = _F32(math.floor(np.float64(em)))
        expo = _F32(_F32(_F32(em * alxm) - _gammln(_F32(np.float64(em) + 1.0))) - g)
        t = _F32(0.9 * (1.0 + np.float64(_F32(y * y))) * math.exp(np.float64(expo)))
        if not np.float64(_ran1(state)) > np.float64(t):
            return em


@njit(cache=True, nogil=True)
def _to_uint16(value: float) -> np.uint16:
    """C's ``(unsigned short) value`` on x86-64: truncate to a 32-bit int, keep 16 bits."""
    if not (-2147483648.0 < value < 2147483648.0):  # NaN or out of range: cvttsd2si's value
        return np.uint16(0)
    return np.uint16(np.int64(value) & 0xFFFF)


@njit(cache=True, nogil=True)
def _noise_loop(
    image: np.ndarray,
    roi: np.ndarray,
    adc: float,
    state: np.ndarray,
    out: np.ndarray,
) -> tuple[float, int]:
    """Fill ``out`` (uint16 [S, F]) from ``image`` (float32 [S, F]); (photons, overloads)."""
    spare = np.zeros(2)
    total = 0.0
    overloads = 0
    xmin, xmax, ymin, ymax = roi[0], roi[1], roi[2], roi[3]
    for slow in range(image.shape[0]):
        if slow < ymin or slow > ymax:
            continue
        for fast in range(image.shape[1]):
            if fast < xmin or fast > xmax:
                continue
            test = np.float64(_poidev(image[slow, fast], state, spare))
            total += test
            test += adc
            if test > _FULL_SCALE:
                test = _FULL_SCALE
                overloads += 1
            out[slow, fast] = _to_uint16(test)
    return total, overloads


@dataclass(frozen=True)
class NoiseImage:
    """A noise image and what the C program prints about it.

    Attributes:
        pixels: uint16 ``[spixels, fpixels]``.
        photons: the sum of the Poisson deviates (before ``-adc`` and clipping).
        overloads: pixels clipped at 65535.
        seed: the ``-seed`` value used.
    """

    pixels: np.ndarray
    photons: float
    overloads: int
    seed: int

    def report(self) -> str:
        """The C program's line about the noise image."""
        return f"{self.photons:.0f} photons on noise image ({self.overloads} overloads)"


def noise_image(
    image: np.ndarray,
    seed: int,
    adc: float = 40.0,
    roi: tuple[int, int, int, int] | None = None,
    table: np.ndarray | None = None,
) -> NoiseImage:
    """nanoBragg's ``-noisefile`` pixels for a float image and ``-seed``.

    Args:
        image: the float image ``[spixels, fpixels]`` (used as float32, as C stores it).
        seed: the ``-seed`` value; the generator starts from ``-seed`` as in C.
        adc: the ``-adc`` offset added to every drawn pixel.
        roi: inclusive ``(xmin, xmax, ymin, ymax)`` (fast, slow); None: every pixel.
        table: the generator's state left by the earlier streams (``[idum, iy, iv…]``,
            see :func:`simulator.c_random.new_state`); only a negative ``-seed`` (a positive
            seed word) continues it, as in C. None: a fresh table.

    Returns:
        The pixels, the photon sum and the overload count.
    """
    pixels = np.ascontiguousarray(image, dtype=np.float32)
    if pixels.ndim != 2:
        raise ValueError(f"image: expected [slow, fast], got shape {pixels.shape}")
    state = new_state() if table is None else np.array(table, dtype=np.int64)
    state[0] = -int(seed)
    if roi is None:
        roi = (0, pixels.shape[1] - 1, 0, pixels.shape[0] - 1)
    out = np.zeros(pixels.shape, dtype=np.uint16)
    photons, overloads = _noise_loop(pixels, np.asarray(roi, dtype=np.int64), adc, state, out)
    return NoiseImage(out, float(photons), int(overloads), int(seed))
