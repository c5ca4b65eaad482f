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
it is compiled with Numba; it is not part of the render (0.3 s at 4096² on the seed case).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from simulator.c_random import new_state, ran1_step

# The generator's state travels as locals (idum, iy) and the shuffle table ``iv``; every
# helper returns the new (idum, iy) and is inlined into the one compiled loop.
_ran1 = njit(inline="always")(ran1_step)

_F32 = np.float32
_C0, _C1, _C2, _C3, _C4, _C5 = (
    76.18009172947146,
    -86.50532032941677,
    24.01409824083091,
    -1.231739572450155,
    0.1208650973866179e-2,
    -0.5395239384953e-5,
)
_SQRT_2PI = 2.5066282746310005
_DIRECT_BELOW = 12.0
_GAUSS_ABOVE = 1.0e6
_FULL_SCALE = 65535.0


@njit(inline="always")
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


@njit(inline="always")
def _gauss_pair(idum: int, iy: int, iv: np.ndarray) -> tuple[np.float32, np.float32, int, int]:
    """``gaussdev``'s polar Box-Muller pair: (returned deviate, spare deviate, idum, iy)."""
    while True:
        idum, iy, u1 = _ran1(idum, iy, iv)
        idum, iy, u2 = _ran1(idum, iy, iv)
        v1 = _F32(2.0 * np.float64(u1) - 1.0)
        v2 = _F32(2.0 * np.float64(u2) - 1.0)
        rsq = _F32(v1 * v1 + v2 * v2)
        if not (rsq >= 1.0 or rsq == 0.0):
            break
    fac = _F32(math.sqrt(-2.0 * math.log(np.float64(rsq)) / np.float64(rsq)))
    return _F32(v2 * fac), _F32(v1 * fac), idum, iy


@njit(inline="always")
def _direct(xm: np.float32, idum: int, iy: int, iv: np.ndarray) -> tuple[np.float32, int, int]:
    """``poidev`` below a mean of 12: multiply deviates until the product falls below e^-xm."""
    g = _F32(math.exp(-np.float64(xm)))
    em = _F32(-1.0)
    t = _F32(1.0)
    while True:
        em = _F32(em + _F32(1.0))
        idum, iy, u = _ran1(idum, iy, iv)
        t = _F32(t * u)
        if not t > g:
            return em, idum, iy


@njit(inline="always")
def _rejection(xm: np.float32, idum: int, iy: int, iv: np.ndarray) -> tuple[np.float32, int, int]:
    """``poidev`` from 12 to 1e6: rejection from a Lorentzian comparison function."""
    sq = _F32(math.sqrt(2.0 * np.float64(xm)))
    alxm = _F32(math.log(np.float64(xm)))
    g = _F32(_F32(xm * alxm) - _gammln(_F32(np.float64(xm) + 1.0)))
    while True:
        while True:
            idum, iy, u = _ran1(idum, iy, iv)
            y = _F32(math.tan(math.pi * np.float64(u)))
            em = _F32(_F32(sq * y) + xm)
            if not em < 0.0:
                break
        em = _F32(math.floor(np.float64(em)))
        expo = _F32(_F32(_F32(em * alxm) - _gammln(_F32(np.float64(em) + 1.0))) - g)
        t = _F32(0.9 * (1.0 + np.float64(_F32(y * y))) * math.exp(np.float64(expo)))
        idum, iy, u = _ran1(idum, iy, iv)
        if not np.float64(u) > np.float64(t):
            return em, idum, iy


@njit(inline="always")
def _to_uint16(value: float) -> np.uint16:
    """C's ``(unsigned short) value`` on x86-64: truncate to a 32-bit int, keep 16 bits."""
    if not (-2147483648.0 < value < 2147483648.0):  # NaN or out of range: cvttsd2si's value
        return np.uint16(0)
    return np.uint16(np.int64(value) & 0xFFFF)


@njit(cache=True, nogil=True)
def _noise_loop(
    image: np.ndarray, roi: np.ndarray, adc: float, state: np.ndarray, out: np.ndarray
) -> tuple[float, int]:
    """Fill ``out`` (uint16 [S, F]) from ``image`` (float32 [S, F]); (photons, overloads).

    ``state`` (``[idum, iy, iv…]``) is advanced in place.
    """
    idum, iy, iv = state[0], state[1], state[2:]
    have_spare, spare = False, _F32(0.0)  # gaussdev's static pair
    total = 0.0
    overloads = 0
    y0, y1 = max(roi[2], 0), min(roi[3], image.shape[0] - 1)
    x0, x1 = max(roi[0], 0), min(roi[1], image.shape[1] - 1)
    for slow in range(y0, y1 + 1):  # the C program's order: slow outer, fast inner
        for fast in range(x0, x1 + 1):
            xm = image[slow, fast]
            if xm > _GAUSS_ABOVE:
                if have_spare:
                    deviate, have_spare = spare, False
                else:
                    deviate, spare, idum, iy = _gauss_pair(idum, iy, iv)
                    have_spare = True
                value = _F32(np.float64(xm) + math.sqrt(np.float64(xm)) * np.float64(deviate))
            elif xm < _DIRECT_BELOW:
                value, idum, iy = _direct(xm, idum, iy, iv)
            else:
                value, idum, iy = _rejection(xm, idum, iy, iv)
            test = np.float64(value)
            total += test
            test += adc
            if test > _FULL_SCALE:
                test = _FULL_SCALE
                overloads += 1
            out[slow, fast] = _to_uint16(test)
    state[0], state[1] = idum, iy
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
