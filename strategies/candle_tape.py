"""Every candle of a replay's mid path, known in advance (research replay only, numba).

A strategy in the fast replay (strategies.fast_replay) builds its candles from mids one by one,
as live. Most candle closes change nothing but indicators: rsi_bb enters only on a close whose
indicators pass all its checks, renko_ao's closes only resize the bricks. The candles themselves
do not depend on what the strategy does, so the replay computes them all at once here; a
strategy then names the next close that may make it act (its rules over these arrays, with the
batch indicator kernels, bit-identical to its streaming ones) and the replay skips the mids and
closes before it in one step (`DirectionalStrategy.candle_run` / `absorb_run`).

`CandleTape.from_path(times, mids, sizes, interval_ms)` (`MidPath.tape(interval_ms)` keeps one per
interval): the candles `indicators.candles.CandleBuilder` closes when fed the path's mids and
trades in order, empty intervals included as its flat candles:
open_ms, open, high, low, close, volume per candle; `closes_at[k]` = the index of the mid whose
`on_mid` closes candle k (the path's length for the last, still open); `candle_of[i]` = the
candle mid i belongs to.

`scan_run` finds where such a skip ends: the first mid that leaves its candle's price band or
reaches a time (`scan_band`: one band for all).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@njit(cache=True)
def _tape_kernel(
    times: np.ndarray, mids: np.ndarray, sizes: np.ndarray, interval_ms: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(times)
    first_bucket = times[0] - times[0] % interval_ms
    last_bucket = times[n - 1] - times[n - 1] % interval_ms
    count = (last_bucket - first_bucket) // interval_ms + 1
    open_ms = np.empty(count, np.int64)
    o = np.empty(count, np.float64)
    h = np.empty(count, np.float64)
    lo = np.empty(count, np.float64)
    c = np.empty(count, np.float64)
    v = np.zeros(count, np.float64)
    closes_at = np.empty(count, np.int64)
    candle_of = np.empty(n, np.int64)
    cur = 0
    open_ms[0] = first_bucket
    o[0] = h[0] = lo[0] = c[0] = mids[0]
    for j in range(n):
        m = mids[j]
        if j > 0:
            k = (times[j] - times[j] % interval_ms - first_bucket) // interval_ms
            if k != cur:
                last = c[cur]
                closes_at[cur] = j
                for q in range(cur + 1, k):  # the empty intervals: flat at the last close
                    open_ms[q] = first_bucket + q * interval_ms
                    o[q] = h[q] = lo[q] = c[q] = last
                    closes_at[q] = j
                cur = k
                open_ms[k] = first_bucket + k * interval_ms
                o[k] = h[k] = lo[k] = c[k] = m
            else:
                if m > h[cur]:
                    h[cur] = m
                elif m < lo[cur]:
                    lo[cur] = m
                c[cur] = m
        if sizes[j] > 0.0:
            v[cur] += sizes[j]
        candle_of[j] = cur
    closes_at[cur] = n
    return open_ms, o, h, lo, c, v, closes_at, candle_of


@njit(cache=True)
def scan_run(
    times: np.ndarray,
    mids: np.ndarray,
    candle_of: np.ndarray,
    start: int,
    stop: int,
    base: int,
    lo: np.ndarray,
    hi: np.ndarray,
    until_ms: int,
) -> tuple[int, float, float]:
    """(end, high, low): end = the first index in [start, stop) whose mid is <= lo[c] or >= hi[c]
    (c = its candle - base) or whose time is >= until_ms, else stop; high/low of mids[start:end]."""
    j = start
    high = -np.inf
    low = np.inf
    while j < stop:
        m = mids[j]
        c = candle_of[j] - base
        if times[j] >= until_ms or m <= lo[c] or m >= hi[c]:
            break
        if m > high:
            high = m
        if m < low:
            low = m
        j += 1
    return j, high, low


@njit(cache=True)
def scan_band(
    times: np.ndarray, mids: np.ndarray, start: int, stop: int, lo: float, hi: float, until_ms: int
) -> tuple[int, float, float]:
    """scan_run with one band (lo, hi) for every candle."""
    j = start
    high = -np.inf
    low = np.inf
    while j < stop:
        m = mids[j]
        if times[j] >= until_ms or m <= lo or m >= hi:
            break
        if m > high:
            high = m
        if m < low:
            low = m
        j += 1
    return j, high, low


@dataclass(frozen=True)
class CandleTape:
    """The candles of one interval over a whole mid path (see the module docstring)."""

    interval_ms: int
    open_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    closes_at: np.ndarray
    candle_of: np.ndarray

    def __len__(self) -> int:
        return len(self.open_ms)

    @classmethod
    def from_path(cls, times: np.ndarray, mids: np.ndarray, sizes: np.ndarray, interval_ms: int) -> CandleTape:
        if len(times) == 0:
            raise ValueError("a candle tape needs at least one mid")
        return cls(interval_ms, *_tape_kernel(times, mids, sizes, interval_ms))
