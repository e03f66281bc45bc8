"""The simulator's JSON shapes of Lighter's orders, positions, accounts and markets, shared by the
REST API and the websocket (trades: venue.sim.trade_shapes).

Every shape carries the keys of the captured Lighter responses (shared/data/lighter/http_*.json,
ws_*.json) plus every field lighter-sdk's pydantic models require, so the SDK parses them and
strict validation (`Model.model_validate`) passes. Fields the simulator does not model (funding
clamps, integrators, public pools, margin allocation) carry their neutral values: zero, empty, false.

Conventions: sizes and prices are strings in the market's decimals, money in 6 decimals;
timestamps in event-time ms (`transaction_time` in us).
"""

from __future__ import annotations

from typing import Any

from venue.markets import MarketSpec, fee_to_venue_string
from venue.sim.funding import FundingRecord
from venue.sim.funding_shapes import funding_histories, recent_funding_histories
from venue.sim.types import Account, OrderType, Position, SimOrder, TimeInForce
from venue.sim.venue_protocol import SimVenue

USDC_ASSET_ID = 3
EXTERNAL = -1  # the account and order ids of the external market's side
_TIF_NAMES = {TimeInForce.IOC: "immediate-or-cancel", TimeInForce.GTT: "good-till-time", TimeInForce.POST_ONLY: "post-only"}


# =============================================================================================
# margin fractions (Lighter's integer units of 1e-4: 1000 is 10%)
# =============================================================================================
def initial_margin_units(max_leverage: float) -> int:
    return round(10_000 / max_leverage)


def maintenance_fraction(max_leverage: float) -> float:
    """The simulator's maintenance margin: 60% of the initial margin (Lighter's ratio is similar)."""
    return 0.6 / max_leverage


def money(x: float) -> str:
    return f"{x:.6f}"



# =============================================================================================
# orders
# =============================================================================================
def order_json(order: SimOrder, spec: MarketSpec, block_height: int = 0) -> dict[str, Any]:
    fmt_size, fmt_price = spec.format_size, spec.format_price
    return {
        "order_index": order.order_index,
        "client_order_index": order.client_order_index,
        "order_id": str(order.order_index),
        "client_order_id": str(order.client_order_index),
        "market_index": order.market_id,
        "owner_account_index": order.account_index,
        "initial_base_amount": fmt_size(order.initial_base_amount),
        "price": fmt_price(order.price),
        "nonce": order.nonce,
        "remaining_base_amount": fmt_size(order.remaining_base_amount),
        "is_ask": order.is_ask,
        "base_size": order.initial_base_amount,
        "base_price": order.price,
        "filled_base_amount": fmt_size(order.filled_base_amount),
        "filled_quote_amount": money(order.filled_quote),
        "side": "sell" if order.is_ask else "buy",
        "type": "market" if order.order_type == OrderType.MARKET else "limit",
        "time_in_force": _TIF_NAMES.get(TimeInForce(order.time_in_force), "Unknown"),
        "reduce_only": order.reduce_only,
        "trigger_price": fmt_price(0),
        "order_expiry": order.order_expiry_ms,
        "status": order.status,
        "trigger_status": "na",
        "trigger_time": 0,
        "parent_order_index": 0,
        "parent_order_id": "0",
        "to_trigger_order_id_0": "0",
        "to_trigger_order_id_1": "0",
        "to_cancel_order_id_0": "0",
        "integrator_fee_collector_index": "0",
        "integrator_taker_fee": "0",
        "integrator_maker_fee": "0",
        "block_height": block_height,
        "timestamp": order.created_at_ms,
        "created_at": order.created_at_ms,
        "updated_at": order.updated_at_ms,
        "transaction_time": order.updated_at_ms * 1000,
        "order_flags": 0,
        "order_version": 0,
        "market_symbol": spec.symbol,
        "market_kind": "perps",
    }



# =============================================================================================
# positions, accounts, markets
# =============================================================================================
def position_json(sim: SimVenue, account: Account, market_id: int) -> dict[str, Any]:
    spec = sim.markets[market_id]
    position = account.positions.get(market_id) or Position(market_id=market_id)
    mid = sim.engine.mid(market_id)
    mark = mid if mid is not None else position.avg_entry_price
    size = spec.size_from_int(position.size)
    open_orders = sim.engine.active_orders(account.account_index, market_id)
    return {
        "market_id": market_id,
        "symbol": spec.symbol,
        "initial_margin_fraction": f"{100.0 / sim.max_leverage:.2f}",
        "open_order_count": len(open_orders),
        "pending_order_count": 0,
        "position_tied_order_count": sum(1 for o in open_orders if o.reduce_only),
        "sign": -1 if position.size < 0 else 1,
        "position": spec.format_size(abs(position.size)),
        "avg_entry_price": f"{position.avg_entry_price:.{spec.price_decimals}f}",
        "position_value": money(abs(size) * mark),
        "unrealized_pnl": money(sim.engine.unrealized_pnl(account.account_index, market_id)),
        "realized_pnl": money(position.realized_pnl),
        "liquidation_price": f"{_liquidation_price(sim, account, position, spec):.{spec.price_decimals}f}",
        "total_funding_paid_out": money(position.total_funding_paid_out),  # venue.sim.funding
        "margin_mode": 0,
        "allocated_margin": "0.000000",
        "total_discount": "0.000000",
        "margin_set_flag": 0,
    }


