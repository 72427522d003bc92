"""Compiled loops (numba) for the engine's hottest work: the top-k selection, the softmax total and
writing batch output lines.

A top-500 job for 100k users x 10k items ranks a billion keys and writes ~50 million ids and scores.
Numpy needed half a dozen passes per step and cannot build variable-length text without a Python
object per piece (which held the GIL for most of the job). These loops run without the GIL, on the
scoring threads and beside them. Compiled on first use and cached next to this file (numba's
``cache=True``), so the compilation (~5 s) is paid once per installation; ``make install`` does it.
Scoring imports this module on first use, not the engine's import (numba takes 0.3 s to import).
"""

from __future__ import annotations

import numba
import numpy as np

# Scores have 7 decimals, the precision of the service's examples ("0.0152238").
SCORE_DECIMALS = 7


_SCALE = 10**SCORE_DECIMALS
_PAIRS = np.frombuffer(b"".join(f"{p:02d}".encode() for p in range(100)), dtype=np.uint8)
_INPUT = np.frombuffer(b'{"input":', dtype=np.uint8)
_ITEMS = np.frombuffer(b',"output":{"recommendedItems":[', dtype=np.uint8)
_SCORES = np.frombuffer(b'],"scores":[', dtype=np.uint8)
_END = np.frombuffer(b']},"error":null}\n', dtype=np.uint8)


