"""The simulator's REST API (Lighter's /api/v1 paths and shapes) and the JSON shapes it shares with
the websocket: orders, trades, positions, accounts and market details.

Every shape carries the keys of the captured Lighter responses (shared/data/lighter/http_*.json,
ws_*.json) plus every field lighter-sdk's pydantic models require, so the SDK parses them and
strict validation (`Model.model_validate`) passes. Fields the simulator does not model (funding,
integrators, public pools, margin allocation) carry their neutral values: zero, empty, false.

Conventions: sizes and prices are strings in the market's decimals, money in 6 decimals;
timestamps in event-time ms (`transaction_time` in us); fee rates in trades are integers in
millionths of notional; the external market's side of a trade has account and order ids -1.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from venue import codes
from venue.markets import MarketSpec, fee_to_venue_string
from venue.sim.accounts import apply_fill
from venue.sim.candle_history import RESOLUTION_MS
from venue.sim.engine import MatchingEngine, tx_hash_for
from venue.sim.publisher import encode
from venue.sim.txinfo import TxInfoError, parse_tx, parse_tx_type
from venue.sim.types import Account, OrderType, Position, SimOrder, SimTrade, TimeInForce

if TYPE_CHECKING:
    from venue.sim.server import SimServer

SIM_KEY: web.AppKey[SimServer] = web.AppKey("sim")

USDC_ASSET_ID = 3
MAX_BATCH_TXS = 50
VOLUME_QUOTA_UNLIMITED = 2**31 - 1  # the simulator has no volume quota
EXTERNAL = -1
_TIF_NAMES = {TimeInForce.IOC: "immediate-or-cancel", TimeInForce.GTT: "good-till-time", TimeInForce.POST_ONLY: "post-only"}


# =============================================================================================
# margin fractions (Lighter's integer units of 1e-4: 1000 is 10%)
# =============================================================================================
def initial_margin_units(max_leverage: float) -> int:
    return round(10_000 / max_leverage)


def maintenance_fraction(max_leverage: float) -> float:
    """The simulator's maintenance margin: 60% of the initial margin (Lighter's ratio is similar)."""
    return 0.6 / max_leverage


def _money(x: float) -> str:
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
        "filled_quote_amount": _money(order.filled_quote),
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
# trades
# =============================================================================================
def _fee_ppm(fraction: float) -> int:
    return round(fraction * 1_000_000)


def _trade_row(
    spec: MarketSpec,
    *,
    trade_id: int,
    tx_hash: str,
    price: int,
    size: int,
    ts_ms: int,
    block_height: int,
    ask_id: int,
    bid_id: int,
    ask_client_id: int,
    bid_client_id: int,
    ask_account_id: int,
    bid_account_id: int,
    is_maker_ask: bool,
    taker_before: tuple[str, str, int, bool],
    maker_before: tuple[str, str, int, bool],
    ask_pnl: float,
    bid_pnl: float,
) -> dict[str, Any]:
    notional = spec.price_from_int(price) * spec.size_from_int(size)
    return {
        "trade_id": trade_id,
        "trade_id_str": str(trade_id),
        "tx_hash": tx_hash,
        "type": "trade",
        "market_id": spec.market_id,
        "size": spec.format_size(size),
        "price": spec.format_price(price),
        "usd_amount": _money(notional),
        "ask_id": ask_id,
        "ask_id_str": str(ask_id),
        "bid_id": bid_id,
        "bid_id_str": str(bid_id),
        "ask_client_id": ask_client_id,
        "ask_client_id_str": str(ask_client_id),
        "bid_client_id": bid_client_id,
        "bid_client_id_str": str(bid_client_id),
        "ask_account_id": ask_account_id,
        "bid_account_id": bid_account_id,
        "is_maker_ask": is_maker_ask,
        "block_height": block_height,
        "timestamp": ts_ms,
        "taker_fee": _fee_ppm(spec.taker_fee),
        "maker_fee": _fee_ppm(spec.maker_fee),
        "taker_position_size_before": taker_before[0],
        "taker_entry_quote_before": taker_before[1],
        "taker_initial_margin_fraction_before": taker_before[2],
        "taker_position_sign_changed": taker_before[3],
        "maker_position_size_before": maker_before[0],
        "maker_entry_quote_before": maker_before[1],
        "maker_initial_margin_fraction_before": maker_before[2],
        "maker_position_sign_changed": maker_before[3],
        "transaction_time": ts_ms * 1000,
        "ask_account_pnl": _money(ask_pnl),
        "bid_account_pnl": _money(bid_pnl),
        "integrator_maker_fee": 0,
        "integrator_maker_fee_collector_index": 0,
        "integrator_taker_fee": 0,
        "integrator_taker_fee_collector_index": 0,
        "taker_allocated_margin_usdc_before": 0,
        "taker_allocated_margin_usdc_after": 0,
        "maker_allocated_margin_usdc_before": 0,
        "maker_allocated_margin_usdc_after": 0,
        "bid_order_version": 0,
        "ask_order_version": 0,
        "market_symbol": spec.symbol,
        "market_kind": "perps",
    }


_NO_SIDE: tuple[str, str, int, bool] = ("0", "0.000000", 0, False)


def external_trade_json(
    spec: MarketSpec, trade_id: int, price: int, size: int, taker_is_buyer: bool, ts_ms: int, block_height: int
) -> dict[str, Any]:
    """A print of the external market (both sides outside the simulator)."""
    return _trade_row(
        spec,
        trade_id=trade_id,
        tx_hash=tx_hash_for(trade_id),
        price=price,
        size=size,
        ts_ms=ts_ms,
        block_height=block_height,
        ask_id=EXTERNAL,
        bid_id=EXTERNAL,
        ask_client_id=0,
        bid_client_id=0,
        ask_account_id=EXTERNAL,
        bid_account_id=EXTERNAL,
        is_maker_ask=taker_is_buyer,
        taker_before=_NO_SIDE,
        maker_before=_NO_SIDE,
        ask_pnl=0.0,
        bid_pnl=0.0,
    )


class TradeShaper:
    """Shapes the engine's fills as Lighter trades, with each side's position before the fill.

    It replays every fill on shadow positions (the engine's own accounting, venue.sim.accounts),
    resynchronised with the engine after each step, so the "before" fields are exact.
    """

    def __init__(self, markets: dict[int, MarketSpec], *, max_leverage: float) -> None:
        self._markets = markets
        self._imf = initial_margin_units(max_leverage)
        self._shadow: dict[int, Account] = {}

    def _before(
        self, account_index: int, spec: MarketSpec, is_buy: bool, size: int, price: int, fee: float
    ) -> tuple[tuple[str, str, int, bool], float]:
        if account_index < 0:
            return _NO_SIDE, 0.0
        account = self._shadow.get(account_index)
        if account is None:
            account = self._shadow[account_index] = Account(account_index=account_index, collateral=0.0)
        position = account.positions.get(spec.market_id)
        old_size = position.size if position is not None else 0
        old_entry = position.avg_entry_price if position is not None else 0.0
        realized = apply_fill(account, spec, is_buy=is_buy, price=price, size=size, fee=fee)
        new_size = account.positions[spec.market_id].size
        sign_changed = old_size != 0 and new_size != 0 and (old_size > 0) != (new_size > 0)
        entry_quote = spec.size_from_int(abs(old_size)) * old_entry
        return (spec.format_size(old_size), _money(entry_quote), self._imf, sign_changed), realized

    def sim_trade(self, trade: SimTrade, block_height: int) -> dict[str, Any]:
        spec = self._markets[trade.market_id]
        maker_is_ask = trade.is_maker_ask
        ask_fee = trade.maker_fee if maker_is_ask else trade.taker_fee
        bid_fee = trade.taker_fee if maker_is_ask else trade.maker_fee
        ask_before, ask_pnl = self._before(trade.ask_account_id, spec, False, trade.size, trade.price, ask_fee)
        bid_before, bid_pnl = self._before(trade.bid_account_id, spec, True, trade.size, trade.price, bid_fee)
        maker_before, taker_before = (ask_before, bid_before) if maker_is_ask else (bid_before, ask_before)
        return _trade_row(
            spec,
            trade_id=trade.trade_id,
            tx_hash=trade.tx_hash,
            price=trade.price,
            size=trade.size,
            ts_ms=trade.ts_ms,
            block_height=block_height,
            ask_id=trade.ask_id,
            bid_id=trade.bid_id,
            ask_client_id=trade.ask_client_id,
            bid_client_id=trade.bid_client_id,
            ask_account_id=trade.ask_account_id,
            bid_account_id=trade.bid_account_id,
            is_maker_ask=maker_is_ask,
            taker_before=taker_before,
            maker_before=maker_before,
            ask_pnl=ask_pnl,
            bid_pnl=bid_pnl,
        )

    def resync(self, engine: MatchingEngine, touched: set[tuple[int, int]]) -> None:
        """Copy the engine's positions of the touched (account, market) pairs into the shadows."""
        for account_index, market_id in touched:
            real = engine.account(account_index).positions.get(market_id)
            shadow = self._shadow.setdefault(account_index, Account(account_index=account_index, collateral=0.0))
            shadow.positions[market_id] = (
                Position(market_id=market_id) if real is None else msgspec.structs.replace(real)
            )


# =============================================================================================
# positions, accounts, markets
# =============================================================================================
def position_json(sim: SimServer, account: Account, market_id: int) -> dict[str, Any]:
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
        "position_value": _money(abs(size) * mark),
        "unrealized_pnl": _money(sim.engine.unrealized_pnl(account.account_index, market_id)),
        "realized_pnl": _money(position.realized_pnl),
        "liquidation_price": f"{_liquidation_price(sim, account, position, spec):.{spec.price_decimals}f}",
        "total_funding_paid_out": "0.000000",  # the simulator has no funding
        "margin_mode": 0,
        "allocated_margin": "0.000000",
        "total_discount": "0.000000",
        "margin_set_flag": 0,
    }


