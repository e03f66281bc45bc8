"""Candles of one simulated market, built in event time from the external mid and every trade.

A candle with trades in it takes its open/high/low/close from the trades (as the venue's candles
do); a candle without any takes them from the mid of the books seen in it, with zero volume, so a
quiet market still has a price history. Each resolution keeps a bounded history (the newest
`max_candles`), so memory stays flat over a months-long replay.

`load_past` puts a market's past (past_candles.Bars, from before the simulator's start) in place
before the first live event: the live events then continue its last candles, as they would have
had the simulator run through that past.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from venue.sim.past_candles import Bars

RESOLUTION_MS: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "1w": 604_800_000,
}


class Candle:
    __slots__ = ("start_ms", "mid_ohlc", "trade_ohlc", "volume", "quote_volume", "last_trade_id", "trades")

    def __init__(self, start_ms: int) -> None:
        self.start_ms = start_ms
        self.mid_ohlc: list[float] | None = None  # [open, high, low, close]
        self.trade_ohlc: list[float] | None = None
        self.volume = 0.0
        self.quote_volume = 0.0
        self.last_trade_id = 0
        self.trades = 0

    def on_mid(self, price: float) -> None:
        ohlc = self.mid_ohlc
        if ohlc is None:
            self.mid_ohlc = [price, price, price, price]
            return
        if price > ohlc[1]:
            ohlc[1] = price
        elif price < ohlc[2]:
            ohlc[2] = price
        ohlc[3] = price

    def on_trade(self, price: float, size: float, trade_id: int) -> None:
        ohlc = self.trade_ohlc
        if ohlc is None:
            self.trade_ohlc = [price, price, price, price]
        else:
            if price > ohlc[1]:
                ohlc[1] = price
            elif price < ohlc[2]:
                ohlc[2] = price
            ohlc[3] = price
        self.volume += size
        self.quote_volume += size * price
        self.last_trade_id = trade_id
        self.trades += 1

    def ohlc(self) -> list[float] | None:
        return self.trade_ohlc if self.trade_ohlc is not None else self.mid_ohlc

    def as_json(self) -> dict[str, Any] | None:
        """Lighter's candle shape {t, o, h, l, c, v, V, i}; None for a candle with no price yet."""
        ohlc = self.ohlc()
        if ohlc is None:
            return None
        return {
            "t": self.start_ms,
            "o": ohlc[0],
            "h": ohlc[1],
            "l": ohlc[2],
            "c": ohlc[3],
            "v": round(self.volume, 8),
            "V": round(self.quote_volume, 6),
            "i": self.last_trade_id,
        }


class CandleHistory:
    """Bounded candle histories of one market at several resolutions."""

    def __init__(self, resolutions: tuple[str, ...] = tuple(RESOLUTION_MS), max_candles: int = 1500) -> None:
        unknown = [r for r in resolutions if r not in RESOLUTION_MS]
        if unknown:
            raise ValueError(f"unknown candle resolution(s) {unknown}; known: {list(RESOLUTION_MS)}")
        if max_candles < 1:
            raise ValueError(f"max_candles must be >= 1, got {max_candles}")
        self._resolutions = [(r, RESOLUTION_MS[r]) for r in resolutions]
        self._history: dict[str, deque[Candle]] = {r: deque(maxlen=max_candles) for r in resolutions}

    @property
    def resolutions(self) -> list[str]:
        return [r for r, _ in self._resolutions]

    def load_past(self, bars: Bars, trade_id_base: int) -> None:
        """The past's candles at every resolution (the newest max_candles of each), before any
        live event; relative trade ids become trade_id_base + id."""
        if any(self._history.values()):
            raise RuntimeError("the past is loaded before the first live event")
        for resolution, width in self._resolutions:
            rolled = bars.rollup(width)
            history = self._history[resolution]
            first = max(0, len(rolled) - (history.maxlen or len(rolled)))
            for i in range(first, len(rolled)):
                candle = Candle(int(rolled.start_ms[i]))
                mid, trade = rolled.mid[i].tolist(), rolled.trade[i].tolist()
                candle.mid_ohlc = None if math.isnan(mid[0]) else mid
                candle.trade_ohlc = None if math.isnan(trade[0]) else trade
                candle.volume = float(rolled.volume[i])
                candle.quote_volume = float(rolled.quote_volume[i])
                candle.trades = int(rolled.trades[i])
                last = int(rolled.last_trade[i])
                candle.last_trade_id = trade_id_base + last if last >= 0 else 0
                history.append(candle)

    def _current(self, resolution: str, width_ms: int, ts_ms: int) -> Candle | None:
        history = self._history[resolution]
        start = ts_ms - ts_ms % width_ms
        if history:
            last = history[-1]
            if last.start_ms == start:
                return last
            if last.start_ms > start:
                return None  # an event older than the open candle: event time never goes back
        candle = Candle(start)
        history.append(candle)
        return candle

    def on_mid(self, ts_ms: int, price: float) -> None:
        for resolution, width in self._resolutions:
            candle = self._current(resolution, width, ts_ms)
            if candle is not None:
                candle.on_mid(price)

    def on_trade(self, ts_ms: int, price: float, size: float, trade_id: int) -> None:
        for resolution, width in self._resolutions:
            candle = self._current(resolution, width, ts_ms)
            if candle is not None:
                candle.on_trade(price, size, trade_id)

    def query(
        self,
        resolution: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
        count_back: int | None = None,
    ) -> list[dict[str, Any]]:
        """Candles overlapping [start_ms, end_ms], oldest first, at most the newest count_back."""
        history = self._history.get(resolution)
        if history is None:
            raise ValueError(f"resolution {resolution!r} is not kept; kept: {self.resolutions}")
        width = RESOLUTION_MS[resolution]
        picked: list[dict[str, Any]] = []
        for candle in history:
            if start_ms is not None and candle.start_ms + width <= start_ms:
                continue
            if end_ms is not None and candle.start_ms > end_ms:
                break
            shaped = candle.as_json()
            if shaped is not None:
                picked.append(shaped)
        if count_back is not None and count_back >= 0:
            picked = picked[-count_back:] if count_back else []
        return picked

    def latest(self, resolution: str) -> dict[str, Any] | None:
        """The newest candle of a resolution in Lighter's shape (the one still forming), None if none."""
        history = self._history.get(resolution)
        if not history:
            return None
        for candle in reversed(history):
            shaped = candle.as_json()
            if shaped is not None:
                return shaped
        return None

    def window(self, resolution: str, since_ms: int) -> list[Candle]:
        """The raw candles starting at or after since_ms (for rolling daily statistics)."""
        return [c for c in self._history[resolution] if c.start_ms >= since_ms]
