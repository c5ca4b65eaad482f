"""A compiled single-pass scanner for the ``traceEvents`` array of a Chrome trace.

It reads only what table ``ops`` needs (``ph``, ``cat``, ``name``, ``pid``, ``tid``, ``ts``,
``dur``, ``args["Python id"]``, ``args.correlation``) and skips every other value, so it
runs at memory speed instead of building a Python object per event. Timestamps are parsed
as exact decimals into integer nanoseconds. It accepts any valid JSON in that array; on
anything else it reports the byte offset, and ingestion falls back to a general parser.

Compiled with Numba (``cache=True``: the first call in a fresh checkout compiles for a few
seconds, later processes load the cached machine code).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa

# field codes
_F_OTHER, _F_PH, _F_CAT, _F_NAME, _F_PID, _F_TID, _F_TS, _F_DUR, _F_ARGS = range(9)
_A_OTHER, _A_PYID, _A_CORR = range(3)


@dataclass
class Scanned:
    """Columns of the ``ph == 'X'`` events."""

    cat: pa.Array
    name: pa.Array
    thread: pa.Array  # "pid/tid" (JSON strings keep their quotes)
    ts: np.ndarray  # int64 ns, as written (relative to baseTimeNanoseconds)
    dur: np.ndarray  # int64 ns
    py_id: np.ndarray  # int64, -1 when absent
    corr: np.ndarray  # int64, -1 when absent


class ScanError(ValueError):
    """The bytes are not a JSON array of objects the scanner can read."""


@numba.njit(cache=True, nogil=True)
def _ws(buf, i):
    n = len(buf)
    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    return i


@numba.njit(cache=True, nogil=True)
def _string_end(buf, i):
    """``buf[i]`` is the opening quote; return (index after closing quote, has_escape)."""
    n = len(buf)
    i += 1
    esc = False
    while i < n:
        c = buf[i]
        if c == 92:  # backslash
            esc = True
            i += 2
            continue
        if c == 34:
            return i + 1, esc
        i += 1
    return -1, esc


@numba.njit(cache=True, nogil=True)
def _skip_value(buf, i):
    """Index after the JSON value starting at ``buf[i]`` (-1 on error)."""
    n = len(buf)
    if i >= n:
        return -1
    c = buf[i]
    if c == 34:
        j, _ = _string_end(buf, i)
        return j
    if c == 123 or c == 91:  # { or [: skip to the matching bracket
        depth = 0
        while i < n:
            c = buf[i]
            if c == 34:
                i, _ = _string_end(buf, i)
                if i < 0:
                    return -1
                continue
            if c == 123 or c == 91:
                depth += 1
            elif c == 125 or c == 93:
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return -1
    # number or literal: up to a delimiter
    while i < n:
        c = buf[i]
        if c == 44 or c == 125 or c == 93 or c == 32 or c == 10 or c == 13 or c == 9:
            return i
        i += 1
    return i


@numba.njit(cache=True, nogil=True)
def _int(buf, i, j):
    """Integer value of buf[i:j] (-1 when not a plain non-negative integer)."""
    if i >= j:
        return -1
    v = 0
    for k in range(i, j):
        c = buf[k]
        if c < 48 or c > 57:
            return -1
        v = v * 10 + (c - 48)
    return v


@numba.njit(cache=True, nogil=True)
def _ns(buf, i, j):
    """Microseconds written as a decimal in buf[i:j] -> integer nanoseconds (exact).

    Returns (value, ok). Handles a sign, up to any number of decimals (rounded to 3) and an
    exponent-free form, which is what profilers write.
    """
    neg = False
    if i < j and buf[i] == 45:
        neg = True
        i += 1
    whole = 0
    k = i
    while k < j and 48 <= buf[k] <= 57:
        whole = whole * 10 + (buf[k] - 48)
        k += 1
    if k == i:
        return 0, False
    frac = 0
    digits = 0
    round_up = False
    if k < j and buf[k] == 46:
        k += 1
        while k < j and 48 <= buf[k] <= 57:
            if digits < 3:
                frac = frac * 10 + (buf[k] - 48)
            elif digits == 3 and buf[k] >= 53:
                round_up = True
            digits += 1
            k += 1
    if k != j:
        return 0, False  # exponent or junk: leave it to the general parser
    while digits < 3:
        frac *= 10
        digits += 1
    v = whole * 1000 + frac + (1 if round_up else 0)
    return (-v if neg else v), True


def _lit(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), np.uint8).copy()


_K_PH, _K_CAT, _K_NAME, _K_PID, _K_TID = (
    _lit("ph"),
    _lit("cat"),
    _lit("name"),
    _lit("pid"),
    _lit("tid"),
)
_K_TS, _K_DUR, _K_ARGS = _lit("ts"), _lit("dur"), _lit("args")
_K_PYID, _K_CORR = _lit("Python id"), _lit("correlation")


@numba.njit(cache=True, nogil=True)
def _eq(buf, i, j, lit):
    if j - i != len(lit):
        return False
    for k in range(len(lit)):  # noqa: SIM110 (generators do not compile here)
        if buf[i + k] != lit[k]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _key_code(buf, i, j, top):
    """Field code of the key in buf[i:j] (without quotes); ``top``: event keys, else args."""
    if not top:
        if _eq(buf, i, j, _K_PYID):
            return _A_PYID
        if _eq(buf, i, j, _K_CORR):
            return _A_CORR
        return _A_OTHER
    if _eq(buf, i, j, _K_PH):
        return _F_PH
    if _eq(buf, i, j, _K_TS):
        return _F_TS
    if _eq(buf, i, j, _K_DUR):
        return _F_DUR
    if _eq(buf, i, j, _K_CAT):
        return _F_CAT
    if _eq(buf, i, j, _K_NAME):
        return _F_NAME
    if _eq(buf, i, j, _K_PID):
        return _F_PID
    if _eq(buf, i, j, _K_TID):
        return _F_TID
    if _eq(buf, i, j, _K_ARGS):
        return _F_ARGS
    return _F_OTHER


# columns of the scan result
_C_CAT0, _C_CAT1, _C_NAME0, _C_NAME1, _C_PID0, _C_PID1, _C_TID0, _C_TID1 = range(8)
_C_TS, _C_DUR, _C_PYID, _C_CORR, _C_ESC = range(8, 13)
_NCOLS = 13


@numba.njit(cache=True, nogil=True)
def _scan(buf, cap):
    """Scan a JSON array of event objects; keep those with ph == "X" and a category.

    Returns (rows[count, 13] int64, error_offset) with -1 for no error. Row columns: start
    and end offsets of cat and name (inside the quotes), of the raw pid and tid tokens, then
    ts and dur in ns, Python id, correlation id (-1 when absent) and an escape flag.
    """
    rows = np.zeros((cap, _NCOLS), np.int64)
    n = len(buf)
    i = _ws(buf, 0)
    if i >= n or buf[i] != 91:
        return rows[:0], i
    i = _ws(buf, i + 1)
    count = 0
    if i < n and buf[i] == 93:
        return rows[:0], -1
    while i < n:
        if buf[i] != 123:
            return rows[:count], i
        if count >= rows.shape[0]:
            bigger = np.zeros((2 * rows.shape[0], _NCOLS), np.int64)
            bigger[:count] = rows[:count]
            rows = bigger
        row = rows[count]
        row[:] = 0
        row[_C_PYID] = -1
        row[_C_CORR] = -1
        is_x = False
        has_cat = False
        i = _ws(buf, i + 1)
        if i < n and buf[i] == 125:
            i += 1
        else:
            while True:
                if i >= n or buf[i] != 34:
                    return rows[:count], i
                k_end, _ = _string_end(buf, i)
                if k_end < 0:
                    return rows[:count], i
                code = _key_code(buf, i + 1, k_end - 1, True)
                i = _ws(buf, k_end)
                if i >= n or buf[i] != 58:
                    return rows[:count], i
                i = _ws(buf, i + 1)
                v_end = _skip_value(buf, i)
                if v_end < 0:
                    return rows[:count], i
                if code == _F_PH:
                    is_x = v_end - i == 3 and buf[i] == 34 and buf[i + 1] == 88
                elif code == _F_CAT and buf[i] == 34:
                    row[_C_CAT0] = i + 1
                    row[_C_CAT1] = v_end - 1
                    has_cat = True
                elif code == _F_NAME and buf[i] == 34:
                    row[_C_NAME0] = i + 1
                    row[_C_NAME1] = v_end - 1
                    _, e = _string_end(buf, i)
                    row[_C_ESC] = 1 if e else 0
                elif code == _F_PID:
                    row[_C_PID0] = i
                    row[_C_PID1] = v_end
                elif code == _F_TID:
                    row[_C_TID0] = i
                    row[_C_TID1] = v_end
                elif code == _F_TS:
                    v, ok = _ns(buf, i, v_end)
                    if not ok:
                        return rows[:count], i
                    row[_C_TS] = v
                elif code == _F_DUR:
                    v, ok = _ns(buf, i, v_end)
                    if not ok:
                        return rows[:count], i
                    row[_C_DUR] = v
                elif code == _F_ARGS and buf[i] == 123:
                    j = _ws(buf, i + 1)
                    while j < v_end - 1 and buf[j] == 34:
                        a_end, _ = _string_end(buf, j)
                        a_code = _key_code(buf, j + 1, a_end - 1, False)
                        j = _ws(buf, a_end)
                        j = _ws(buf, j + 1)  # past ':'
                        av_end = _skip_value(buf, j)
                        if av_end < 0:
                            return rows[:count], j
                        if a_code == _A_PYID:
                            row[_C_PYID] = _int(buf, j, av_end)
                        elif a_code == _A_CORR:
                            row[_C_CORR] = _int(buf, j, av_end)
                        j = _ws(buf, av_end)
                        if j < n and buf[j] == 44:
                            j = _ws(buf, j + 1)
                i = _ws(buf, v_end)
                if i < n and buf[i] == 44:
                    i = _ws(buf, i + 1)
                    continue
                if i < n and buf[i] == 125:
                    i += 1
                    break
                return rows[:count], i
        if is_x and has_cat:
            count += 1
        i = _ws(buf, i)
        if i < n and buf[i] == 44:
            i = _ws(buf, i + 1)
            continue
        if i < n and buf[i] == 93:
            return rows[:count], -1
        return rows[:count], i
    return rows[:count], n


@numba.njit(cache=True, nogil=True)
def _gather_ranges(buf, spans, col_a, col_b, col_c, col_d, total):
    """Concatenate buf[a:b] (and '/' + buf[c:d] when col_c >= 0) per row."""
    n = spans.shape[0]
    out = np.empty(total, np.uint8)
    offsets = np.zeros(n + 1, np.int64)
    pos = 0
    for k in range(n):
        for b in range(spans[k, col_a], spans[k, col_b]):
            out[pos] = buf[b]
            pos += 1
        if col_c >= 0:
            out[pos] = 47
            pos += 1
            for b in range(spans[k, col_c], spans[k, col_d]):
                out[pos] = buf[b]
                pos += 1
        offsets[k + 1] = pos
    return out, offsets


def _strings(buf: np.ndarray, spans: np.ndarray, a: int, b: int, c: int = -1, d: int = -1):
    lengths = spans[:, b] - spans[:, a]
    if c >= 0:
        lengths = lengths + 1 + spans[:, d] - spans[:, c]
    data, offsets = _gather_ranges(buf, spans, a, b, c, d, int(lengths.sum()))
    if offsets[-1] < 2**31:
        return pa.StringArray.from_buffers(
            len(spans), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)
        )
    return pa.LargeStringArray.from_buffers(
        len(spans), pa.py_buffer(offsets), pa.py_buffer(data)
    ).cast(pa.string())


def scan_events(array_bytes: bytes | memoryview) -> Scanned:
    """Scan the bytes of a ``traceEvents`` JSON array into columns.

    Raises:
        ScanError: Not a JSON array of objects (with the byte offset).
    """
    buf = np.frombuffer(array_bytes, np.uint8)
    rows, err = _scan(buf, max(len(buf) // 256, 64))
    if err != -1:
        raise ScanError(f"unexpected JSON at byte {err} of the traceEvents array")
    name = _strings(buf, rows, _C_NAME0, _C_NAME1)
    escaped = np.flatnonzero(rows[:, _C_ESC])
    if len(escaped):  # rare: unescape those names with the JSON decoder
        import orjson

        fixed = name.to_pylist()
        for k in escaped.tolist():
            raw = bytes(buf[rows[k, _C_NAME0] - 1 : rows[k, _C_NAME1] + 1])
            fixed[k] = orjson.loads(raw)
        name = pa.array(fixed, pa.string())
    return Scanned(
        cat=_strings(buf, rows, _C_CAT0, _C_CAT1),
        name=name,
        thread=_strings(buf, rows, _C_PID0, _C_PID1, _C_TID0, _C_TID1),
        ts=np.ascontiguousarray(rows[:, _C_TS]),
        dur=np.ascontiguousarray(rows[:, _C_DUR]),
        py_id=np.ascontiguousarray(rows[:, _C_PYID]),
        corr=np.ascontiguousarray(rows[:, _C_CORR]),
    )