def _liquidation_price(sim: SimServer, account: Account, position: Position, spec: MarketSpec) -> float:
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


def account_json(sim: SimServer, account_index: int) -> dict[str, Any]:
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
        "available_balance": _money(max(equity - initial, 0.0)),
        "status": 1,
        "collateral": _money(account.collateral),
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
                "balance": _money(account.collateral),
                "locked_balance": "0.000000",
                "margin_mode": "disabled",
                "margin_balance": _money(equity),
                "multiplier": "1",
            }
        ],
        "total_asset_value": _money(equity),
        "cross_asset_value": _money(equity),
        "cross_initial_margin_requirement": _money(initial),
        "cross_maintenance_margin_requirement": _money(maintenance),
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
    sim: SimServer, account_index: int, *, orders: list[SimOrder], trades: list[dict[str, Any]], position_markets: set[int]
) -> dict[str, Any]:
    """`update/account_all`: only what changed in this step."""
    account = sim.engine.account(account_index)
    markets = position_markets | {o.market_id for o in orders}
    return {
        "type": "update/account_all",
        "channel": f"account_all:{account_index}",
        "account": account_index,
        "positions": {str(m): position_json(sim, account, m) for m in sorted(markets)},
        "orders": _grouped([order_json(o, sim.markets[o.market_id], sim.block_height) for o in orders], "market_index"),
        "trades": _grouped(trades, "market_id"),
        "timestamp": sim.now_ms,
    }


