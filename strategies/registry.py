"""Strategy kinds by name, their presets, and construction from configuration.

A preset is a named set of parameter overrides on the spec's defaults (STRATEGIES.md): the
newest values are the defaults; an older or stricter set from the notes is a named preset.
Configuration may override any parameter on top of a preset; an unknown name is an error.
"""

from __future__ import annotations

from typing import Any

import msgspec

from strategies.base import Strategy
from strategies.breakout import BreakoutStrategy
from strategies.renko_ao import RenkoAoStrategy
from strategies.rsi_bb import RsiBbStrategy
from venue.markets import MarketSpec

KINDS: dict[str, type[Strategy]] = {
    RsiBbStrategy.kind: RsiBbStrategy,
    RenkoAoStrategy.kind: RenkoAoStrategy,
    BreakoutStrategy.kind: BreakoutStrategy,
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
    },
    "breakout": {
        DEFAULT_PRESET: {},
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
    try:
        return msgspec.convert(values, KINDS[kind].params_type)
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
    params = make_params(kind, preset, overrides)
    return KINDS[_check_kind(kind)](name, market, params, account_index=account_index)


def params_dict(params: msgspec.Struct) -> dict[str, Any]:
    """Every parameter by name (for the ParameterChange record and the replay report)."""
    return msgspec.to_builtins(params)


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown strategy kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    return kind