def _liquidation_price(sim: SimVenue, account: Account, position: Position, spec: MarketSpec) -> float:
    """Price at which this position alone brings the account's equity to maintenance margin.

    Cross margin with one position: equity(p) = C + (p - e) q must stay >= m |q| p, so
    p* = (e q - C) / (q (1 - m)) for a long and (C + e s) / (s (1 + m)) for a short of size s.
    Other markets' positions are ignored (an approximation; 0 means no liquidation price).
    """
    if position.size == 0:
        return 0.0
    m = maintenance_fraction(sim.max_leverage)
    q = spec.size_from_int(position.size)
    c, e = account.collateral, position.avg_entry_price
    if q > 0:
        price = (e * q - c) / (q * (1 - m))
    else:
        s = -q
        price = (c + e * s) / (s * (1 + m))
    return max(price, 0.0)


def account_json(sim: SimVenue, account_index: int) -> dict[str, Any]:
    engine = sim.engine
    account = engine.account(account_index)
    markets = sorted(set(account.positions) | {o.market_id for o in engine.active_orders(account_index)})
    upnl = sum(engine.unrealized_pnl(account_index, m) for m in account.positions)
    initial = maintenance = 0.0
    for market_id, position in account.positions.items():
        mid = engine.mid(market_id)
        value = abs(sim.markets[market_id].size_from_int(position.size)) * (
            mid if mid is not None else position.avg_entry_price
        )
        initial += value / sim.max_leverage
        maintenance += value * maintenance_fraction(sim.max_leverage)
    equity = account.collateral + upnl
    open_orders = engine.active_orders(account_index)
    return {
        "code": 0,
        "account_type": 0,
        "index": account_index,
        "l1_address": "0x" + "0" * 40,
        "cancel_all_time": sim.scheduled_cancel_time(account_index),
        "total_order_count": len(open_orders),
        "total_isolated_order_count": 0,
        "pending_order_count": 0,
        "available_balance": money(max(equity - initial, 0.0)),
        "status": 1,
        "collateral": money(account.collateral),
        "transaction_time": sim.now_ms * 1000,
        "account_trading_mode": 0,
        "account_index": account_index,
        "name": "",
        "description": "",
        "can_invite": False,
        "referral_points_percentage": "",
        "can_rfq": False,
        "can_rfq_market_ids": [],
        "created_at": 0,
        "metadata": {"color": ""},
        "positions": [position_json(sim, account, m) for m in markets],
        "assets": [
            {
                "symbol": "USDC",
                "asset_id": USDC_ASSET_ID,
                "balance": money(account.collateral),
                "locked_balance": "0.000000",
                "margin_mode": "disabled",
                "margin_balance": money(equity),
                "multiplier": "1",
            }
        ],
        "total_asset_value": money(equity),
        "cross_asset_value": money(equity),
        "cross_initial_margin_requirement": money(initial),
        "cross_maintenance_margin_requirement": money(maintenance),
        "pool_info": {
            "status": 0,
            "operator_fee": "0",
            "min_operator_share_rate": "0",
            "total_shares": 0,
            "operator_shares": 0,
            "annual_percentage_yield": 0,
            "daily_returns": [],
            "share_prices": [],
            "sharpe_ratio": 0,
            "strategies": [],
        },
        "shares": [],
        "pending_unlocks": [],
        "approved_integrators": [],
        "agent_enabled": False,
    }


