"""The market maker's market signals, in event time: volatility, 1-minute sigma, trend returns.

Sampling (ours). The mid is sampled on a fixed event-time grid (`vol_sample_ms`, 1 s): the first
mid at or after each grid point is that point's sample, so the signals do not depend on how many
book updates the feed sends. A gap of k grid points (no mids) yields one sample whose return
is scaled by 1/sqrt(k) (a per-interval return).

Volatility = EMA of the absolute sample returns (bps), with half-life `vol_halflife_s` in event
time (alpha = 1 - 0.5 ** (dt / half-life)), expressed per `vol_horizon_s` by the square-root rule
(x sqrt(60 s / 1 s) by default), so that its thresholds read as 1-minute moves, the scale the
notes' thresholds (4.5, 6, 30 bps) were written against. The first return seeds the EMA.

1-minute sigma = population std of the last `sigma_window` sample returns, per horizon as above.

Trend returns: the mid now against the newest sample at least `lookback` old (None until the
history reaches that far back).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from typing import Any

from indicators.stream import RollingVariance
from strategies.mm_params import MarketMakerParams


class MarketSignals:
    def __init__(self, p: MarketMakerParams) -> None:
        self.sample_ms = p.vol_sample_ms
        self.halflife_ms = p.vol_halflife_s * 1000.0
        self.scale = math.sqrt(p.vol_horizon_s * 1000.0 / p.vol_sample_ms)
        self.keep_ms = int(max(p.trend_lookback_s, p.trend5m_lookback_s) * 1000) + 2 * p.vol_sample_ms
        self.ema: float | None = None  # per-sample abs return, bps
        self.samples = 0  # returns seen
        self._var = RollingVariance(p.sigma_window)
        self._history: deque[tuple[int, float]] = deque()  # (sample grid time, mid)
        self.last_mid: float | None = None
        self.last_ts: int | None = None

    # --- reading -----------------------------------------------------------------------
    @property
    def volatility_bps(self) -> float | None:
        return None if self.ema is None else self.ema * self.scale

    @property
    def sigma_1m_bps(self) -> float | None:
        var = self._var.value
        return None if var is None else math.sqrt(max(var, 0.0)) * self.scale

    def trend_return_bps(self, now_ms: int, lookback_ms: float) -> float | None:
        """Mid now vs the newest sample taken at least lookback_ms before now."""
        if self.last_mid is None or not self._history:
            return None
        cutoff = now_ms - lookback_ms
        idx = bisect_right(self._history, cutoff, key=lambda item: item[0]) - 1
        if idx < 0:
            return None
        past = self._history[idx][1]
        return (self.last_mid / past - 1.0) * 1e4

    # --- writing -----------------------------------------------------------------------
    def on_mid(self, ts_ms: int, mid: float) -> None:
        self.last_mid, self.last_ts = mid, ts_ms
        history = self._history
        if history:
            last_grid, last_mid = history[-1]
            if ts_ms < last_grid + self.sample_ms:
                return
            grid = ts_ms - ts_ms % self.sample_ms
            steps = (grid - last_grid) // self.sample_ms
            ret = (mid / last_mid - 1.0) * 1e4 / math.sqrt(steps)
            if self.ema is None:
                self.ema = abs(ret)
            else:
                alpha = 1.0 - 0.5 ** ((grid - last_grid) / self.halflife_ms)
                self.ema += alpha * (abs(ret) - self.ema)
            self._var.update(ret)
            self.samples += 1
        else:
            grid = ts_ms - ts_ms % self.sample_ms
        history.append((grid, mid))
        while history and history[0][0] < grid - self.keep_ms:
            history.popleft()

    # --- state -------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "ema": self.ema,
            "samples": self.samples,
            "var": self._var.to_state(),
            "history": [list(item) for item in self._history],
            "last_mid": self.last_mid,
            "last_ts": self.last_ts,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.ema = state["ema"]
        self.samples = state["samples"]
        self._var = RollingVariance.from_state(state["var"])
        self._history = deque((int(ts), float(mid)) for ts, mid in state["history"])
        self.last_mid = state["last_mid"]
        self.last_ts = state["last_ts"]
