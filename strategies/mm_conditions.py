"""The market maker's conditions, updated on every event: volatility pauses, trend filter, the
5-minute guard, the PnL guard and the regime. Each has its hysteresis or timer in event time.

- Volatility pauses: above `high_vol_pause_bps` (30) quoting stops until the volatility is at or
  below `high_vol_resume_bps` (30) AND |inventory| < 25 % of the soft cap (`max_position_units`);
  below `low_vol_pause_bps` (4.5) it stops until above `low_vol_resume_bps` (5.5). Before the
  volatility has `vol_warmup_samples` samples nothing is quoted (warming up).
- High-volatility clip: 1-minute sigma > 9 bps: size x0.85.
- Trend (45 s return): up above +12, down below -6; an up-trend holds while the return stays at or
  above +6 (back to neutral inside +-6); a down-trend ends at -6 or above. While down and for the
  regime's cooldown after its last down reading the bid is off ("bid cooldown").
- 5-minute guard: the 300 s return below -6 bps with a long inventory (losing as the price
  falls): the bid (the side adding to it) is paused, or widened with trend5m_action "widen".
- PnL guard: FIFO realized PnL over the last 5 minutes below the floor: extra spread
  8 bps x min(1, shortfall / pnl_guard_full_shortfall_quote) and size x pnl_guard_size_mult.
- Regime: defensive when volatility > 6 bps, the trend is down, or a guard (PnL guard, guard
  block, 5-minute guard) is active; else aggressive.
"""

from __future__ import annotations

from typing import Any, Literal

from strategies.mm_params import MarketMakerParams
from strategies.mm_signals import MarketSignals

Trend = Literal["up", "down", "neutral"]
Regime = Literal["defensive", "aggressive"]


class Conditions:
    def __init__(self, p: MarketMakerParams) -> None:
        self.p = p
        self.high_vol_paused = False
        self.low_vol_paused = False
        self.trend: Trend = "neutral"
        self.trend_bps: float | None = None
        self.down_last_ms: int | None = None
        self.trend5m_bps: float | None = None
        self.trend5m_guard = False
        self.pnl_window: float = 0.0
        self.pnl_guard = False
        self.pnl_extra_bps = 0.0
        self.high_vol_clip = False
        self.regime: Regime = "aggressive"

    def update(self, ts_ms: int, sig: MarketSignals, inventory: float, pnl_window: float, guard_block: bool) -> None:
        p = self.p
        vol = sig.volatility_bps
        if vol is not None:
            soft_cap = p.max_position_units * p.high_vol_resume_inventory_frac
            if vol > p.high_vol_pause_bps:
                self.high_vol_paused = True
            elif self.high_vol_paused and vol <= p.high_vol_resume_bps and abs(inventory) < soft_cap:
                self.high_vol_paused = False
            if vol < p.low_vol_pause_bps:
                self.low_vol_paused = True
            elif self.low_vol_paused and vol > p.low_vol_resume_bps:
                self.low_vol_paused = False
        sigma = sig.sigma_1m_bps
        self.high_vol_clip = sigma is not None and sigma > p.high_vol_clip_sigma_bps
        r = sig.trend_return_bps(ts_ms, p.trend_lookback_s * 1000)
        self.trend_bps = r
        if r is None:
            self.trend = "neutral"
        elif r > p.trend_up_bps:
            self.trend = "up"
        elif r < p.trend_down_bps:
            self.trend = "down"
        elif not (self.trend == "up" and r >= p.trend_resume_bps):
            self.trend = "neutral"
        if self.trend == "down":
            self.down_last_ms = ts_ms
        r5 = sig.trend_return_bps(ts_ms, p.trend5m_lookback_s * 1000)
        self.trend5m_bps = r5
        self.trend5m_guard = r5 is not None and r5 < p.trend5m_threshold_bps and inventory > 0
        self.pnl_window = pnl_window
        shortfall = p.pnl_guard_floor_quote - pnl_window
        self.pnl_guard = shortfall > 0
        scale = p.pnl_guard_full_shortfall_quote
        self.pnl_extra_bps = p.pnl_guard_max_extra_bps * min(1.0, shortfall / scale if scale > 0 else 1.0) \
            if self.pnl_guard else 0.0
        defensive = (
            (vol is not None and vol > p.regime_vol_threshold_bps)
            or self.trend == "down"
            or self.pnl_guard
            or guard_block
            or self.trend5m_guard
        )
        self.regime = "defensive" if defensive else "aggressive"

    # --- derived -------------------------------------------------------------------------
    @property
    def regime_size_mult(self) -> float:
        return self.p.defensive_size_mult if self.regime == "defensive" else self.p.aggressive_size_mult

    @property
    def regime_extra_bps(self) -> float:
        return self.p.defensive_extra_bps if self.regime == "defensive" else self.p.aggressive_extra_bps

    @property
    def regime_cooldown_ms(self) -> int:
        s = self.p.defensive_cooldown_s if self.regime == "defensive" else self.p.aggressive_cooldown_s
        return int(s * 1000)

    def trend_extra_bps(self) -> float:
        if self.trend == "up":
            return self.p.trend_up_extra_bps
        if self.trend == "down":
            return self.p.trend_down_extra_bps
        return 0.0

    def bid_cooldown(self, ts_ms: int) -> bool:
        return self.down_last_ms is not None and ts_ms < self.down_last_ms + self.regime_cooldown_ms \
            or self.trend == "down"

    # --- state ---------------------------------------------------------------------------
    _FIELDS = ("high_vol_paused", "low_vol_paused", "trend", "trend_bps", "down_last_ms", "trend5m_bps",
               "trend5m_guard", "pnl_window", "pnl_guard", "pnl_extra_bps", "high_vol_clip", "regime")

    def to_state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._FIELDS}

    def load_state(self, state: dict[str, Any]) -> None:
        for name in self._FIELDS:
            setattr(self, name, state[name])