def _grouped(rows: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(str(row[key]), []).append(row)
    return out


def account_update_message(
    sim: SimVenue, account_index: int, *, orders: list[SimOrder], trades: list[dict[str, Any]], position_markets: set[int],
    fundings: list[FundingRecord] | None = None,
) -> dict[str, Any]:
    """`update/account_all`: only what changed in this step (funding paid in it included)."""
    account = sim.engine.account(account_index)
    fundings = fundings or []
    markets = position_markets | {o.market_id for o in orders} | {f.market_id for f in fundings}
    return {
        "type": "update/account_all",
        "channel": f"account_all:{account_index}",
        "account": account_index,
        "positions": {str(m): position_json(sim, account, m) for m in sorted(markets)},
        "orders": _grouped([order_json(o, sim.markets[o.market_id], sim.block_height) for o in orders], "market_index"),
        "trades": _grouped(trades, "market_id"),
        "funding_histories": funding_histories(fundings, sim.markets),
        "timestamp": sim.now_ms,
    }


def account_snapshot_message(sim: SimVenue, account_index: int, recent: int = 50) -> dict[str, Any]:
    """`subscribed/account_all`: every market's position, the open orders and recent fills."""
    account = sim.engine.account(account_index)
    orders = sim.engine.active_orders(account_index)
    log = list(sim.account_trade_log.get(account_index, ()))
    return {
        "type": "subscribed/account_all",
        "channel": f"account_all:{account_index}",
        "account": account_index,
        "positions": {str(m): position_json(sim, account, m) for m in sorted(sim.markets)},
        "orders": _grouped([order_json(o, sim.markets[o.market_id], sim.block_height) for o in orders], "market_index"),
        "trades": _grouped(log[-recent:], "market_id"),
        "funding_histories": recent_funding_histories(sim.engine.funding.history(account_index), sim.markets),
        "timestamp": sim.now_ms,
    }


def _daily_stats(sim: SimVenue, market_id: int) -> dict[str, Any]:
    """Rolling 24 h statistics (event time) from the hourly candles."""
    candles = sim.candles[market_id].window("1h", sim.now_ms - 86_400_000)
    priced = [c for c in candles if c.ohlc() is not None]
    recent = sim.recent_trades[market_id]
    mid = sim.engine.mid(market_id)
    last = float(recent[-1]["price"]) if recent else (mid or 0.0)
    if not priced:
        return {"last": last, "low": last, "high": last, "change": 0.0, "volume": 0.0, "quote": 0.0, "count": 0}
    first_open = priced[0].ohlc()[0]  # type: ignore[index]
    return {
        "last": last,
        "low": min(c.ohlc()[2] for c in priced),  # type: ignore[index]
        "high": max(c.ohlc()[1] for c in priced),  # type: ignore[index]
        "change": (last - first_open) / first_open * 100.0 if first_open else 0.0,
        "volume": round(sum(c.volume for c in priced), 8),
        "quote": round(sum(c.quote_volume for c in priced), 6),
        "count": sum(c.trades for c in priced),
    }


def _open_interest(sim: SimVenue, market_id: int) -> float:
    spec = sim.markets[market_id]
    longs = sum(max(a.positions[market_id].size, 0) for a in sim.engine.accounts() if market_id in a.positions)
    return spec.size_from_int(longs)


def _market_common(sim: SimVenue, spec: MarketSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol,
        "market_id": spec.market_id,
        "market_type": "perp",
        "base_asset_id": 0,
        "quote_asset_id": 0,
        "status": spec.status,
        "taker_fee": fee_to_venue_string(spec.taker_fee),
        "is_taker_fee_enabled": True,
        "maker_fee": fee_to_venue_string(spec.maker_fee),
        "is_maker_fee_enabled": True,
        "liquidation_fee": "1.0000",
        "min_base_amount": f"{spec.min_base_amount:.{spec.size_decimals}f}",
        "min_quote_amount": f"{spec.min_quote_amount:.6f}",
        "order_quote_limit": "281474976.710655",
        "supported_size_decimals": spec.size_decimals,
        "supported_price_decimals": spec.price_decimals,
        "supported_quote_decimals": 6,
        "created_at": "",
        "multiplier": "1",
        "start_timestamp": 0,
        "end_timestamp": 0,
        "settlement_type": 0,
        "settlement_price": 0,
        "settlement_cap": 0,
        "outcome": 0,
        "default_price": 0,
        "operator_account_index": 0,
        "is_frozen": False,
    }


def order_book_json(sim: SimVenue, spec: MarketSpec) -> dict[str, Any]:
    """One entry of `orderBooks`."""
    return {**_market_common(sim, spec), "open_interest": f"{_open_interest(sim, spec.market_id):.{spec.size_decimals}f}"}


def order_book_detail_json(sim: SimVenue, spec: MarketSpec) -> dict[str, Any]:
    """One entry of `orderBookDetails`."""
    imf = initial_margin_units(sim.max_leverage)
    stats = _daily_stats(sim, spec.market_id)
    mid = sim.engine.mid(spec.market_id)
    mark = f"{mid:.{spec.price_decimals}f}" if mid is not None else "0"
    return {
        **_market_common(sim, spec),
        "size_decimals": spec.size_decimals,
        "price_decimals": spec.price_decimals,
        "quote_multiplier": 1,
        "default_initial_margin_fraction": imf,
        "min_initial_margin_fraction": imf,
        "maintenance_margin_fraction": round(imf * 0.6),
        "closeout_margin_fraction": round(imf * 0.4),
        "last_trade_price": stats["last"],
        "daily_trades_count": stats["count"],
        "daily_base_token_volume": stats["volume"],
        "daily_quote_token_volume": stats["quote"],
        "daily_price_low": stats["low"],
        "daily_price_high": stats["high"],
        "daily_price_change": stats["change"],
        "open_interest": _open_interest(sim, spec.market_id),
        "daily_chart": {},
        "market_config": {
            "market_margin_mode": 0,
            "insurance_fund_account_index": 281474976710655,
            "liquidation_mode": 0,
            "force_reduce_only": False,
            "trading_hours": "",
            "funding_fee_discounts_enabled": False,
            "hidden": False,
            "rfq_enabled": False,
        },
        "strategy_index": 0,
        "funding_clamp_small": "0.0000",  # the simulator charges its rate unclamped (venue.sim.funding)
        "funding_clamp_big": "0.0000",
        "base_interest_rate": "0.0000",
        "mark_price": mark,
        "index_price": mark,
        "market_flags": 0,
        "funding_premium_multiplier": 0,
    }

