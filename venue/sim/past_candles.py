"""A market's past as candles: what the simulator serves from before its start (as Lighter does).

`Bars` holds candles as parallel numpy arrays, with the mid's and the trades' OHLC apart (NaN
where there was none), exactly as candle_history.Candle keeps them, so that rolling bars up to a
wider interval gives what building the wider candle event by event would have given: the
trades' OHLC when the candle has trades, the mid's otherwise. Everything is vectorised: a month
of 1-minute bars rolls up in milliseconds.

Trade ids here are relative (0 = the first trade of the past); the server adds its own base so
that the past's ids run on into the live trades' without overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MINUTE_MS = 60_000


@dataclass(frozen=True)
class Bars:
    """Candles of one market: start_ms ascending; mid and trade are (n, 4) open/high/low/close."""

    start_ms: np.ndarray  # int64
    mid: np.ndarray  # float64 (n, 4), NaN rows where the candle saw no mid
    trade: np.ndarray  # float64 (n, 4), NaN rows where the candle saw no trade
    volume: np.ndarray  # float64
    quote_volume: np.ndarray  # float64
    trades: np.ndarray  # int64: how many trades
    last_trade: np.ndarray  # int64: relative id of the candle's last trade (-1: none)

    def __len__(self) -> int:
        return len(self.start_ms)

    @property
    def trade_count(self) -> int:
        return int(self.trades.sum())

    @property
    def end_ms(self) -> int | None:
        """The start of the last bar (None when empty)."""
        return int(self.start_ms[-1]) if len(self) else None

    @staticmethod
    def empty() -> Bars:
        return Bars(
            start_ms=np.zeros(0, dtype=np.int64),
            mid=np.zeros((0, 4)),
            trade=np.zeros((0, 4)),
            volume=np.zeros(0),
            quote_volume=np.zeros(0),
            trades=np.zeros(0, dtype=np.int64),
            last_trade=np.zeros(0, dtype=np.int64),
        )

    @staticmethod
    def from_ticks(
        mid_ms: np.ndarray,
        mids: np.ndarray,
        trade_ms: np.ndarray,
        prices: np.ndarray,
        sizes: np.ndarray,
        first_trade: int,
    ) -> Bars:
        """One-minute bars of a stream of mids and trades (each in time order); the trades are
        numbered from first_trade on."""
        n_mid, n_trade = len(mid_ms), len(trade_ms)
        nan_mid = np.full((n_trade, 4), np.nan)
        nan_trade = np.full((n_mid, 4), np.nan)
        mids4 = np.repeat(np.asarray(mids, dtype=np.float64)[:, None], 4, axis=1)
        prices4 = np.repeat(np.asarray(prices, dtype=np.float64)[:, None], 4, axis=1)
        sizes = np.asarray(sizes, dtype=np.float64)
        ticks = Bars(
            start_ms=np.concatenate([np.asarray(mid_ms, dtype=np.int64), np.asarray(trade_ms, dtype=np.int64)]),
            mid=np.concatenate([mids4, nan_mid]),
            trade=np.concatenate([nan_trade, prices4]),
            volume=np.concatenate([np.zeros(n_mid), sizes]),
            quote_volume=np.concatenate([np.zeros(n_mid), sizes * prices4[:, 0]]),
            trades=np.concatenate([np.zeros(n_mid, dtype=np.int64), np.ones(n_trade, dtype=np.int64)]),
            last_trade=np.concatenate(
                [np.full(n_mid, -1, dtype=np.int64), first_trade + np.arange(n_trade, dtype=np.int64)]
            ),
        )
        # a stable sort keeps each stream's own order within a millisecond
        return ticks.take(np.argsort(ticks.start_ms, kind="stable")).rollup(MINUTE_MS)

    def take(self, index: np.ndarray) -> Bars:
        return Bars(
            start_ms=self.start_ms[index],
            mid=self.mid[index],
            trade=self.trade[index],
            volume=self.volume[index],
            quote_volume=self.quote_volume[index],
            trades=self.trades[index],
            last_trade=self.last_trade[index],
        )

    @staticmethod
    def concat(parts: list[Bars]) -> Bars:
        """Bars one after another in time; a bar split across two parts is merged back into one
        minute (parts made of whole minutes merge nothing)."""
        if not parts:
            return Bars.empty()
        joined = Bars(
            start_ms=np.concatenate([p.start_ms for p in parts]),
            mid=np.concatenate([p.mid for p in parts]),
            trade=np.concatenate([p.trade for p in parts]),
            volume=np.concatenate([p.volume for p in parts]),
            quote_volume=np.concatenate([p.quote_volume for p in parts]),
            trades=np.concatenate([p.trades for p in parts]),
            last_trade=np.concatenate([p.last_trade for p in parts]),
        )
        return joined.rollup(MINUTE_MS)

    def rollup(self, width_ms: int) -> Bars:
        """The bars grouped into candles of width_ms starting at multiples of it (the bars must
        be in time order)."""
        if not len(self):
            return self
        keys = self.start_ms - self.start_ms % width_ms
        starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
        group = np.cumsum(np.concatenate([[0], (keys[1:] != keys[:-1]).astype(np.int64)]))
        n = len(starts)
        return Bars(
            start_ms=keys[starts],
            mid=_ohlc_rollup(self.mid, group, n),
            trade=_ohlc_rollup(self.trade, group, n),
            volume=np.add.reduceat(self.volume, starts),
            quote_volume=np.add.reduceat(self.quote_volume, starts),
            trades=np.add.reduceat(self.trades, starts),
            last_trade=np.maximum.reduceat(self.last_trade, starts),
        )


def _ohlc_rollup(ohlc: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """OHLC per group from the rows that have one: first open, highest high, lowest low, last
    close; NaN for a group without any."""
    out = np.full((n, 4), np.nan)
    valid = np.flatnonzero(~np.isnan(ohlc[:, 0]))
    if not len(valid):
        return out
    g = group[valid]
    first = np.flatnonzero(np.concatenate([[True], g[1:] != g[:-1]]))
    last = np.concatenate([first[1:] - 1, [len(g) - 1]])
    rows = g[first]
    out[rows, 0] = ohlc[valid[first], 0]
    out[rows, 1] = np.maximum.reduceat(ohlc[valid, 1], first)
    out[rows, 2] = np.minimum.reduceat(ohlc[valid, 2], first)
    out[rows, 3] = ohlc[valid[last], 3]
    return out