def render_lines(echo: bytes, echo_offsets: np.ndarray, items: np.ndarray, counts: np.ndarray,
                 scores: np.ndarray | None, item_text: np.ndarray, item_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output lines ``{"input":<echo>,"output":{"recommendedItems":[...],"scores":[...]},"error":null}``.

    ``echo`` holds each line's input JSON back to back, line r's at ``echo_offsets[r:r + 2]``; ``items``
    (rows x k catalogue indices) lists ``counts[row]`` items per row; ``item_text`` holds each catalogue
    item's JSON string back to back, item i's at ``item_offsets[i:i + 2]``. ``scores`` (rows x k, in
    [0, 1]) are written with exactly 7 decimals ("0.0152238"), or left out when None. Returns (the
    lines' bytes, where each line ends).
    """
    with_scores = scores is not None
    if scores is None:
        scores = np.empty((0, 0), dtype=np.float32)
    return _render(np.frombuffer(echo, dtype=np.uint8), np.ascontiguousarray(echo_offsets, dtype=np.int64),
                   np.ascontiguousarray(items, dtype=np.int32), np.ascontiguousarray(counts, dtype=np.int64),
                   np.ascontiguousarray(scores, dtype=np.float32), with_scores,
                   np.ascontiguousarray(item_text, dtype=np.uint8), np.ascontiguousarray(item_offsets, dtype=np.int64))


@numba.njit(nogil=True, cache=True, inline="always")
def _put(out, pos, text, start, stop):
    for i in range(start, stop):
        out[pos] = text[i]
        pos += 1
    return pos


@numba.njit(nogil=True, cache=True)
def _render(echo, echo_offsets, items, counts, scores, with_scores, item_text, item_offsets):
    rows = len(counts)
    fixed = len(_INPUT) + len(_ITEMS) + len(_END) + (len(_SCORES) if with_scores else 0)
    size = 0
    for row in range(rows):
        n = counts[row]
        # Exactly the bytes written below (numba does not check bounds): n items with n - 1 commas,
        # n scores of "d." and the decimals with n - 1 commas.
        size += fixed + echo_offsets[row + 1] - echo_offsets[row] + max(n - 1, 0)
        if with_scores:
            size += n * (2 + SCORE_DECIMALS) + max(n - 1, 0)
        for j in range(n):
            item = items[row, j]
            size += item_offsets[item + 1] - item_offsets[item]
    out = np.empty(size, dtype=np.uint8)
    line_ends = np.empty(rows, dtype=np.int64)
    pos = 0
    for row in range(rows):
        pos = _put(out, pos, _INPUT, 0, len(_INPUT))
        pos = _put(out, pos, echo, echo_offsets[row], echo_offsets[row + 1])
        pos = _put(out, pos, _ITEMS, 0, len(_ITEMS))
        for j in range(counts[row]):
            if j:
                out[pos] = 44  # ,
                pos += 1
            item = items[row, j]
            pos = _put(out, pos, item_text, item_offsets[item], item_offsets[item + 1])
        if with_scores:
            pos = _put(out, pos, _SCORES, 0, len(_SCORES))
            for j in range(counts[row]):
                if j:
                    out[pos] = 44
                    pos += 1
                pos = _score(out, pos, scores[row, j])
        pos = _put(out, pos, _END, 0, len(_END))
        line_ends[row] = pos
    return out, line_ends


@numba.njit(nogil=True, cache=True, inline="always")
def _score(out, pos, score):
    """Write a score in [0, 1] as "d.ddddddd" (NaN as 0), rounded half to even in float64 as numpy rounds."""
    value = np.float64(score)
    scaled = np.uint32(min(np.rint(value * _SCALE), _SCALE)) if value > 0 else np.uint32(0)
    whole = scaled // np.uint32(_SCALE)
    out[pos] = 48 + whole
    out[pos + 1] = 46  # .
    rest = scaled - whole * np.uint32(_SCALE)
    # Two digits at a time from a table, from the last pair back; unsigned 32-bit divisions by
    # constants compile to multiplications.
    for at in range(SCORE_DECIMALS, 1, -2):
        pair = rest // np.uint32(100)
        digits = 2 * (rest - pair * np.uint32(100))
        out[pos + at] = _PAIRS[digits]
        out[pos + at + 1] = _PAIRS[digits + 1]
        rest = pair
    out[pos + 2] = 48 + rest
    return pos + 2 + SCORE_DECIMALS


def top_k(keys: np.ndarray, k: int, work: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and (float32) values of each row's k largest keys, best first, ties to the lower
    index; ``-inf`` keys are never chosen (rows with fewer other keys are padded with ``-inf``).

    ``work`` (uint64, keys' shape or larger) is an optional work buffer.
    """
    rows, n = keys.shape
    k = min(k, n)
    if k <= 0 or rows == 0:
        return np.empty((rows, 0), dtype=np.int64), np.empty((rows, 0), dtype=np.float32)
    keys = np.ascontiguousarray(keys, dtype=np.float32)
    # A lower bound of each row's k-th best key: the k-th best of the maxima of ~2k disjoint column
    # groups (at least k distinct keys reach it). Partitioning 2k maxima instead of n keys is what
    # makes this fast; typically 1.2-1.5 k keys reach the bound, and only they are sorted.
    size = max(1, n // (2 * k))
    groups = n // size
    maxima = keys[:, :groups].copy()
    for i in range(1, size):
        np.maximum(maxima, keys[:, i * groups:(i + 1) * groups], out=maxima)
    maxima.partition(groups - k, axis=1)
    if work is None or work.shape[0] < rows or work.shape[1] < n:
        work = np.empty((rows, n), dtype=np.uint64)
    # Each candidate as one uint64 whose ascending order is the answer's: the key's bits (ordered
    # so that larger keys sort first) above its column (so that equal keys sort by column).
    width = _pack_candidates(keys, keys.view(np.uint32), np.ascontiguousarray(maxima[:, groups - k]), k, work)
    work[:rows, :width].sort(axis=1)
    return _unpack(work, rows, k)


# Pads rows of packed candidates: above every packed key, so it sorts last.
_PADDING = np.uint64(0xFFFFFFFFFFFFFFFF)


@numba.njit(nogil=True, cache=True)
def _pack_candidates(keys, bits, bound, k, out):
    """Each row's keys at or above its bound (never -inf), packed, into ``out``'s rows; pads every row
    to the widest one's count (at least k) and returns that width."""
    rows, n = keys.shape
    counts = np.empty(rows, dtype=np.int64)
    lowest = np.finfo(np.float32).min
    for row in range(rows):
        cut = max(bound[row], lowest)  # never -inf, so that -inf keys never pass
        at = 0
        for col in range(n):
            key = keys[row, col]
            if key >= cut:
                # Descending float order as ascending unsigned order: negatives keep their bits,
                # non-negatives are inverted below the sign bit; -0.0 counts as 0.0.
                raw = bits[row, col] if key != 0 else np.uint32(0)
                order = raw if raw >> np.uint32(31) else ~raw & np.uint32(0x7FFFFFFF)
                out[row, at] = (np.uint64(order) << np.uint64(32)) | np.uint64(col)
                at += 1
        counts[row] = at
    width = max(k, counts.max())
    for row in range(rows):
        out[row, counts[row]:width] = _PADDING
    return width


@numba.njit(nogil=True, cache=True)
def _unpack(packed, rows, k):
    """The first k of the first ``rows`` rows of sorted packed candidates as (columns, keys); padding
    gives column 0 and -inf."""
    columns = np.zeros((rows, k), dtype=np.int64)
    values = np.full((rows, k), -np.inf, dtype=np.float32)
    value_bits = values.view(np.uint32)
    for row in range(rows):
        for j in range(k):
            if packed[row, j] == _PADDING:
                break
            columns[row, j] = np.int64(packed[row, j] & np.uint64(0xFFFFFFFF))
            order = np.uint32(packed[row, j] >> np.uint64(32))
            value_bits[row, j] = order if order >> np.uint32(31) else ~order & np.uint32(0x7FFFFFFF)
    return columns, values


def log_sum_exp(keys: np.ndarray, top: np.ndarray) -> np.ndarray:
    """log(sum(exp(keys))) of each row, given each row's maximum ``top``, as a (rows, 1) float32 column.

    numpy's float32 exp takes ~5 ns a value on a machine without AVX-512, a billion of them for a
    top-500 job; this exp (float32 polynomial, exact to float32's precision, summed in float64) takes
    under 1 ns. Values more than 87 below the maximum count as exp(-87), a 1e-38 share.
    """
    keys = np.ascontiguousarray(keys, dtype=np.float32)
    return _log_sum_exp(keys, np.ascontiguousarray(top, dtype=np.float32))[:, None]


# 2**r = exp(r ln 2) for |r| <= 1/2: its Taylor series to the 7th power is exact to 5e-9.
_LOG2E, _LN2 = np.float32(1.4426950408889634), np.float32(0.6931471805599453)
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7 = (np.float32(1.0 / f) for f in (1, 1, 2, 6, 24, 120, 720, 5040))


# Reassociation lets the compiler vectorise the sum; "contract" its multiply-adds.
@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _log_sum_exp(keys, top):
    rows, n = keys.shape
    out = np.empty(rows, dtype=np.float32)
    poly = np.empty(n, dtype=np.float32)
    bits = np.empty(n, dtype=np.int32)
    scale = bits.view(np.float32)
    for row in range(rows):
        m = top[row]
        # exp(x - m) = 2**t = 2**whole * 2**r; 2**whole built from its exponent bits.
        for j in range(n):
            t = max((keys[row, j] - m) * _LOG2E, np.float32(-126.0))
            whole = np.floor(t + np.float32(0.5))
            r = (t - whole) * _LN2
            poly[j] = _C0 + r * (_C1 + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * (_C6 + r * _C7))))))
            bits[j] = (np.int32(whole) + np.int32(127)) << 23
        total = 0.0
        for j in range(n):
            total += np.float64(poly[j] * scale[j])
        out[row] = m + np.float32(np.log(total))
    return out


def warm_up() -> None:
    """Load every kernel: numba's first call in a process sets up its compiler (~0.5 s) even when the
    machine code comes from the cache. A worker runs this on a thread while its job starts."""
    keys = np.zeros((1, 2), dtype=np.float32)
    top_k(keys, 1)
    log_sum_exp(keys, keys[:, 0])
    render_lines(b"{}", np.array([0, 2]), np.zeros((1, 1), dtype=np.int32), np.ones(1, dtype=np.int64), keys[:, :1],
                 np.frombuffer(b'"i"', dtype=np.uint8), np.array([0, 3]))


if __name__ == "__main__":  # make install: compile into the cache
    warm_up()
