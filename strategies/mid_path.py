"""The research replay's market path as arrays, and the scan that skips quiet mids (numba).

`MidPath.from_candles` builds, for every minute of a candle file, the mids the event-by-event
replay (strategies.replay) feeds: `venue.sim.sources.intraminute_path` sampled every
`sample_ms`, rounded to the tick, with the minute's volume as trades split evenly over the
samples where the price moves (the middle one when it does not). The kernel repeats that
function operation for operation (numpy's linspace included), so the arrays are bit-identical
to it; tests/test_fast_replay.py checks them against it.

`scan_quiet` finds the first mid at or after `start` that leaves an open price band or reaches
a time, with the extremes of the mids before it and the trades' volume added in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from strategies.candle_tape import CandleTape, scan_band
from venue.sim.sources import Candles


@njit(cache=True)
def _path_kernel(
    open_time_ms: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    steps: int,
    sample_ms: int,
    scale: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(open_time_ms)
    times = np.empty(n * steps, np.int64)
    mids = np.empty(n * steps, np.float64)
    sizes = np.zeros(n * steps, np.float64)
    path = np.empty(steps, np.float64)
    way = np.empty(4, np.float64)
    idx = np.empty(4, np.int64)
    last = steps - 1
    for m in range(n):
        if c[m] < o[m]:
            way[0], way[1], way[2], way[3] = o[m], h[m], lo[m], c[m]
        else:
            way[0], way[1], way[2], way[3] = o[m], lo[m], h[m], c[m]
        d1, d2, d3 = abs(way[1] - way[0]), abs(way[2] - way[1]), abs(way[3] - way[2])
        total = d1 + d2 + d3
        if total == 0:
            i1, i2 = 0, 0
        else:
            i1 = int(np.rint(last * d1 / total))
            i2 = int(np.rint(last * (d1 + d2) / total))
            i1 = max(i1, 1 if d1 > 0 else 0)
            i2 = max(i2, i1 + (1 if d2 > 0 else 0))
            i2 = min(i2, last - (1 if d3 > 0 else 0))
            i1 = min(i1, i2 - (1 if d2 > 0 else 0))
        idx[0], idx[1], idx[2], idx[3] = 0, i1, i2, last
        for seg in range(3):
            a, b = idx[seg], idx[seg + 1]
            if b > a:  # np.linspace(way[seg], way[seg + 1], b - a + 1)
                start, stop = way[seg], way[seg + 1]
                div = b - a
                delta = stop - start
                step = delta / div
                for k in range(div + 1):
                    if step == 0:
                        y = (k / div) * delta
                    else:
                        y = k * step
                    path[a + k] = y + start
                path[b] = stop
        for k in range(4):
            path[idx[k]] = way[k]
        base = m * steps
        t0 = open_time_ms[m]
        moving = 0
        for k in range(steps):
            mids[base + k] = np.rint(path[k] * scale) / scale
            times[base + k] = t0 + k * sample_ms
            if k > 0 and mids[base + k] != mids[base + k - 1]:
                moving += 1
        per_trade = v[m] / (moving if moving > 0 else 1)
        if per_trade > 0:
            if moving == 0:
                sizes[base + steps // 2] = per_trade
            else:
                for k in range(1, steps):
                    if mids[base + k] != mids[base + k - 1]:
                        sizes[base + k] = per_trade
    return times, mids, sizes


@njit(cache=True)
def scan_quiet(
    times: np.ndarray, mids: np.ndarray, sizes: np.ndarray, start: int, lo: float, hi: float, until_ms: int, volume: float
) -> tuple[int, float, float, float]:
    """(stop, high, low, volume): stop = the first index >= start whose mid is <= lo or >= hi or
    whose time is >= until_ms (len when none); high/low of mids[start:stop]; volume plus the
    sizes[start:stop] that are > 0, added in order."""
    j, high, low = scan_band(times, mids, start, len(mids), lo, hi, until_ms)
    for k in range(start, j):
        s = sizes[k]
        if s > 0.0:
            volume += s
    return j, high, low, volume


@njit(cache=True)
def _bucket_kernel(
    times: np.ndarray, mids: np.ndarray, sizes: np.ndarray, interval_ms: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(times)
    next_start = np.empty(n, np.int64)
    high = np.empty(n, np.float64)
    low = np.empty(n, np.float64)
    volume = np.empty(n, np.float64)
    first = 0
    for k in range(n):
        bucket = times[k] - times[k] % interval_ms
        if k == 0 or bucket != times[k - 1] - times[k - 1] % interval_ms:
            for q in range(first, k):
                next_start[q] = k
            first = k
            high[k] = low[k] = mids[k]
            volume[k] = 0.0
        else:
            high[k] = mids[k] if mids[k] > high[k - 1] else high[k - 1]
            low[k] = mids[k] if mids[k] < low[k - 1] else low[k - 1]
            volume[k] = volume[k - 1]
        if sizes[k] > 0.0:
            volume[k] += sizes[k]
    for q in range(first, n):
        next_start[q] = n
    return next_start, high, low, volume


@dataclass(frozen=True)
class Buckets:
    """Per mid, within its interval of `interval_ms` (as CandleBuilder buckets event time):
    next_start = the index of the first mid of the next interval (len at the end); high/low =
    the extremes of the interval's mids up to and including it; volume = its trades so far,
    added in order from 0.0 as CandleBuilder.on_trade does. Python lists, for the per-event loop."""

    next_start: list[int]
    high: list[float]
    low: list[float]
    volume: list[float]


@dataclass(frozen=True)
class MidPath:
    """Every mid of a replay: event time (ms), mid, and the trade size printed after it (0: none).

    The lists are the same values as Python objects, for the per-event loop."""

    times: np.ndarray
    mids: np.ndarray
    sizes: np.ndarray
    times_list: list[int]
    mids_list: list[float]
    sizes_list: list[float]
    sample_ms: int
    price_scale: int
    minutes: int
    span: tuple[int, int]
    malformed: int
    _buckets: dict[int, Buckets] = field(default_factory=dict, compare=False, repr=False)
    _tapes: dict[int, CandleTape] = field(default_factory=dict, compare=False, repr=False)
    _silences: dict[int, list[int]] = field(default_factory=dict, compare=False, repr=False)

    def buckets(self, interval_ms: int) -> Buckets:
        """The per-interval running aggregates (computed once per interval, then kept)."""
        found = self._buckets.get(interval_ms)
        if found is None:
            arrays = _bucket_kernel(self.times, self.mids, self.sizes, interval_ms)
            found = Buckets(*(a.tolist() for a in arrays))
            self._buckets[interval_ms] = found
        return found

    def silences(self, longer_than_ms: int) -> list[int]:
        """The indices of the mids that follow a silence longer than `longer_than_ms` (sorted)."""
        found = self._silences.get(longer_than_ms)
        if found is None:
            found = (np.flatnonzero(np.diff(self.times) > longer_than_ms) + 1).tolist()
            self._silences[longer_than_ms] = found
        return found

    def tape(self, interval_ms: int) -> CandleTape:
        """Every candle of `interval_ms` over the path (computed once per interval, then kept)."""
        found = self._tapes.get(interval_ms)
        if found is None:
            found = CandleTape.from_path(self.times, self.mids, self.sizes, interval_ms)
            self._tapes[interval_ms] = found
        return found

    @classmethod
    def from_candles(cls, candles: Candles, sample_ms: int, price_scale: int) -> MidPath:
        steps = 60_000 // sample_ms
        times, mids, sizes = _path_kernel(
            np.ascontiguousarray(candles.open_time_ms, dtype=np.int64),
            np.ascontiguousarray(candles.open, dtype=np.float64),
            np.ascontiguousarray(candles.high, dtype=np.float64),
            np.ascontiguousarray(candles.low, dtype=np.float64),
            np.ascontiguousarray(candles.close, dtype=np.float64),
            np.ascontiguousarray(candles.volume, dtype=np.float64),
            steps,
            sample_ms,
            float(price_scale),
        )
        n = len(candles)
        span = (int(candles.open_time_ms[0]), int(candles.open_time_ms[-1]) + 60_000) if n else (0, 0)
        return cls(
            times=times,
            mids=mids,
            sizes=sizes,
            times_list=times.tolist(),
            mids_list=mids.tolist(),
            sizes_list=sizes.tolist(),
            sample_ms=sample_ms,
            price_scale=price_scale,
            minutes=n,
            span=span,
            malformed=candles.malformed,
        )
