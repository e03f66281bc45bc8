"""The default market source: a synthetic, SOL-like market generated in event time.

The mid follows a log random walk whose volatility and drift switch between three regimes
(calm, trending, volatile) by a Markov chain with dwell times of minutes, plus a soft pull toward
the start price that only matters over days (it keeps a months-long run inside ~100-250 for a
160 start). The parameters are calibrated to the real SOL/USDT 1-minute candles described in
shared/data/README.md: median |1-min return| ~5.5 bps, 1-min std ~10.5 bps, median 1-min range
~11.4 bps, hourly std ~77 bps (tests/test_sources.py checks the 1-minute figures).

Around the mid it draws a full L2 book every `book_interval_ms` and a Poisson stream of trades at
the touch (sometimes sweeping 2-3 levels), whose side leans with the price's next move. The path
is computed in vectorised chunks of minutes; only the final event objects are built one by one.

The grid and ladder helpers here are shared with the candle replay (candle_source.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal

import numpy as np

from venue.sim.types import SourceBook, SourceEvent, SourceTrade

NS_PER_MS = 1_000_000
NS_PER_MIN = 60_000 * NS_PER_MS


# ---------------------------------------------------------------------------------------------
# Grid: exact floats on a tick or lot grid
# ---------------------------------------------------------------------------------------------


class Grid:
    """A price or size grid of step `step` (e.g. 0.001) with exact float conversion.

    A value n steps from zero is computed as (n * units) / 10**decimals, a single correctly
    rounded division, so it is the float closest to the decimal and repr() gives the short
    decimal string the venue's quantiser expects (n * 0.001 alone would give 146.82999999999998).
    """

    def __init__(self, step: float) -> None:
        if not (isinstance(step, (int, float)) and math.isfinite(step) and step > 0):
            raise ValueError(f"grid step must be a positive finite number, got {step!r}")
        exponent = Decimal(repr(float(step))).normalize().as_tuple().exponent
        assert isinstance(exponent, int)  # finite, checked above
        self.step = float(step)
        self.decimals = max(0, -exponent)
        self.scale = 10**self.decimals
        self.units = round(self.step * self.scale)

    def count(self, value: float | np.ndarray) -> np.ndarray:
        """The number of steps nearest to value (for values meant to be on the grid)."""
        return np.rint(np.asarray(value, dtype=np.float64) * self.scale / self.units).astype(np.int64)

    def floor_count(self, value: float | np.ndarray) -> np.ndarray:
        # the small epsilon keeps 146.83 / 0.001 = 146829.99999999997 on 146830
        return np.floor(np.asarray(value, dtype=np.float64) * self.scale / self.units + 1e-7).astype(np.int64)

    def values(self, counts: np.ndarray) -> np.ndarray:
        return (np.asarray(counts, dtype=np.int64) * self.units) / self.scale

    def snap(self, value: float) -> float:
        """value rounded to the nearest grid point, as an exact float."""
        return int(self.count(value)) * self.units / self.scale


# ---------------------------------------------------------------------------------------------
# Ladder: a full L2 book around each mid (vectorised over many snapshots)
# ---------------------------------------------------------------------------------------------


class Ladders:
    """Prices and sizes of n books: arrays of shape (n, levels), best level first."""

    __slots__ = ("bid_px", "bid_sz", "ask_px", "ask_sz")

    def __init__(self, bid_px: np.ndarray, bid_sz: np.ndarray, ask_px: np.ndarray, ask_sz: np.ndarray):
        self.bid_px, self.bid_sz, self.ask_px, self.ask_sz = bid_px, bid_sz, ask_px, ask_sz

    def books(self, ts_ns: list[int]) -> list[SourceBook]:
        # .tolist() and zip run in C: this is the cheap way to get lists of (price, size) tuples
        bp, bs, ap, az = (a.tolist() for a in (self.bid_px, self.bid_sz, self.ask_px, self.ask_sz))
        return [
            SourceBook(
                ts_ns=ts, bids=list(zip(bp[i], bs[i], strict=True)), asks=list(zip(ap[i], az[i], strict=True))
            )
            for i, ts in enumerate(ts_ns)
        ]


def build_ladders(
    rng: np.random.Generator,
    mids: np.ndarray,
    spread_bps: np.ndarray,
    *,
    price_grid: Grid,
    size_grid: Grid,
    levels: int,
    level_gap_bps: float = 0.25,
    touch_size: float = 20.0,
    even_spread: bool = False,
) -> Ladders:
    """Books of `levels` levels a side around each mid.

    The touch is placed around the mid at the given spread (at least one tick). Deeper levels
    are separated by 1 + Poisson gaps averaging `level_gap_bps` (a bit wider further out), so the
    book is not a solid wall on a fine tick. Sizes are lognormal around `touch_size` (base units)
    and grow mildly with depth, as real books do: the touch is thin, liquidity rests further out.
    even_spread rounds the spread to an even number of ticks, so a mid on the grid is exactly
    the book's mid (the candle replay relies on it).
    """
    n = len(mids)
    mid_ticks = np.asarray(mids, dtype=np.float64) * price_grid.scale / price_grid.units
    spread_ticks = np.maximum(1, np.rint(mid_ticks * np.asarray(spread_bps) / 1e4)).astype(np.int64)
    if even_spread:
        spread_ticks = np.maximum(2, 2 * np.rint(spread_ticks / 2)).astype(np.int64)
    best_bid = np.floor(mid_ticks - spread_ticks / 2 + 1e-7).astype(np.int64)
    best_ask = best_bid + spread_ticks

    depth = np.arange(1, levels, dtype=np.float64)
    mean_gap = np.maximum(0.0, mid_ticks[:, None] * level_gap_bps / 1e4 * (1 + 0.05 * depth[None, :]) - 1)
    bid_gaps = 1 + rng.poisson(mean_gap)
    ask_gaps = 1 + rng.poisson(mean_gap)
    zero = np.zeros((n, 1), dtype=np.int64)
    bid_ticks = best_bid[:, None] - np.concatenate([zero, np.cumsum(bid_gaps, axis=1)], axis=1)
    ask_ticks = best_ask[:, None] + np.concatenate([zero, np.cumsum(ask_gaps, axis=1)], axis=1)
    # never let a deep bid fall to zero or below (only possible for absurd mids, but stay valid)
    bid_ticks = np.maximum(bid_ticks, 1)

    profile = 1.0 + 0.08 * np.arange(levels, dtype=np.float64)
    size_steps = touch_size * size_grid.scale / size_grid.units
    bid_lots = np.maximum(1, np.rint(size_steps * profile * rng.lognormal(0.0, 0.6, (n, levels))))
    ask_lots = np.maximum(1, np.rint(size_steps * profile * rng.lognormal(0.0, 0.6, (n, levels))))
    return Ladders(
        price_grid.values(bid_ticks),
        size_grid.values(bid_lots.astype(np.int64)),
        price_grid.values(ask_ticks),
        size_grid.values(ask_lots.astype(np.int64)),
    )


# ---------------------------------------------------------------------------------------------
# Regimes and the mid path
# ---------------------------------------------------------------------------------------------

CALM, TRENDING, VOLATILE = 0, 1, 2
REGIME_NAMES = ("calm", "trending", "volatile")
# per-minute volatility and |drift| in bps, mean dwell in minutes, typical spread in bps
_SIGMA_BPS = np.array([6.5, 9.5, 22.0])
_DRIFT_BPS = np.array([0.0, 1.2, 0.0])
_DWELL_MIN = np.array([24.0, 12.0, 6.0])
_SPREAD_BPS = np.array([0.8, 1.0, 1.6])
# where a regime goes when it ends (rows: from, columns: to; the diagonal is unused)
_NEXT = np.array([[0.0, 0.6, 0.4], [0.7, 0.0, 0.3], [0.5, 0.5, 0.0]])
# soft mean reversion of log(mid / start): weak near the start, strong far away (see _pull)
_REVERSION_PER_MIN = 1.0 / (5 * 24 * 60)
_REVERSION_SCALE = 0.25


class MidPath:
    """The regime-switching mid, produced `chunk_minutes` at a time as numpy arrays.

    next_chunk() returns (mids, regimes) sampled every `step_ms` for the next chunk: mids[i] is
    the mid at chunk_start + i * step_ms; regimes[i] is the regime in force then.
    """

    def __init__(
        self, rng: np.random.Generator, start_price: float, step_ms: int, chunk_minutes: int = 10
    ) -> None:
        if not (math.isfinite(start_price) and start_price > 0):
            raise ValueError(f"start_price must be positive, got {start_price!r}")
        if step_ms <= 0 or 60_000 % step_ms:
            raise ValueError(f"book_interval_ms must divide one minute, got {step_ms}")
        self.rng = rng
        self.log_start = math.log(start_price)
        self.log_mid = self.log_start
        self.steps_per_min = 60_000 // step_ms
        self.chunk_minutes = chunk_minutes
        self.regime = CALM
        self.trend_sign = 1.0

    def _next_regime(self) -> None:
        if self.rng.random() < 1.0 / _DWELL_MIN[self.regime]:
            self.regime = int(self.rng.choice(3, p=_NEXT[self.regime]))
            if self.regime == TRENDING:
                self.trend_sign = 1.0 if self.rng.random() < 0.5 else -1.0

    def _pull(self, x: float) -> float:
        """Per-minute drift (log units) back toward the start: quartic so the band is soft."""
        return -_REVERSION_PER_MIN * (1.0 + (x / _REVERSION_SCALE) ** 4) * x

    def next_chunk(self) -> tuple[np.ndarray, np.ndarray]:
        per_min = self.steps_per_min
        regimes = np.empty(self.chunk_minutes, dtype=np.int64)
        drift_min = np.empty(self.chunk_minutes)
        x = self.log_mid - self.log_start
        for m in range(self.chunk_minutes):
            self._next_regime()
            regimes[m] = self.regime
            # the pull is fixed per minute from the chunk's start level: it moves a fraction of
            # a bp per minute at most, so updating it within the chunk would change nothing
            drift_min[m] = self.trend_sign * _DRIFT_BPS[self.regime] / 1e4 + self._pull(x)
        sigma_step = np.repeat(_SIGMA_BPS[regimes] / 1e4 / math.sqrt(per_min), per_min)
        drift_step = np.repeat(drift_min / per_min, per_min)
        increments = drift_step + sigma_step * self.rng.standard_normal(len(sigma_step))
        # mids[0] is the level carried over from the previous chunk; the last increment leads
        # into the next chunk
        log_path = self.log_mid + np.concatenate([[0.0], np.cumsum(increments[:-1])])
        self.log_mid = float(log_path[-1] + increments[-1])
        return np.exp(log_path), np.repeat(regimes, per_min)


# ---------------------------------------------------------------------------------------------
# The source
# ---------------------------------------------------------------------------------------------

_SWEEP_PROBABILITY = 0.03
_TRADE_MEDIAN_SIZE = 1.5  # base units (SOL)
_FLOW_HORIZON_MS = 10_000  # takers' side leans with the mid's move over this horizon
_FLOW_LEAN = 0.4  # at most 90/10 buys/sells when the move is far beyond its usual size


class SyntheticSource:
    """An infinite, deterministic (per seed) SOL-like market: books every interval, Poisson trades."""

    def __init__(
        self,
        *,
        seed: int = 1,
        start_price: float = 160.0,
        tick: float = 0.001,
        lot: float = 0.001,
        levels: int = 20,
        start_ts_ns: int = 1_746_372_780_000_000_000,
        book_interval_ms: int = 100,
        trade_rate_per_s: float = 4.0,
    ) -> None:
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        if not (math.isfinite(trade_rate_per_s) and trade_rate_per_s >= 0):
            raise ValueError(f"trade_rate_per_s must be >= 0, got {trade_rate_per_s!r}")
        if book_interval_ms <= 0 or 60_000 % book_interval_ms:
            raise ValueError(f"book_interval_ms must divide one minute, got {book_interval_ms}")
        self.seed = seed
        self.start_price = start_price
        self.price_grid = Grid(tick)
        self.size_grid = Grid(lot)
        self.levels = levels
        self.start_ts_ns = start_ts_ns
        self.book_interval_ms = book_interval_ms
        self.trade_rate_per_s = trade_rate_per_s
        # the regime of each minute emitted so far, in order (for inspection and tests)
        self.regime_log: list[int] = []

    def events(self) -> Iterator[SourceEvent]:
        """Books and trades in nondecreasing ts_ns, forever; each call starts over from the seed."""
        rng = np.random.Generator(np.random.PCG64(self.seed))
        path = MidPath(rng, self.start_price, self.book_interval_ms)
        self.regime_log = []
        chunk_start = self.start_ts_ns
        step_ns = self.book_interval_ms * NS_PER_MS
        while True:
            mids, regimes = path.next_chunk()
            self.regime_log.extend(regimes[:: path.steps_per_min].tolist())
            yield from self._chunk_events(rng, chunk_start, step_ns, mids, regimes)
            chunk_start += len(mids) * step_ns

    def _chunk_events(
        self, rng: np.random.Generator, t0: int, step_ns: int, mids: np.ndarray, regimes: np.ndarray
    ) -> Iterator[SourceEvent]:
        n = len(mids)
        spread = np.clip(_SPREAD_BPS[regimes] * rng.lognormal(0.0, 0.25, n), 0.5, 2.0)
        ladders = build_ladders(
            rng, mids, spread, price_grid=self.price_grid, size_grid=self.size_grid, levels=self.levels
        )
        book_ts = [t0 + i * step_ns for i in range(n)]
        books = ladders.books(book_ts)
        trades = self._chunk_trades(rng, t0, step_ns, mids, regimes, ladders)
        # merge by time; at equal ts the book comes first, so a trade always follows its book
        ti = 0
        for i, book in enumerate(books):
            yield book
            next_book_ts = book_ts[i] + step_ns
            while ti < len(trades) and trades[ti].ts_ns < next_book_ts:
                yield trades[ti]
                ti += 1

    def _chunk_trades(
        self,
        rng: np.random.Generator,
        t0: int,
        step_ns: int,
        mids: np.ndarray,
        regimes: np.ndarray,
        ladders: Ladders,
    ) -> list[SourceTrade]:
        n = len(mids)
        duration_ns = n * step_ns
        # a Poisson process: the count is Poisson and, given the count, the times are uniform
        count = int(rng.poisson(self.trade_rate_per_s * duration_ns / 1e9))
        offsets = np.sort(rng.integers(0, duration_ns, count))
        book_idx = offsets // step_ns
        # takers lean with the move of the next few seconds: order-flow imbalance is what moves
        # the price, so buys cluster in rises and sells in falls (the chunk's end looks less far)
        ahead = max(1, _FLOW_HORIZON_MS // self.book_interval_ms)
        move = mids[np.minimum(book_idx + ahead, n - 1)] / mids[book_idx] - 1.0
        sigma = _SIGMA_BPS[regimes[book_idx]] / 1e4 * math.sqrt(ahead / (60_000 // self.book_interval_ms))
        p_buy = 0.5 + _FLOW_LEAN * np.tanh(move / sigma)
        buys = rng.random(count) < p_buy
        size_lots = np.maximum(
            1, np.rint(_TRADE_MEDIAN_SIZE * rng.lognormal(0.0, 1.0, count) / self.size_grid.step)
        ).astype(np.int64)
        sweeps = rng.random(count) < _SWEEP_PROBABILITY
        sweep_depth = rng.integers(2, 4, count)  # 2 or 3 levels
        sweep_fraction = rng.uniform(0.2, 1.0, count)

        out: list[SourceTrade] = []
        lot_units, lot_scale = self.size_grid.units, self.size_grid.scale
        for k in range(count):
            j = int(book_idx[k])
            ts = t0 + int(offsets[k])
            px, sz = (ladders.ask_px, ladders.ask_sz) if buys[k] else (ladders.bid_px, ladders.bid_sz)
            taker_is_buyer = bool(buys[k])
            if sweeps[k]:
                depth = min(int(sweep_depth[k]), self.levels)
                for lvl in range(depth - 1):
                    out.append(
                        SourceTrade(
                            ts_ns=ts,
                            price=float(px[j, lvl]),
                            size=float(sz[j, lvl]),
                            taker_is_buyer=taker_is_buyer,
                        )
                    )
                last_lots = max(1, round(sz[j, depth - 1] * lot_scale / lot_units * sweep_fraction[k]))
                out.append(
                    SourceTrade(
                        ts_ns=ts,
                        price=float(px[j, depth - 1]),
                        size=last_lots * lot_units / lot_scale,
                        taker_is_buyer=taker_is_buyer,
                    )
                )
            else:
                touch_lots = round(sz[j, 0] * lot_scale / lot_units)
                lots = min(int(size_lots[k]), touch_lots)
                out.append(
                    SourceTrade(
                        ts_ns=ts,
                        price=float(px[j, 0]),
                        size=lots * lot_units / lot_scale,
                        taker_is_buyer=taker_is_buyer,
                    )
                )
        return out
