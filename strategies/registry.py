"""Strategy kinds by name, their presets, and construction from configuration.

A preset is a named set of parameter overrides on the spec's defaults (STRATEGIES.md): the
newest values are the defaults; an older or stricter set from the notes is a named preset.
Configuration may override any parameter on top of a preset; an unknown name is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from strategies.base import Strategy
from strategies.breakout import BreakoutStrategy
from strategies.market_maker import MarketMakerStrategy
from strategies.quoting import QuotingStrategy
from strategies.renko_ao import RenkoAoStrategy
from strategies.rsi_bb import RsiBbStrategy
from venue.markets import MarketSpec

KINDS: dict[str, type[Strategy]] = {
    RsiBbStrategy.kind: RsiBbStrategy,
    RenkoAoStrategy.kind: RenkoAoStrategy,
    BreakoutStrategy.kind: BreakoutStrategy,
}

# Strategies on the quoting contract (strategies.quoting): their params and presets live here, but
# `build` makes directional strategies only; the actors construct these themselves.
QUOTING_KINDS: dict[str, type[QuotingStrategy]] = {
    MarketMakerStrategy.kind: MarketMakerStrategy,
}

DEFAULT_PRESET = "default"

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "rsi_bb": {
        DEFAULT_PRESET: {},
        # the later, stricter set: RSI > 70 / < 30, bb_pos 0.2-0.3 (long) or 0.7-0.8 (short),
        # volatility 3-8 bps, EMA divergence 5 bps, stop 10 bps, trailing stop on
        "selective": {
            "rsi_momentum_strength": 20.0,
            "bb_position_band": 0.1,
            "volatility_min_bps": 3.0,
            "volatility_max_bps": 8.0,
            "trend_confirmation_bps": 5.0,
            "stop_loss_bps": 10.0,
            "trailing_stop": True,
        },
        # walk-forward sweep on the shared SOL month (docs/strategy_results.md, "Walk-forward"): the
        # last fold's choice (trained 2025-05-19..29). Its out-of-sample profit did not survive a
        # 1.96 bps taker fee or a coarser intra-minute path: a research result, not a live default
        "wf_2025_05": {
            "candle_interval_s": 60, "rsi_period": 12, "bb_period": 32, "bb_std": 2.769,
            "rsi_momentum_strength": 5.67, "bb_position_threshold": 0.3893, "trend_confirmation_bps": 0.9078,
            "volatility_min_bps": 2.079, "volatility_max_bps": 36.16, "take_profit_bps": 19.96,
            "stop_loss_bps": 20.28, "max_hold_s": 423, "trailing_stop": True,
        },
    },
    "renko_ao": {
        DEFAULT_PRESET: {},
        # the older set
        "strict": {
            "renko_atr_multiplier": 1.0,
            "renko_lookback": 20,
            "min_divergence_strength": 0.08,
            "min_ao_strength": 0.15,
            "optimal_atr_min_bps": 3.0,
            "optimal_atr_max_bps": 8.0,
            "min_bricks_since_divergence": 4,
            "bb_required": True,
        },
        # walk-forward sweep, last fold's choice (trained 2025-05-19..29); it lost out of sample, as
        # the sweep did overall (docs/strategy_results.md)
        "wf_2025_05": {
            "renko_atr_multiplier": 1.641, "renko_lookback": 54, "min_divergence_strength": 0.03876,
            "min_ao_strength": 0.1584, "min_bricks_since_divergence": 5, "optimal_atr_min_bps": 4.601,
            "optimal_atr_max_bps": 26.91, "bb_required": True, "take_profit_bps": 15.13,
            "stop_loss_bps": 22.91, "max_hold_s": 622,
        },
    },
    "breakout": {
        DEFAULT_PRESET: {},
        # walk-forward sweep, last fold's choice (trained 2025-05-19..29): 5-minute candles, which every
        # fold chose; it trades (the default never does on this month) at about break-even out of sample
        "wf_2025_05": {
            "candle_interval_s": 300, "breakout_lookback": 53, "rsi_bullish_threshold": 55.17,
            "rsi_bearish_threshold": 48.66, "atr_min_bps": 1.767, "atr_max_bps": 31.1,
            "take_profit_atr": 3.633, "stop_loss_atr": 2.53, "max_hold_s": 2812,
        },
    },
    "market_maker": {
        DEFAULT_PRESET: {},
        # the 2025-11-10 packet and the 11-12 plan, before the 11-13 volatility retune: EMA
        # half-life 45 s, low-vol pause 3.0 / resume 4.5, hedger trigger 0.07, PnL-guard hedge
        # clip x0.50 and cross 8 bps (cap 9 as now); guard limits as that packet (0.3 / 50 / 5 s)
        "nov10": {
            "vol_halflife_s": 45.0,
            "low_vol_pause_bps": 3.0,
            "low_vol_resume_bps": 4.5,
            "hedge_trigger_units": 0.07,
            "hedge_guard_clip_mult": 0.50,
            "hedge_guard_cross_bps": 8.0,
            "hedge_guard_slippage_bps": 9.0,
            "max_position_units": 0.3,
            "max_inventory_notional": 50.0,
            "guard_backoff_s": 5.0,
        },
        # the first guard config of the code-review note: 0.01 units (below one quote: only the
        # side reducing inventory can quote), notional 1000, 2 s back-off
        "first_guard": {
            "max_position_units": 0.01,
            "max_inventory_notional": 1000.0,
            "guard_backoff_s": 2.0,
        },
    },
}


def presets(kind: str) -> list[str]:
    return sorted(PRESETS[_check_kind(kind)])


def make_params(kind: str, preset: str = DEFAULT_PRESET, overrides: dict[str, Any] | None = None) -> Any:
    """The params Struct of `kind` with `preset` and then `overrides` applied (validated)."""
    kind = _check_kind(kind)
    if preset not in PRESETS[kind]:
        raise ValueError(f"unknown preset {preset!r} for {kind}; known: {', '.join(presets(kind))}")
    values = {**PRESETS[kind][preset], **(overrides or {})}
    params_type = QUOTING_KINDS[kind].params_type if kind in QUOTING_KINDS else KINDS[kind].params_type
    try:
        return msgspec.convert(values, params_type)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{kind} params: {exc}") from exc


def build(
    kind: str,
    name: str,
    market: MarketSpec,
    *,
    preset: str = DEFAULT_PRESET,
    overrides: dict[str, Any] | None = None,
    account_index: int = 0,
) -> Strategy:
    if kind in QUOTING_KINDS:
        raise ValueError(f"{kind} is a quoting strategy: build it with build_quoting")
    params = make_params(kind, preset, overrides)
    return KINDS[_check_kind(kind)](name, market, params, account_index=account_index)


def build_quoting(
    kind: str,
    name: str,
    market: MarketSpec,
    *,
    order_ids: Callable[[], int],
    preset: str = DEFAULT_PRESET,
    overrides: dict[str, Any] | None = None,
    account_index: int = 0,
) -> QuotingStrategy:
    """A strategy of QUOTING_KINDS; `order_ids` hands out its client order indices."""
    if kind not in QUOTING_KINDS:
        raise ValueError(f"unknown quoting strategy kind {kind!r}; known: {', '.join(sorted(QUOTING_KINDS))}")
    params = make_params(kind, preset, overrides)
    return QUOTING_KINDS[kind](name, market, params, account_index=account_index, order_ids=order_ids)


def params_dict(params: msgspec.Struct) -> dict[str, Any]:
    """Every parameter by name (for the ParameterChange record and the replay report)."""
    return msgspec.to_builtins(params)


def _check_kind(kind: str) -> str:
    if kind not in KINDS and kind not in QUOTING_KINDS:
        raise ValueError(f"unknown strategy kind {kind!r}; known: {', '.join(sorted([*KINDS, *QUOTING_KINDS]))}")
    return kind
