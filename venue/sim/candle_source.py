"""Replay of 1-minute candles as a market: an intra-minute price path, books and trades.

Each minute is walked along four waypoints. The rule (fixed, so replays are reproducible):
  close <  open (a down candle): open -> high -> low -> close
  close >= open (up or flat):    open -> low -> high -> close
i.e. a candle is assumed to make the extreme against its final direction first. The path is
sampled every `tick_ms` of event time, linearly between waypoints, with each waypoint placed on a
sample so that the minute's high and low are reached exactly and the last sample is the close.

At every sample the source emits a SourceBook around the path price (at `spread_bps`); trades
print at the path price on the samples where the (tick-rounded) price moves, with the taker on
the side of the move, and share the minute's volume (random weights from `seed`, exact in lots).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from venue.sim.past_candles import Bars
from venue.sim.synthetic import NS_PER_MS, Grid, build_ladders
from venue.sim.types import SourceEvent, SourceTrade

CANDLE_COLUMNS = ("open_time_ms", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Candles:
    """1-minute candles as parallel numpy arrays (open_time_ms is int64, the rest float64)."""

    open_time_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    malformed: int = 0  # rows counted and dropped while reading

    def __len__(self) -> int:
        return len(self.open_time_ms)


def _to_ms(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # naive datetimes are taken as UTC, like the file's timestamps
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")  # noqa: SIM115 (returned)


MAX_OPEN_TIME_MS = 2**63 // 1_000_000  # open times become int64 nanoseconds downstream


def _parse_row(row: list[str]) -> tuple[int, float, float, float, float, float] | None:
    """One CSV row, or None when it is malformed or not a consistent candle."""
    if len(row) != len(CANDLE_COLUMNS):
        return None
    try:
        t = int(row[0])
        o, h, lo, c, v = (float(x) for x in row[1:])
    except ValueError:
        return None
    if not all(math.isfinite(x) for x in (o, h, lo, c, v)) or not 0 <= t < MAX_OPEN_TIME_MS:
        return None
    if lo <= 0 or v < 0 or h < max(o, c) or lo > min(o, c):
        return None
    return t, o, h, lo, c, v


def read_candles(path: str | Path, start: datetime | None = None, end: datetime | None = None) -> Candles:
    """Candles from a (gzip) CSV with header open_time_ms,open,high,low,close,volume.

    start/end (UTC; naive means UTC) keep minutes with start <= open_time < end. Malformed rows,
    inconsistent candles (high below open/close, ...) and rows out of time order are counted in
    `malformed` and dropped. A file without that header raises ValueError: it is the wrong file.
    """
    path = Path(path)
    start_ms, end_ms = _to_ms(start), _to_ms(end)
    rows: list[tuple[int, float, float, float, float, float]] = []
    malformed = 0
    with _open_text(path) as text:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != CANDLE_COLUMNS:
            raise ValueError(f"{path}: expected CSV header {','.join(CANDLE_COLUMNS)}, got {header!r}")
        last_t = None
        for raw in reader:
            if not raw:
                continue
            parsed = _parse_row(raw)
            if parsed is None or (last_t is not None and parsed[0] <= last_t):
                malformed += 1
                continue
            last_t = parsed[0]
            if (start_ms is None or parsed[0] >= start_ms) and (end_ms is None or parsed[0] < end_ms):
                rows.append(parsed)
    table = np.array(rows, dtype=np.float64).reshape(-1, len(CANDLE_COLUMNS))
    return Candles(
        open_time_ms=np.array([r[0] for r in rows], dtype=np.int64),
        open=table[:, 1].copy(),
        high=table[:, 2].copy(),
        low=table[:, 3].copy(),
        close=table[:, 4].copy(),
        volume=table[:, 5].copy(),
        malformed=malformed,
    )


def _waypoint_samples(distances: list[float], steps: int) -> list[int]:
    """Sample indices of the 4 waypoints: spaced by price distance, each move at least one step."""
    last = steps - 1
    total = sum(distances)
    if total == 0:
        return [0, 0, 0, last]
    d1, d2, d3 = distances
    i1 = round(last * d1 / total)
    i2 = round(last * (d1 + d2) / total)
    # a waypoint that differs from the previous one needs its own sample, or the sample would
    # have to take two values; with steps >= 4 there is always room
    i1 = max(i1, 1 if d1 > 0 else 0)
    i2 = max(i2, i1 + (1 if d2 > 0 else 0))
    i2 = min(i2, last - (1 if d3 > 0 else 0))
    i1 = min(i1, i2 - (1 if d2 > 0 else 0))
    return [0, i1, i2, last]


def intraminute_path(open: float, high: float, low: float, close: float, steps: int) -> list[float]:
    """`steps` prices through the minute: open first, close last, high and low hit exactly.

    Waypoints: open -> high -> low -> close when close < open, otherwise open -> low -> high ->
    close; linear between waypoints, time shared in proportion to the price distance covered.
    """
    if steps < 4:
        raise ValueError(f"an intra-minute path needs at least 4 steps, got {steps}")
    waypoints = [open, high, low, close] if close < open else [open, low, high, close]
    distances = [abs(waypoints[i + 1] - waypoints[i]) for i in range(3)]
    idx = _waypoint_samples(distances, steps)
    path = np.empty(steps)
    for seg in range(3):
        a, b = idx[seg], idx[seg + 1]
        if b > a:
            path[a : b + 1] = np.linspace(waypoints[seg], waypoints[seg + 1], b - a + 1)
    # assign the waypoints last so each is exact even where segments share a sample
    for i, w in zip(idx, waypoints, strict=True):
        path[i] = w
    return path.tolist()


def split_volume(rng: np.random.Generator, total_lots: int, n: int) -> np.ndarray:
    """total_lots split into at most n positive integer parts (random weights); sums exactly."""
    n = min(n, total_lots)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    weights = rng.exponential(1.0, n)
    spare = total_lots - n  # every part gets one lot, the rest goes by weight
    shares = weights / weights.sum() * spare
    parts = np.floor(shares).astype(np.int64)
    remainder = spare - int(parts.sum())
    if remainder:
        parts[np.argsort(shares - parts)[::-1][:remainder]] += 1
    return parts + 1


class CandleSource:
    """A finite replay of a candle file (or a span of it) as books and trades in event time."""

    def __init__(
        self,
        path: str | Path,
        *,
        tick_ms: int = 250,
        tick: float = 0.001,
        lot: float = 0.001,
        levels: int = 10,
        spread_bps: float = 1.0,
        seed: int = 1,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        if not 0 < tick_ms <= 15_000:
            raise ValueError(f"tick_ms must be in 1..15000 (at least 4 samples a minute), got {tick_ms}")
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        if not (math.isfinite(spread_bps) and spread_bps > 0):
            raise ValueError(f"spread_bps must be positive, got {spread_bps!r}")
        self.path = Path(path)
        self.tick_ms = tick_ms
        self.steps = 60_000 // tick_ms
        self.price_grid = Grid(tick)
        self.size_grid = Grid(lot)
        self.levels = levels
        self.spread_bps = spread_bps
        self.seed = seed
        self.candles = read_candles(self.path, start, end)
        self.malformed = self.candles.malformed
        self._first_live = 0  # the first minute events() plays (after take_history: the past's end)

    def take_history(self, duration_ms: int) -> Bars:
        """The file's first duration_ms as the market's past; events() then plays from the next
        minute on. The past is the file's own candles (the truth the intra-minute walk only
        approximates): prices and volume on the market's grids, the quote volume at the mean of
        open, high, low and close (the file has no VWAP), each minute with volume counted as one
        trade (the file has no trades). A file without a minute left to play after the past is
        refused: a venue with nothing live would answer every order on a frozen book."""
        c = self.candles
        first_ms = int(c.open_time_ms[0]) if len(c) else 0
        past = int(np.searchsorted(c.open_time_ms, first_ms + max(0, int(duration_ms)), side="left"))
        if len(c) and past >= len(c):
            raise ValueError(
                f"{self.path}: {duration_ms / 3_600_000:g} h of history leave nothing to play "
                f"(the file holds {len(c)} minutes, {len(c) / 60:.1f} h); lower history_hours"
            )
        self._first_live = past
        grid, lots = self.price_grid, self.size_grid
        ohlc = np.stack([c.open[:past], c.high[:past], c.low[:past], c.close[:past]], axis=1)
        ohlc = grid.values(grid.count(ohlc))
        volume = lots.values(lots.count(c.volume[:past]))
        traded = volume > 0
        nan = np.full_like(ohlc, np.nan)
        trades = traded.astype(np.int64)
        return Bars(
            start_ms=c.open_time_ms[:past].copy(),
            mid=np.where(traded[:, None], nan, ohlc),
            trade=np.where(traded[:, None], ohlc, nan),
            volume=volume,
            quote_volume=volume * ohlc.mean(axis=1),
            trades=trades,
            last_trade=np.where(traded, np.cumsum(trades) - 1, -1),
        )

    def events(self) -> Iterator[SourceEvent]:
        """All minutes in order (after take_history: those after the past); each call replays
        from the same minute with the same seed."""
        rng = np.random.Generator(np.random.PCG64(self.seed))
        c = self.candles
        for m in range(self._first_live, len(c)):
            yield from self._minute(
                rng, int(c.open_time_ms[m]), c.open[m], c.high[m], c.low[m], c.close[m], c.volume[m]
            )

    def _minute(
        self, rng: np.random.Generator, open_ms: int, o: float, h: float, lo: float, c: float, volume: float
    ) -> Iterator[SourceEvent]:
        grid = self.price_grid
        ticks = grid.count(np.array(intraminute_path(o, h, lo, c, self.steps)))
        mids = grid.values(ticks)
        ladders = build_ladders(
            rng,
            mids,
            np.full(self.steps, self.spread_bps),
            price_grid=grid,
            size_grid=self.size_grid,
            levels=self.levels,
            even_spread=True,
        )
        ts = [(open_ms + k * self.tick_ms) * NS_PER_MS for k in range(self.steps)]
        books = ladders.books(ts)

        moves = np.diff(ticks)
        trade_at = np.flatnonzero(moves) + 1
        if len(trade_at) == 0:
            trade_at = np.array([self.steps // 2])  # a flat minute still trades its volume
        total_lots = int(self.size_grid.count(volume))
        lots = split_volume(rng, total_lots, len(trade_at))
        trade_at = trade_at[: len(lots)]
        flat_side = rng.random(len(lots)) < 0.5
        trades: dict[int, SourceTrade] = {}
        prices = mids.tolist()
        for k, n_lots, coin in zip(trade_at.tolist(), lots.tolist(), flat_side.tolist(), strict=True):
            move = int(ticks[k] - ticks[k - 1]) if k > 0 else 0
            trades[k] = SourceTrade(
                ts_ns=ts[k],
                price=prices[k],
                size=n_lots * self.size_grid.units / self.size_grid.scale,
                taker_is_buyer=move > 0 if move else bool(coin),
            )
        for k, book in enumerate(books):
            yield book
            trade = trades.get(k)
            if trade is not None:
                yield trade
