"""The markets the maker's replay can trade, each with the maker parameters that suit its size.

The maker's defaults (STRATEGIES.md section 4) are SOL's: 0.064 SOL quotes (~10 quote), a 0.3 SOL
position cap, hedger clips of a few hundredths. A market of another price needs its own sizes, so a
market here carries overrides of every parameter in base units or in quote (PnL floors), scaled to
the same number of quotes and the same notional ratios; the bps rules stay as they are. `--set`
overrides go on top.

BTC: Lighter's BTC perpetual (market 1) has 5 size decimals, 1 price decimal, a 0.0002 BTC and a
10 quote minimum; the shared recording (Binance BTCUSDT, tick 0.1, lot 0.001) fits that grid. At
~61,800 a 0.002 BTC quote is ~124 quote, 12x a SOL quote, so PnL amounts scale by 12 and units
by 0.002 / 0.064.
"""

from __future__ import annotations

from typing import Any

from venue.markets import SOL_DEFAULT, MarketSpec

BTC_SPEC = MarketSpec(
    market_id=1,
    symbol="BTC",
    size_decimals=5,
    price_decimals=1,
    min_base_amount=0.0002,
    min_quote_amount=10.0,
)

BTC_MAKER: dict[str, Any] = {
    "size": 0.002,
    "size_min": 0.0019,
    "size_max": 0.00225,
    "max_position_units": 0.01,  # five quotes, as 0.3 SOL is ~five 0.064 quotes
    "max_inventory_notional": 650.0,  # binds with max_position_units, as 50 quote does for SOL
    "hedge_trigger_units": 0.0016,
    "hedge_target_units": 0.0006,
    "hedge_max_clip_units": 0.003,
    "pnl_guard_floor_quote": -0.6,
    "pnl_guard_full_shortfall_quote": 3.0,
}

MARKETS: dict[str, tuple[MarketSpec, dict[str, Any]]] = {
    "sol": (SOL_DEFAULT, {}),
    "btc": (BTC_SPEC, BTC_MAKER),
}


def market_named(name: str) -> tuple[MarketSpec, dict[str, Any]]:
    """(spec, maker overrides) of a market by name; ValueError naming the known ones."""
    found = MARKETS.get(name.strip().lower())
    if found is None:
        raise ValueError(f"bad --market {name!r}: expected one of {', '.join(sorted(MARKETS))}")
    return found