def account_snapshot_message(sim: SimServer, account_index: int, recent: int = 50) -> dict[str, Any]:
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
        "timestamp": sim.now_ms,
    }


def _daily_stats(sim: SimServer, market_id: int) -> dict[str, Any]:
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


def _open_interest(sim: SimServer, market_id: int) -> float:
    spec = sim.markets[market_id]
    longs = sum(max(a.positions[market_id].size, 0) for a in sim.engine.accounts() if market_id in a.positions)
    return spec.size_from_int(longs)


def _market_common(sim: SimServer, spec: MarketSpec) -> dict[str, Any]:
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


def order_book_json(sim: SimServer, spec: MarketSpec) -> dict[str, Any]:
    """One entry of `orderBooks`."""
    return {**_market_common(sim, spec), "open_interest": f"{_open_interest(sim, spec.market_id):.{spec.size_decimals}f}"}


def order_book_detail_json(sim: SimServer, spec: MarketSpec) -> dict[str, Any]:
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
        "funding_clamp_small": "0.0000",  # no funding in the simulator
        "funding_clamp_big": "0.0000",
        "base_interest_rate": "0.0000",
        "mark_price": mark,
        "index_price": mark,
        "market_flags": 0,
        "funding_premium_multiplier": 0,
    }


# =============================================================================================
# HTTP plumbing
# =============================================================================================
class BadRequest(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def ok(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=encode(body), status=status, content_type="application/json")


def error(code: int, message: str, status: int = 400) -> web.Response:
    return ok({"code": code, "message": message}, status=status)


def _int_arg(request: web.Request, name: str, default: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: {name} is required")
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: {name}={raw!r}") from None


def _market_arg(sim: SimServer, request: web.Request, required: bool = True) -> int | None:
    if not required and request.query.get("market_id") in (None, ""):
        return None
    market_id = _int_arg(request, "market_id")
    if market_id not in sim.markets:
        raise BadRequest(codes.INVALID_MARKET, f"{codes.message_for(codes.INVALID_MARKET)}: {market_id}")
    return market_id


@web.middleware
async def _middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
    if request.path.startswith("/api/") and sim.faults.http_429():
        sim.counters.http_429 += 1
        return error(codes.TOO_MANY_REQUESTS, codes.message_for(codes.TOO_MANY_REQUESTS), status=429)
    try:
        return await handler(request)
    except BadRequest as exc:
        sim.counters.malformed_requests += 1
        return error(exc.code, str(exc))


# =============================================================================================
# handlers: market data
# =============================================================================================
async def order_book_details(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    market_id = _market_arg(sim, request, required=False)
    specs = [s for m, s in sorted(sim.markets.items()) if market_id is None or m == market_id]
    return ok(
        {
            "code": 200,
            "order_book_details": [order_book_detail_json(sim, s) for s in specs],
            "spot_order_book_details": [],
        }
    )


async def order_books(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    market_id = _market_arg(sim, request, required=False)
    specs = [s for m, s in sorted(sim.markets.items()) if market_id is None or m == market_id]
    return ok({"code": 200, "order_books": [order_book_json(sim, s) for s in specs]})


async def order_book_orders(request: web.Request) -> web.Response:
    """The merged book as Lighter's SimpleOrder rows, one per price level (best first)."""
    sim = request.app[SIM_KEY]
    market_id = _market_arg(sim, request)
    assert market_id is not None
    limit = _int_arg(request, "limit", 100)
    if not 1 <= limit <= 250:
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: limit must be 1..250")
    spec = sim.markets[market_id]
    bids, asks = sim.engine.book(market_id, limit)

    def rows(levels: list[tuple[int, int]]) -> list[dict[str, Any]]:
        return [
            {
                "order_index": 0,  # a price level, not one order: the external book is aggregated
                "order_id": "0",
                "owner_account_index": EXTERNAL,
                "initial_base_amount": spec.format_size(size),
                "remaining_base_amount": spec.format_size(size),
                "price": spec.format_price(price),
                "order_expiry": 0,
                "transaction_time": sim.now_ms * 1000,
            }
            for price, size in levels
        ]

    return ok({"code": 200, "total_asks": len(asks), "asks": rows(asks), "total_bids": len(bids), "bids": rows(bids)})


async def recent_trades(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    market_id = _market_arg(sim, request)
    assert market_id is not None
    limit = _int_arg(request, "limit", 100)
    if not 1 <= limit <= 100:
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: limit must be 1..100")
    trades = sim.recent_trades[market_id]
    newest_first = [trades[-i] for i in range(1, min(limit, len(trades)) + 1)]
    return ok({"code": 200, "trades": newest_first})


def _ms_arg(request: web.Request, name: str) -> int | None:
    if request.query.get(name) in (None, ""):
        return None
    value = _int_arg(request, name)
    return value * 1000 if 0 < value < 100_000_000_000 else value  # seconds are accepted too


def _candle_args(sim: SimServer, request: web.Request) -> tuple[int, str, list[dict[str, Any]]]:
    market_id = _market_arg(sim, request)
    assert market_id is not None
    resolution = request.query.get("resolution", "1m")
    if resolution not in RESOLUTION_MS:
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: resolution {resolution!r}")
    count_back = _int_arg(request, "count_back", 500)
    candles = sim.candles[market_id].query(
        resolution, _ms_arg(request, "start_timestamp"), _ms_arg(request, "end_timestamp"), min(max(count_back, 0), 500)
    )
    return market_id, resolution, candles


async def candles(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    _, resolution, rows = _candle_args(sim, request)
    return ok({"code": 200, "r": resolution, "c": rows})


async def candlesticks(request: web.Request) -> web.Response:
    """The older endpoint and shape (`candlesticks`), for clients written against it."""
    sim = request.app[SIM_KEY]
    _, resolution, rows = _candle_args(sim, request)
    sticks = [
        {
            "timestamp": c["t"],
            "open": c["o"],
            "high": c["h"],
            "low": c["l"],
            "close": c["c"],
            "volume0": c["v"],
            "volume1": c["V"],
            "last_trade_id": c["i"],
        }
        for c in rows
    ]
    return ok({"code": 200, "resolution": resolution, "candlesticks": sticks})


# =============================================================================================
# handlers: accounts
# =============================================================================================
async def next_nonce(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    account_index = _int_arg(request, "account_index")
    api_key_index = _int_arg(request, "api_key_index")
    return ok({"code": 200, "nonce": sim.next_nonce(account_index, api_key_index)})


async def account(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    by = request.query.get("by", "index")
    if by != "index":
        raise BadRequest(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: only by=index is simulated")
    account_index = _int_arg(request, "value")
    if account_index < 0:
        raise BadRequest(codes.INVALID_ACCOUNT, f"{codes.message_for(codes.INVALID_ACCOUNT)}: {account_index}")
    return ok({"code": 200, "total": 1, "accounts": [account_json(sim, account_index)], "next_cursor": ""})


async def account_active_orders(request: web.Request) -> web.Response:
    """Open orders of an account (the `auth` parameter/header is accepted and not checked)."""
    sim = request.app[SIM_KEY]
    account_index = _int_arg(request, "account_index")
    market_id = _market_arg(sim, request, required=False)
    orders = sorted(sim.engine.active_orders(account_index, market_id), key=lambda o: o.order_index)
    return ok(
        {"code": 200, "orders": [order_json(o, sim.markets[o.market_id], sim.block_height) for o in orders]}
    )


async def apikeys(request: web.Request) -> web.Response:
    """Registered keys are not simulated: any key index is valid and its public key is unknown ("")."""
    sim = request.app[SIM_KEY]
    account_index = _int_arg(request, "account_index")
    api_key_index = _int_arg(request, "api_key_index", 255)
    if api_key_index == 255:  # Lighter: 255 lists every key of the account
        indexes = sorted(k for a, k in sim.nonces if a == account_index)
    else:
        indexes = [api_key_index]
    keys = [
        {
            "account_index": account_index,
            "api_key_index": k,
            "nonce": sim.next_nonce(account_index, k),
            "public_key": "",
            "transaction_time": 0,
        }
        for k in indexes
    ]
    return ok({"code": 200, "api_keys": keys})


# =============================================================================================
# handlers: transactions
# =============================================================================================
def _tx_hash(tx_info: str) -> str:
    return hashlib.blake2b(tx_info.encode(), digest_size=40).hexdigest()


async def _form(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            body = await request.json(loads=msgspec.json.decode)
        except (msgspec.DecodeError, ValueError):
            raise BadRequest(codes.INVALID_PARAM, "request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest(codes.INVALID_PARAM, "request body must be a JSON object")
        return body
    return dict(await request.post())


def _invalid_nonce_body(sim: SimServer, account_index: int, api_key_index: int, got: int) -> dict[str, Any]:
    sim.counters.invalid_nonce += 1
    expected = sim.next_nonce(account_index, api_key_index)
    return {"code": codes.INVALID_NONCE, "message": f"invalid nonce: expected {expected}, got {got}"}


def _invalid_nonce(sim: SimServer, account_index: int, api_key_index: int, got: int) -> web.Response:
    return ok(_invalid_nonce_body(sim, account_index, api_key_index, got), status=400)


async def submit_tx(sim: SimServer, tx_type: Any, tx_info: Any, received_ns: int) -> tuple[int, dict[str, Any]]:
    """One signed transaction, as `sendTx` and the websocket's `jsonapi/sendtx` take it: returns
    (HTTP status, answer). Refused before sequencing (malformed, wrong nonce): 400, nonce unspent;
    refused by the engine: 200 with its code, nonce spent. `received_ns`: when the request reached
    the venue (wall clock), for the arrival audit."""
    if isinstance(tx_info, dict):  # the websocket takes tx_info as an object too (Lighter's examples send one)
        tx_info = msgspec.json.encode(tx_info).decode()
    try:
        parsed_type = parse_tx_type(tx_type)
        if not isinstance(tx_info, str):
            raise TxInfoError(codes.INVALID_TX_INFO, "tx_info is missing")
        tx = parse_tx(parsed_type, tx_info)
    except TxInfoError as exc:
        sim.counters.malformed_tx += 1
        return 400, {"code": exc.code, "message": f"{codes.message_for(exc.code)}: {exc}"}
    if tx.nonce != sim.next_nonce(tx.account_index, tx.api_key_index):
        return 400, _invalid_nonce_body(sim, tx.account_index, tx.api_key_index, tx.nonce)
    sim.consume_nonce(tx.account_index, tx.api_key_index)
    delay = sim.faults.order_delay_s()
    if delay:
        await asyncio.sleep(delay)  # the delay-orders fault: this transaction reaches the engine late
    code, message = sim.apply_tx(tx, received_ns // 1_000_000, received_ns=received_ns)
    if code != codes.OK:
        return 200, {"code": code, "message": message}
    return 200, {
        "code": codes.OK,
        "message": message,
        "tx_hash": _tx_hash(tx_info),
        "predicted_execution_time_ms": sim.now_ms,
        "volume_quota_remaining": VOLUME_QUOTA_UNLIMITED,
    }


async def send_tx(request: web.Request) -> web.Response:
    received_ns = time.time_ns()
    form = await _form(request)
    status, answer = await submit_tx(request.app[SIM_KEY], form.get("tx_type"), form.get("tx_info"), received_ns)
    return ok(answer, status=status)


def _json_list(raw: Any, name: str) -> list[Any]:
    if isinstance(raw, list):
        return raw
    try:
        value = msgspec.json.decode(raw) if isinstance(raw, (str, bytes)) else None
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, list):
        raise TxInfoError(codes.INVALID_TX_INFO, f"{name} must be a JSON array")
    return value


async def send_tx_batch(request: web.Request) -> web.Response:
    """Up to 50 transactions; per (account, key) their nonces must run on from the next expected.

    A bad nonce refuses the whole batch (HTTP 400, nothing applied); otherwise each transaction is
    applied in order and its own code is reported in `results` (extra to RespSendTxBatch).
    """
    sim = request.app[SIM_KEY]
    received_ns = time.time_ns()
    form = await _form(request)
    try:
        tx_types = _json_list(form.get("tx_types"), "tx_types")
        tx_infos = _json_list(form.get("tx_infos"), "tx_infos")
        if len(tx_types) != len(tx_infos) or not tx_types:
            raise TxInfoError(codes.INVALID_TX_INFO, "tx_types and tx_infos must be non-empty and of equal length")
        if len(tx_types) > MAX_BATCH_TXS:
            raise TxInfoError(codes.INVALID_TX_INFO, f"at most {MAX_BATCH_TXS} transactions per batch")
        if not all(isinstance(info, str) for info in tx_infos):
            raise TxInfoError(codes.INVALID_TX_INFO, "every tx_info must be a JSON string")
        txs = [parse_tx(parse_tx_type(t), info) for t, info in zip(tx_types, tx_infos, strict=True)]
    except TxInfoError as exc:
        sim.counters.malformed_tx += 1
        return error(exc.code, f"{codes.message_for(exc.code)}: {exc}")
    expected: dict[tuple[int, int], int] = {}
    for tx in txs:
        key = (tx.account_index, tx.api_key_index)
        want = expected.get(key, sim.next_nonce(*key))
        if tx.nonce != want:
            return _invalid_nonce(sim, tx.account_index, tx.api_key_index, tx.nonce)
        expected[key] = want + 1
    for tx in txs:
        sim.consume_nonce(tx.account_index, tx.api_key_index)
    delay = sim.faults.order_delay_s()
    if delay:
        await asyncio.sleep(delay)
    results = []
    for tx in txs:
        code, message = sim.apply_tx(tx, received_ns // 1_000_000, received_ns=received_ns)
        results.append({"code": code, "message": message})
    return ok(
        {
            "code": codes.OK,
            "message": codes.message_for(codes.OK),
            "tx_hash": [_tx_hash(info) for info in tx_infos],
            "predicted_execution_time_ms": sim.now_ms,
            "volume_quota_remaining": VOLUME_QUOTA_UNLIMITED,
            "results": results,
        }
    )


# =============================================================================================
# simulator control
# =============================================================================================
async def sim_state(request: web.Request) -> web.Response:
    return ok(request.app[SIM_KEY].state())


async def sim_faults_get(request: web.Request) -> web.Response:
    return ok(request.app[SIM_KEY].faults.snapshot())


async def sim_faults_post(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    try:
        body = await request.json(loads=msgspec.json.decode)
        drop_now = sim.faults.update(body)
    except (msgspec.DecodeError, ValueError) as exc:
        return error(codes.INVALID_PARAM, f"{codes.message_for(codes.INVALID_PARAM)}: {exc}")
    dropped = sim.drop_connections() if drop_now else 0
    return ok({**sim.faults.snapshot(), "dropped_connections": dropped})


def build_app(sim: SimServer) -> web.Application:
    from venue.sim.ws_api import stream  # the websocket handler imports shapes from here

    app = web.Application(middlewares=[_middleware])
    app[SIM_KEY] = sim
    get = [
        ("/api/v1/orderBookDetails", order_book_details),
        ("/api/v1/orderBooks", order_books),
        ("/api/v1/orderBookOrders", order_book_orders),
        ("/api/v1/recentTrades", recent_trades),
        ("/api/v1/candles", candles),
        ("/api/v1/candlesticks", candlesticks),
        ("/api/v1/nextNonce", next_nonce),
        ("/api/v1/account", account),
        ("/api/v1/accountActiveOrders", account_active_orders),
        ("/api/v1/apikeys", apikeys),
        ("/sim/state", sim_state),
        ("/sim/faults", sim_faults_get),
        ("/stream", stream),
    ]
    for path, handler in get:
        app.router.add_get(path, handler)
    app.router.add_post("/api/v1/sendTx", send_tx)
    app.router.add_post("/api/v1/sendTxBatch", send_tx_batch)
    app.router.add_post("/sim/faults", sim_faults_post)
    return app
