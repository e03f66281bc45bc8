"""The default market source: a synthetic, SOL-like market generated in event time.

The mid follows a log random walk whose volatility and drift switch between three regimes
(calm, trending, volatile) by a Markov chain with dwell times of minutes, plus a soft pull toward
the start price that only matters over days (it keeps a months-long run inside ~100-250 for a
160 start). The parameters are calibrated to the real SOL/USDT 1-minute candles described in
shared/data/README.md: median |1-min return| ~5.5 bps, 1-min std ~10.5 bps, median 1-min range
~11.4 bps, hourly std ~77 bps (tests/test_sources.py checks the 1-minute figures).

Around the mid it keeps a full L2 book, snapshotted every `book_interval_ms`, whose levels persist
as a real book's do (PersistentBook: between snapshots only a few levels change, where the touch
moved or a level's size was refreshed), and a Poisson stream of trades at the touch (sometimes
sweeping 2-3 levels), whose side leans with the price's next move. The path is computed in
vectorised chunks of minutes; only the final event objects are built one by one.

The grid and ladder helpers here are shared with the candle replay (candle_source.py), which
still draws each snapshot independently with build_ladders.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import numpy as np

from venue.sim.past_candles import Bars
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
    """Books of `levels` levels a side around each mid, each drawn independently of the others.

    The candle replay's book (the synthetic source keeps a PersistentBook instead). The touch is placed around the mid at the given spread (at least one tick). Deeper levels
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
# Persistent book: stable levels on the tick lattice (the synthetic source's book)
# ---------------------------------------------------------------------------------------------

_U64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix_int(x: int) -> int:
    """splitmix64's finaliser on a Python int (for the per-seed keys of the hash streams)."""
    x &= _U64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _U64
    return x ^ (x >> 31)


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64s; the wrap modulo 2**64 is the point, not an overflow."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _hash(key: int, *parts: np.ndarray | int) -> np.ndarray:
    """A stable 64-bit hash of (key, parts...), elementwise over the broadcast parts.

    Each part is mixed on its own before it is combined, so nearby integers (adjacent ticks,
    consecutive epochs) give unrelated hashes.
    """
    z: np.ndarray = np.full((), key, dtype=np.uint64)
    for part in parts:
        z = _mix64(z ^ _mix64(np.asarray(part).astype(np.uint64) + np.uint64(_GOLDEN)))
    return z


