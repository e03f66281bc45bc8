"""Every number of the market maker and its hedger (STRATEGIES.md section 4), with its default.

One flat Struct so that configuration overrides and presets name single fields (`hedge_trigger_units`),
never a nested block. Values marked (ours) are choices where the notes are silent. Spreads are
TOTAL widths in bps of the mid (each side gets half); sizes are in base units (SOL).
"""

from __future__ import annotations

from typing import Literal

import msgspec


class MarketMakerParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # --- quotes --------------------------------------------------------------------------
    spread_bps: float = 12.0  # total spread at the reference volatility
    vol_band_min_bps: float = 7.0  # the volatility-aware total spread stays in [min, max]
    vol_band_max_bps: float = 13.0
    vol_ref_bps: float = 10.0  # (ours) the volatility at which the spread is spread_bps
    vol_spread_slope: float = 1.0  # (ours) bps of spread per bps of volatility around vol_ref_bps
    size: float = 0.064
    size_min: float = 0.061
    size_max: float = 0.072
    adaptive_size_max_mult: float = 1.1  # at the band's low end (calm)
    adaptive_size_min_mult: float = 0.7  # at the band's high end
    notional_floor_quote: float = 10.5  # a quote's size is raised to this notional (wins over size_max)
    requote_tolerance_bps: float = 2.0  # (ours) mid move from a quote's reference, or price drift
    max_order_age_s: float = 30.0  # (ours)
    # --- volatility ----------------------------------------------------------------------
    vol_halflife_s: float = 35.0  # EMA of absolute mid returns, event time
    vol_sample_ms: int = 1_000  # (ours) mids are sampled on this event-time grid
    vol_horizon_s: float = 60.0  # (ours) returns are scaled to this horizon (x sqrt(60/1))
    vol_warmup_samples: int = 30  # (ours) samples before the first quote
    high_vol_pause_bps: float = 30.0  # stop quoting above
    high_vol_resume_bps: float = 30.0  # ... until at or below this AND inventory is small
    high_vol_resume_inventory_frac: float = 0.25  # of the soft cap (max_position_units)
    low_vol_pause_bps: float = 4.5
    low_vol_resume_bps: float = 5.5
    high_vol_clip_sigma_bps: float = 9.0  # 1-minute sigma above which size x high_vol_clip_mult
    high_vol_clip_mult: float = 0.85
    sigma_window: int = 60  # (ours) 1-minute sigma: std of the last 60 sample returns, per horizon
    # --- trend ---------------------------------------------------------------------------
    trend_lookback_s: float = 45.0
    trend_up_bps: float = 12.0
    trend_down_bps: float = -6.0
    trend_resume_bps: float = 6.0  # back to neutral inside +-this
    trend_up_extra_bps: float = 2.5
    trend_down_extra_bps: float = 6.0
    trend5m_lookback_s: float = 300.0
    trend5m_threshold_bps: float = -6.0
    trend5m_action: Literal["pause", "widen"] = "pause"  # (ours) on the side adding to a losing long
    trend5m_widen_bps: float = 6.0  # (ours) total-spread equivalent added to that side when "widen"
    # --- regimes -------------------------------------------------------------------------
    regime_vol_threshold_bps: float = 6.0
    defensive_size_mult: float = 0.7
    defensive_extra_bps: float = 2.0
    defensive_cooldown_s: float = 45.0
    aggressive_size_mult: float = 1.0
    aggressive_extra_bps: float = 0.0
    aggressive_cooldown_s: float = 20.0
    # --- PnL guard -----------------------------------------------------------------------
    pnl_window_s: float = 300.0
    pnl_guard_floor_quote: float = -0.05  # (ours) FIFO realized over the window below this: active
    pnl_guard_max_extra_bps: float = 8.0
    pnl_guard_full_shortfall_quote: float = 0.25  # (ours) shortfall below the floor giving +8 bps
    pnl_guard_size_mult: float = 0.8  # (ours) the size trim while active
    # --- self-trade guard ----------------------------------------------------------------
    price_band_bps: float = 50.0
    max_position_units: float = 0.3  # also the soft cap of the volatility resume rule
    max_inventory_notional: float = 50.0
    guard_backoff_s: float = 5.0
    # --- cancel discipline and rejections ------------------------------------------------
    max_cancels_per_minute: int = 30  # (ours) a Modify counts as one cancel
    reject_backoff_s: float = 2.0  # (ours) doubled per consecutive rejection of a side
    reject_backoff_max_s: float = 60.0  # (ours)
    # --- fees (fractions of notional; None: the market's) --------------------------------
    maker_fee: float | None = None
    taker_fee: float | None = None
    # --- hedger --------------------------------------------------------------------------
    hedge_enabled: bool = True
    hedge_trigger_units: float = 0.05
    hedge_target_units: float = 0.02
    hedge_max_clip_units: float = 0.10
    hedge_passive_offset_bps: float = 2.0
    hedge_passive_wait_s: float = 0.25
    hedge_reprice_bps: float = 1.0  # (ours) a passive hedge is moved when this far off its price
    hedge_aggressive_after_s: float = 8.0
    hedge_max_slippage_bps: float = 12.0
    hedge_cooldown_s: float = 2.0  # (ours) after an aggressive clip
    hedge_guard_clip_mult: float = 0.65
    hedge_guard_slippage_bps: float = 9.0
    hedge_guard_cross_bps: float = 7.0
    hedge_emergency_after_s: float = 10.0
    hedge_emergency_clip_mult: float = 1.4
    hedge_emergency_extra_bps: float = 6.0
    hedge_emergency_cooldown_s: float = 0.75

    def __post_init__(self) -> None:
        if not 0 < self.size_min <= self.size <= self.size_max:
            raise ValueError("size_min <= size <= size_max must hold, all > 0")
        if self.vol_band_min_bps > self.vol_band_max_bps:
            raise ValueError("vol_band_min_bps must be <= vol_band_max_bps")
        if self.low_vol_pause_bps > self.low_vol_resume_bps:
            raise ValueError("low_vol_pause_bps must be <= low_vol_resume_bps")
        if self.high_vol_resume_bps > self.high_vol_pause_bps:
            raise ValueError("high_vol_resume_bps must be <= high_vol_pause_bps")
        if self.vol_sample_ms <= 0 or self.sigma_window < 2 or self.max_cancels_per_minute < 1:
            raise ValueError("vol_sample_ms > 0, sigma_window >= 2, max_cancels_per_minute >= 1")
        if self.hedge_trigger_units <= 0 or self.hedge_max_clip_units <= 0:
            raise ValueError("hedge_trigger_units and hedge_max_clip_units must be > 0")
