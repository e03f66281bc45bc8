"""Time candles built in event time from mid prices, with volume from trades.

Rules (STRATEGIES.md, "Candles"):

- A candle covers [open_time_ms, open_time_ms + interval_ms); an event at ts_ms belongs to the
  candle with open_time_ms = ts_ms - ts_ms % interval_ms. Time is the event's own timestamp,
  never the wall clock, so a replay at any speed builds the same candles.
- Open/high/low/close come from mid prices only. Trades add volume and nothing else: the candles
  are then the same whether or not the feed carries trades, and a print away from the mid cannot
  draw a wick the mid never reached. (The trade price is validated, not used.)
- Only mids (or an explicit `advance`) move time and close candles; `on_trade` never does, so a
  caller may ignore what it returns (nothing). A trade timestamped in a later interval than the
  open candle keeps its volume aside for that interval until time gets there.
- When time jumps over whole intervals, each empty interval is emitted as a flat candle at the
  last close (volume 0, or the volume of trades seen in it), so indicators that count candles
  stay aligned with time.
- A candle opened by `advance` starts flat at the last close; the first mid in its interval then
  sets its open, high, low and close. Without a mid it closes flat at the last close.
- Events older than the open candle are counted in `late_events` and dropped: a closed candle
  never reopens. Nothing happens before the first mid (there is no price to start from).
"""

from __future__ import annotations

import math
from typing import Any, Self

import msgspec