def _uniform(bits: np.ndarray) -> np.ndarray:
    """Uniforms in [0, 1) from the top 53 bits of hashes."""
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _normal(bits: np.ndarray) -> np.ndarray:
    """Standard normals from hashes by Box-Muller on their two 32-bit halves."""
    u1 = ((bits >> np.uint64(32)).astype(np.float64) + 0.5) * 2.0**-32  # in (0, 1): log is finite
    u2 = (bits & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.0**-32
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


# one hash stream per use, so that e.g. a tick's occupancy says nothing about its size
_OCCUPANCY, _PHASE, _SIZE, _TOUCH_PHASE, _TOUCH_SIZE = range(5)
_SIZE_SIGMA = 0.6  # lognormal sigma of level sizes
_SIZE_SLOPE = 0.08  # sizes grow by this fraction of the touch size per level of depth
_BID, _ASK = 0, 1


class PersistentBook:
    """Books whose levels persist from one snapshot to the next, as a real L2 book's do.

    A real book update touches a few levels; sampling every snapshot afresh would change all of
    them every interval. Here every quantity is a stable pseudo-random function of the seed and
    the absolute tick (a splitmix64 hash), so two snapshots only differ where something moved:

    - Occupancy: tick k holds a level iff uniform(hash(seed, k)) < 1 / mean gap, the gap being
      `level_gap_bps` of the tick's own price, in ticks (at least one tick). It depends on the
      tick alone, so a level stays put however the mid moves around it. The touch (best bid and
      ask from the mid and the spread) is always occupied; beyond it each side takes the next
      `levels - 1` occupied ticks, so as the mid moves levels enter and leave at the touch and
      at the far edge. The default gap, 0.375 bps, is the mean gap of build_ladders' 20-level
      book (0.25 bps widening by 5% a level), so the book spans the same ~7 bps a side.
    - Sizes: a level's size is lognormal around `touch_size`, fixed for an epoch of
      `size_period_ms` and redrawn when its epoch turns; each (tick, side) has its own phase,
      so about step / period of the levels change per snapshot, never all at once. The size
      grows with the level's distance behind the mid when its epoch began (the touch is thin,
      liquidity rests further out), which keeps it fixed while the mid moves within the epoch;
      a level that was at or across the mid then starts thin.
      The touch uses its own, faster epochs (`touch_period_ms`): it is where orders come and go.

    Stateful over consecutive chunks: ladders() must be called with the chunks in order, as an
    epoch that began in the previous chunk is sized by the mid at its start.
    """

    def __init__(
        self,
        seed: int,
        *,
        price_grid: Grid,
        size_grid: Grid,
        levels: int,
        step_ms: int,
        level_gap_bps: float = 0.375,
        touch_size: float = 20.0,
        size_period_ms: int = 4_000,
        touch_period_ms: int = 1_000,
    ) -> None:
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        if step_ms <= 0 or size_period_ms <= 0 or touch_period_ms <= 0:
            raise ValueError("step_ms and the size periods must be positive")
        self.price_grid = price_grid
        self.size_grid = size_grid
        self.levels = levels
        self.step_ms = step_ms
        self.level_gap_bps = level_gap_bps
        self.size_steps = touch_size * size_grid.scale / size_grid.units
        self.size_period_ms = size_period_ms
        self.touch_period_ms = touch_period_ms
        base = _mix_int(seed * _GOLDEN + 0x5EED)
        self._keys = [_mix_int(base + i) for i in range(5)]
        self._next_step = 0  # index, since the first snapshot, of the next chunk's first snapshot
        # mid ticks of the snapshots just before the chunk: an epoch begins at most one period back
        self._tail = np.empty(0)
        self._tail_len = -(-size_period_ms // step_ms) + 1

    def touch(self, mids: np.ndarray, spread_bps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best bid and ask ticks of the books at these mids."""
        grid = self.price_grid
        mid_ticks = np.asarray(mids, dtype=np.float64) * grid.scale / grid.units
        spread_ticks = np.maximum(1, np.rint(mid_ticks * np.asarray(spread_bps) / 1e4)).astype(np.int64)
        best_bid = np.floor(mid_ticks - spread_ticks / 2 + 1e-7).astype(np.int64)
        return best_bid, best_bid + spread_ticks

    def ladders(
        self, mids: np.ndarray, spread_bps: np.ndarray, rows: np.ndarray | None = None, depth: int | None = None
    ) -> Ladders:
        """The books at the chunk's mids (one snapshot every step_ms), continuing the last chunk.

        rows / depth: only those snapshots, only their best `depth` levels (the simulator's past
        needs the levels trades print at, not whole books); each level is the same as in the
        whole book, and the book moves on by the whole chunk all the same.
        """
        n, grid = len(mids), self.price_grid
        mid_ticks = np.asarray(mids, dtype=np.float64) * grid.scale / grid.units
        best_bid, best_ask = self.touch(mids, spread_bps)
        steps = self._next_step + np.arange(n, dtype=np.int64)
        if rows is not None:
            best_bid, best_ask, steps = best_bid[rows], best_ask[rows], steps[rows]
        bid_ticks, ask_ticks = self._levels(best_bid, best_ask, self.levels if depth is None else depth)

        history = np.concatenate([self._tail, mid_ticks])
        first = self._next_step - len(self._tail)  # the step of history[0]
        bid_lots = self._sizes(bid_ticks, _BID, steps, history, first)
        ask_lots = self._sizes(ask_ticks, _ASK, steps, history, first)
        self._next_step += n
        self._tail = history[-self._tail_len :]
        return Ladders(
            grid.values(bid_ticks),
            self.size_grid.values(bid_lots),
            grid.values(ask_ticks),
            self.size_grid.values(ask_lots),
        )

    def _gap(self, ticks: np.ndarray) -> np.ndarray:
        """The mean level gap, in ticks, at a price of `ticks` ticks (never below one tick)."""
        return np.maximum(1.0, ticks * self.level_gap_bps / 1e4)

    def _occupied(self, lo: int, hi: int) -> np.ndarray:
        """The occupied ticks in [lo, hi], ascending.

        Occupancy depends on the tick alone (its hash against the level density at its own
        price), not on the mid, so a level stays put however the price moves around it.
        """
        ticks = np.arange(lo, hi + 1, dtype=np.int64)
        return ticks[_uniform(_hash(self._keys[_OCCUPANCY], ticks)) * self._gap(ticks) < 1.0]

    def _levels(
        self, best_bid: np.ndarray, best_ask: np.ndarray, levels: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, levels) bid and ask ticks: the touch, then the next occupied ticks away from it."""
        need = levels - 1
        if not len(best_bid):
            empty = np.zeros((0, levels), dtype=np.int64)
            return empty, empty.copy()
        # a margin of twice the expected depth: short of levels at either end, widen and redo
        margin = int(math.ceil(2 * need * self._gap(best_ask.max()))) + 16
        while True:
            lo = max(1, int(best_bid.min()) - margin)
            hi = int(best_ask.max()) + margin
            occupied = self._occupied(lo, hi)
            below = np.searchsorted(occupied, best_bid, side="left")  # occupied[below - 1] < best_bid
            above = np.searchsorted(occupied, best_ask, side="right")  # occupied[above] > best_ask
            if below.min() >= need and above.max() + need <= len(occupied):
                break
            if lo == 1 and below.min() < need:
                raise ValueError(f"fewer than {levels} ticks above zero for the bid levels")
            margin *= 2
        offsets = np.arange(1, need + 1)
        bids = np.concatenate([best_bid[:, None], occupied[below[:, None] - offsets]], axis=1)
        asks = np.concatenate([best_ask[:, None], occupied[above[:, None] + offsets - 1]], axis=1)
        return bids, asks

    def _sizes(
        self, ticks: np.ndarray, side: int, steps: np.ndarray, history: np.ndarray, first: int
    ) -> np.ndarray:
        """Lots of each level of one side: stable within each level's epoch."""
        t_ms = (steps * self.step_ms)[:, None]
        deep = ticks[:, 1:]
        period = self.size_period_ms
        phase = (_uniform(_hash(self._keys[_PHASE], deep, side)) * period).astype(np.int64)
        epoch = (t_ms + phase) // period
        # the snapshot at or after the epoch's start; the first snapshot stands in for earlier ones
        start_step = np.maximum(0, -(-(epoch * period - phase) // self.step_ms))
        start_mid = history[start_step - first]
        behind = (start_mid - deep) if side == _BID else (deep - start_mid)
        profile = 1.0 + _SIZE_SLOPE * np.maximum(0.0, behind) / self._gap(start_mid)
        noise = _normal(_hash(self._keys[_SIZE], deep, side, epoch))

        touch = ticks[:, :1]
        t_period = self.touch_period_ms
        t_phase = (_uniform(_hash(self._keys[_TOUCH_PHASE], touch, side)) * t_period).astype(np.int64)
        t_noise = _normal(_hash(self._keys[_TOUCH_SIZE], touch, side, (t_ms + t_phase) // t_period))

        lots = np.empty(ticks.shape, dtype=np.float64)
        lots[:, :1] = self.size_steps * np.exp(_SIZE_SIGMA * t_noise)
        lots[:, 1:] = self.size_steps * profile * np.exp(_SIZE_SIGMA * noise)
        return np.maximum(1, np.rint(lots)).astype(np.int64)


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
_SPREAD_HOLD_MS = 3_000  # mean time between changes of the spread's random factor


@dataclass
class _Run:
    """The generator's whole state: continuing it continues the market."""

    rng: np.random.Generator
    path: MidPath
    book: PersistentBook
    spread_noise: np.ndarray  # the last spread factor of the previous chunk
    chunk_start: int  # ts_ns of the next chunk's first book


@dataclass(frozen=True)
class _Prints:
    """A chunk's trades as arrays, in the order they happen (a sweep's levels one by one)."""

    ts_ns: np.ndarray
    price: np.ndarray
    size: np.ndarray
    buyer: np.ndarray


class SyntheticSource:
    """An infinite, deterministic (per seed) SOL-like market: books every interval, Poisson trades.

    take_history(duration_ms): the market's past, generated by the same process (the same seed,
    the same chunks) from duration_ms before start_ts_ns on, rounded up to whole chunks of
    CHUNK_MINUTES; events() then continues from that past at start_ts_ns. The past is made on a
    fast path that builds only what candles need (mids, and the few book levels trades print at):
    ~0.3 s for 14 hours, ~20 s for a month.
    """

    CHUNK_MINUTES = 10

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
        self._live_start: _Run | None = None  # the state at start_ts_ns after take_history

    def _new_run(self, start_ts_ns: int) -> _Run:
        rng = np.random.Generator(np.random.PCG64(self.seed))
        book = PersistentBook(
            self.seed,
            price_grid=self.price_grid,
            size_grid=self.size_grid,
            levels=self.levels,
            step_ms=self.book_interval_ms,
        )
        path = MidPath(rng, self.start_price, self.book_interval_ms, self.CHUNK_MINUTES)
        return _Run(rng=rng, path=path, book=book, spread_noise=np.ones(1), chunk_start=start_ts_ns)

    def _next_chunk(self, run: _Run) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """(first book's ts_ns, mids, regimes, spreads in bps) of the run's next chunk."""
        mids, regimes = run.path.next_chunk()
        run.spread_noise = self._spread_noise(run.rng, len(mids), float(run.spread_noise[-1]))
        spread = np.clip(_SPREAD_BPS[regimes] * run.spread_noise, 0.5, 2.0)
        t0 = run.chunk_start
        run.chunk_start += len(mids) * self.book_interval_ms * NS_PER_MS
        return t0, mids, regimes, spread

    def take_history(self, duration_ms: int) -> Bars:
        """The 1-minute bars of the market's past (trades numbered from 0); events() then starts
        where it ends, at start_ts_ns. Deterministic per seed."""
        chunk_ms = self.CHUNK_MINUTES * 60_000
        chunks = -(-max(0, int(duration_ms)) // chunk_ms)
        run = self._new_run(self.start_ts_ns - chunks * chunk_ms * NS_PER_MS)
        step_ns = self.book_interval_ms * NS_PER_MS
        depth = min(3, self.levels)  # the deepest level a sweep reaches
        parts: list[Bars] = []
        trades = 0
        for _ in range(chunks):
            t0, mids, regimes, spread = self._next_chunk(run)
            best_bid, best_ask = run.book.touch(mids, spread)
            draws = self._trade_draws(run.rng, len(mids), mids, regimes)
            rows = np.unique(draws.book_idx)
            ladders = run.book.ladders(mids, spread, rows=rows, depth=depth)
            prints = self._prints(t0, draws, ladders, np.searchsorted(rows, draws.book_idx))
            book_ms = (t0 + np.arange(len(mids), dtype=np.int64) * step_ns) // NS_PER_MS
            # the venue's mid: the two touches' sum in ticks, halved (as its engine computes it)
            book_mids = self.price_grid.values(best_bid + best_ask) / 2
            parts.append(
                Bars.from_ticks(book_ms, book_mids, prints.ts_ns // NS_PER_MS, prints.price, prints.size, trades)
            )
            trades += len(prints.ts_ns)
        self._live_start = copy.deepcopy(run)
        return Bars.concat(parts)

    def events(self) -> Iterator[SourceEvent]:
        """Books and trades in nondecreasing ts_ns, forever; each call starts over from the seed
        (after take_history: from the state the past ended in)."""
        run = copy.deepcopy(self._live_start) if self._live_start is not None else self._new_run(self.start_ts_ns)
        self.regime_log = []
        step_ns = self.book_interval_ms * NS_PER_MS
        while True:
            t0, mids, regimes, spread = self._next_chunk(run)
            self.regime_log.extend(regimes[:: run.path.steps_per_min].tolist())
            ladders = run.book.ladders(mids, spread)
            draws = self._trade_draws(run.rng, len(mids), mids, regimes)
            prints = self._prints(t0, draws, ladders, draws.book_idx)
            yield from self._chunk_events(t0, step_ns, len(mids), ladders, prints)

    def _spread_noise(self, rng: np.random.Generator, n: int, last: float) -> np.ndarray:
        """The spread's lognormal factor, held for Poisson-long spells of _SPREAD_HOLD_MS.

        Each value is an independent lognormal draw, as before, but a real spread does not jump
        every 100 ms: redrawn every snapshot it would move both touches by a few ticks in every
        update, on top of the mid's own moves.
        """
        draws = rng.lognormal(0.0, 0.25, n)
        redraw = rng.random(n) < self.book_interval_ms / _SPREAD_HOLD_MS
        latest = np.maximum.accumulate(np.where(redraw, np.arange(n), -1))
        return np.where(latest >= 0, draws[np.maximum(latest, 0)], last)

    def _chunk_events(
        self, t0: int, step_ns: int, n: int, ladders: Ladders, prints: _Prints
    ) -> Iterator[SourceEvent]:
        book_ts = [t0 + i * step_ns for i in range(n)]
        books = ladders.books(book_ts)
        trades = [
            SourceTrade(ts_ns=ts, price=px, size=sz, taker_is_buyer=buy)
            for ts, px, sz, buy in zip(
                prints.ts_ns.tolist(), prints.price.tolist(), prints.size.tolist(), prints.buyer.tolist(), strict=True
            )
        ]
        # merge by time; at equal ts the book comes first, so a trade always follows its book
        ti = 0
        for i, book in enumerate(books):
            yield book
            next_book_ts = book_ts[i] + step_ns
            while ti < len(trades) and trades[ti].ts_ns < next_book_ts:
                yield trades[ti]
                ti += 1

    def _trade_draws(self, rng: np.random.Generator, n: int, mids: np.ndarray, regimes: np.ndarray) -> _TradeDraws:
        """Every random choice of a chunk's trades; the same draws whether books are built or not."""
        step_ns = self.book_interval_ms * NS_PER_MS
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
        return _TradeDraws(offsets, book_idx, buys, size_lots, sweeps, sweep_depth, sweep_fraction)

    def _prints(self, t0: int, d: _TradeDraws, ladders: Ladders, ladder_row: np.ndarray) -> _Prints:
        """The trades' prints on the books (ladder_row: each trade's row in `ladders`): one at the
        touch, at most its size, or a sweep taking whole levels and part of the last one."""
        depth = np.where(d.sweeps, np.minimum(d.sweep_depth, self.levels), 1)
        trade = np.repeat(np.arange(len(depth)), depth)
        level = np.arange(len(trade)) - np.repeat(np.cumsum(depth) - depth, depth)
        last = level == depth[trade] - 1
        row, buy = ladder_row[trade], d.buys[trade]
        price = np.where(buy, ladders.ask_px[row, level], ladders.bid_px[row, level])
        level_size = np.where(buy, ladders.ask_sz[row, level], ladders.bid_sz[row, level])
        units, scale = self.size_grid.units, self.size_grid.scale
        level_lots = level_size * scale / units
        touch_lots = np.minimum(d.size_lots[trade], np.rint(level_lots).astype(np.int64))
        part_lots = np.maximum(1, np.rint(level_lots * d.sweep_fraction[trade])).astype(np.int64)
        lots = np.where(d.sweeps[trade], part_lots, touch_lots)
        size = np.where(last, lots * units / scale, level_size)
        return _Prints(ts_ns=t0 + d.offsets[trade], price=price, size=size, buyer=buy)


class _TradeDraws(NamedTuple):
    offsets: np.ndarray  # ns after the chunk's start, ascending
    book_idx: np.ndarray  # the book each trade meets
    buys: np.ndarray
    size_lots: np.ndarray
    sweeps: np.ndarray
    sweep_depth: np.ndarray
    sweep_fraction: np.ndarray
