"""The market maker's quote arithmetic and its self-trade guard, as pure functions.

Spread (total, bps; each side is mid -/+ half of it):
    band  = clamp(spread_bps + vol_spread_slope x (volatility - vol_ref_bps), 7, 13)
    total = band + trend extra (+2.5 up / +6 down) + regime extra (+2 defensive) + PnL-guard extra (0..8)
The bid is rounded down and the ask up to the tick (never tighter than planned), and each stays
strictly inside its side of the book (post-only never crosses).

Size: size x adaptive x regime x high-vol clip x PnL trim, clamped to [size_min, size_max] and
floored to the lot, then raised to the notional floor (10.5 quote) at the quote's price, rounded
up to the lot (the floor wins over size_max); never below the market's minimums (else no quote).
The adaptive multiplier goes linearly from 1.1 at the band's low end to 0.7 at its high end.

Self-trade guard (a reason string when a quote must not be sent, else None): more than
price_band_bps (50) from the mid; at or through the opposite touch; at or through one of our own
orders on the other side; or, for the side that adds to the inventory, a worst case (inventory
plus every open order of ours on that side plus this quote) beyond max_position_units or
max_inventory_notional.
"""

from __future__ import annotations

from strategies.common import meets_minimums
from strategies.mm_params import MarketMakerParams
from strategies.quoting import Side
from venue.markets import MarketSpec, Rounding

EPS = 1e-9


def vol_band_bps(vol: float, p: MarketMakerParams) -> float:
    raw = p.spread_bps + p.vol_spread_slope * (vol - p.vol_ref_bps)
    return min(max(raw, p.vol_band_min_bps), p.vol_band_max_bps)


def adaptive_size_mult(band_bps: float, p: MarketMakerParams) -> float:
    width = p.vol_band_max_bps - p.vol_band_min_bps
    t = 0.0 if width <= 0 else (band_bps - p.vol_band_min_bps) / width
    return p.adaptive_size_max_mult - (p.adaptive_size_max_mult - p.adaptive_size_min_mult) * t


def quote_price(market: MarketSpec, side: Side, mid: float, half_bps: float, bid: float, ask: float) -> float:
    if side == "buy":
        price = market.quantize_price(round(mid * (1 - half_bps / 1e4), 9), Rounding.DOWN)
        return min(price, market.quantize_price(ask, Rounding.UP) - market.tick)
    price = market.quantize_price(round(mid * (1 + half_bps / 1e4), 9), Rounding.UP)
    return max(price, market.quantize_price(bid, Rounding.DOWN) + market.tick)


def quote_size(market: MarketSpec, p: MarketMakerParams, mult: float, price: float) -> float | None:
    clamped = round(min(max(p.size * mult, p.size_min), p.size_max), 9)
    size = market.quantize_size(clamped, Rounding.DOWN)
    if size * price < p.notional_floor_quote - EPS:
        size = market.quantize_size(round(p.notional_floor_quote / price, 9), Rounding.UP)
    if size <= 0 or not meets_minimums(market, size, price):
        return None
    return size


def guard_reason(
    p: MarketMakerParams,
    side: Side,
    price: float,
    size: float,
    mid: float,
    bid: float,
    ask: float,
    own_other_side: list[float],
    inventory: float,
    open_same_side: float,
) -> str | None:
    if abs(price - mid) / mid * 1e4 > p.price_band_bps + EPS:
        return "price_band"
    if (side == "buy" and price >= ask) or (side == "sell" and price <= bid):
        return "would_cross_book"
    if side == "buy" and own_other_side and price >= min(own_other_side):
        return "would_cross_own"
    if side == "sell" and own_other_side and price <= max(own_other_side):
        return "would_cross_own"
    sign = 1.0 if side == "buy" else -1.0
    worst = inventory + sign * (open_same_side + size)
    if abs(worst) > abs(inventory) + EPS:  # this side adds to the inventory
        if abs(worst) > p.max_position_units + EPS:
            return "max_position"
        if abs(worst) * mid > p.max_inventory_notional + EPS:
            return "max_inventory_notional"
    return None