class Candle(msgspec.Struct, frozen=True):
    open_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class CandleBuilder:
    """Aggregates mids and trades into candles of `interval_ms`.

    `max_gap_candles` bounds how many empty intervals one event may fill; a larger jump (a bad
    timestamp, usually) raises ValueError and leaves the builder untouched."""

    def __init__(self, interval_ms: int, max_gap_candles: int = 100_000) -> None:
        if isinstance(interval_ms, bool) or not isinstance(interval_ms, int) or interval_ms <= 0:
            raise ValueError(f"interval_ms must be a positive integer, got {interval_ms!r}")
        self.interval_ms = interval_ms
        self.max_gap_candles = max_gap_candles
        self.late_events = 0
        self._open_time: int | None = None  # None until the first mid
        self._open = self._high = self._low = self._close = 0.0
        self._volume = 0.0
        self._priced = False  # has a mid been seen in the open candle's interval?
        self._pending: dict[int, float] = {}  # volume of trades in intervals after the open one

    @property
    def current(self) -> Candle | None:
        """The open (not yet closed) candle, or None before the first mid."""
        if self._open_time is None:
            return None
        return Candle(self._open_time, self._open, self._high, self._low, self._close, self._volume)

    def on_mid(self, ts_ms: int, price: float) -> list[Candle]:
        """Apply a mid price; returns the candles this event closed (oldest first)."""
        if not (math.isfinite(price) and price > 0.0):
            raise ValueError(f"mid price must be finite and > 0, got {price!r}")
        if self._open_time is None:
            self._start(self._bucket(ts_ms), price)
            self._priced = True
            return []
        if self._bucket(ts_ms) < self._open_time:
            self.late_events += 1
            return []
        closed = self.advance(ts_ms)
        if self._priced:
            if price > self._high:
                self._high = price
            elif price < self._low:
                self._low = price
            self._close = price
        else:
            self._open = self._high = self._low = self._close = price
            self._priced = True
        return closed

    @property
    def next_open_ms(self) -> int | None:
        """When the open candle closes (the first event time in the next interval)."""
        return None if self._open_time is None else self._open_time + self.interval_ms

    @property
    def volume(self) -> float:
        """The open candle's volume so far."""
        return self._volume

    def absorb(self, high: float, low: float, close: float, volume: float | None = None) -> None:
        """Mids of the open candle's own interval in bulk (high/low their extremes, close the last),
        after a mid of that interval was applied; `volume` replaces the candle's volume when given
        (the caller added that interval's trades in order, as on_trade does). Same state as
        on_mid/on_trade one by one."""
        if self._open_time is None or not self._priced:
            raise ValueError("absorb needs a mid of the open candle's interval first")
        if high > self._high:
            self._high = high
        if low < self._low:
            self._low = low
        self._close = close
        if volume is not None:
            self._volume = volume

    def resume(self, open_time_ms: int, open_: float, high: float, low: float, close: float, volume: float) -> None:
        """The open candle as mids and trades of its interval left it, its predecessors closed
        elsewhere (a research replay that applied them in bulk). Same state as on_mid/on_trade."""
        if self._open_time is None or open_time_ms < self._open_time or self._pending:
            raise ValueError("resume needs a started builder, no earlier interval and no pending volume")
        self._open_time = open_time_ms
        self._open, self._high, self._low, self._close = open_, high, low, close
        self._volume = volume
        self._priced = True

    def on_trade(self, ts_ms: int, price: float, size: float) -> None:
        """Add a trade's size to the volume of its interval. Never closes a candle."""
        if not (math.isfinite(price) and price > 0.0):
            raise ValueError(f"trade price must be finite and > 0, got {price!r}")
        if not (math.isfinite(size) and size >= 0.0):
            raise ValueError(f"trade size must be finite and >= 0, got {size!r}")
        if self._open_time is None:
            return
        bucket = self._bucket(ts_ms)
        if bucket < self._open_time:
            self.late_events += 1
        elif bucket == self._open_time:
            self._volume += size
        else:
            self._check_gap(bucket)
            self._pending[bucket] = self._pending.get(bucket, 0.0) + size

    def advance(self, ts_ms: int) -> list[Candle]:
        """Move event time to ts_ms without a price: closes the open candle if ts_ms is in a later
        interval, emits the empty intervals between, and opens a flat candle at the last close.
        Useful on a quiet market, from any event that carries a timestamp."""
        if self._open_time is None:
            return []
        bucket = self._bucket(ts_ms)
        if bucket <= self._open_time:
            return []
        self._check_gap(bucket)
        closed = [Candle(self._open_time, self._open, self._high, self._low, self._close, self._volume)]
        last = self._close
        pending = self._pending
        for gap_time in range(self._open_time + self.interval_ms, bucket, self.interval_ms):
            closed.append(Candle(gap_time, last, last, last, last, pending.pop(gap_time, 0.0) if pending else 0.0))
        self._start(bucket, last)
        self._volume = pending.pop(bucket, 0.0) if pending else 0.0
        self._priced = False
        return closed

    def _check_gap(self, bucket: int) -> None:
        assert self._open_time is not None
        gaps = (bucket - self._open_time) // self.interval_ms - 1
        if gaps > self.max_gap_candles:
            raise ValueError(f"time jumped {gaps} empty candles (max_gap_candles={self.max_gap_candles})")

    def _bucket(self, ts_ms: int) -> int:
        return ts_ms - ts_ms % self.interval_ms

    def _start(self, open_time: int, price: float) -> None:
        self._open_time = open_time
        self._open = self._high = self._low = self._close = price
        self._volume = 0.0

    def to_state(self) -> dict[str, Any]:
        return {"kind": "CandleBuilder", "interval_ms": self.interval_ms,
                "max_gap_candles": self.max_gap_candles, "late_events": self.late_events,
                "open_time_ms": self._open_time, "open": self._open, "high": self._high, "low": self._low,
                "close": self._close, "volume": self._volume, "priced": self._priced,
                "pending": [[bucket, volume] for bucket, volume in sorted(self._pending.items())]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        if state.get("kind") != "CandleBuilder":
            raise ValueError(f"state is for {state.get('kind')!r}, not 'CandleBuilder'")
        obj = cls(state["interval_ms"], state["max_gap_candles"])
        obj.late_events = state["late_events"]
        obj._open_time = state["open_time_ms"]
        obj._open = state["open"]
        obj._high = state["high"]
        obj._low = state["low"]
        obj._close = state["close"]
        obj._volume = state["volume"]
        obj._priced = state["priced"]
        obj._pending = {int(bucket): volume for bucket, volume in state["pending"]}
        return obj
