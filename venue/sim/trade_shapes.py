"""Lighter's trade rows, as the simulator's REST API and websocket send them.

Fee rates in trades are integers in millionths of notional, each side's own (an account's tier
sets its fees: venue.sim.tiers); the external market's side of a trade has account and order
ids -1 and the market's fee rates.
"""

from __future__ import annotations

from typing import Any

import msgspec

from venue.markets import MarketSpec
from venue.sim.accounts import apply_fill
from venue.sim.engine import MatchingEngine, tx_hash_for
from venue.sim.shapes import EXTERNAL, initial_margin_units, money
from venue.sim.types import Account, Position, SimTrade


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
    maker_fee_rate: float | None = None,
    taker_fee_rate: float | None = None,
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
        "usd_amount": money(notional),
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
        "taker_fee": _fee_ppm(spec.taker_fee if taker_fee_rate is None else taker_fee_rate),
        "maker_fee": _fee_ppm(spec.maker_fee if maker_fee_rate is None else maker_fee_rate),
        "taker_position_size_before": taker_before[0],
        "taker_entry_quote_before": taker_before[1],
        "taker_initial_margin_fraction_before": taker_before[2],
        "taker_position_sign_changed": taker_before[3],
        "maker_position_size_before": maker_before[0],
        "maker_entry_quote_before": maker_before[1],
        "maker_initial_margin_fraction_before": maker_before[2],
        "maker_position_sign_changed": maker_before[3],
        "transaction_time": ts_ms * 1000,
        "ask_account_pnl": money(ask_pnl),
        "bid_account_pnl": money(bid_pnl),
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


class _Extras(msgspec.Struct, frozen=True, gc=False):
    """What a trade row holds beyond the engine's SimTrade, kept to shape it again later."""

    block_height: int
    taker_before: tuple[str, str, int, bool]
    maker_before: tuple[str, str, int, bool]
    ask_pnl: float
    bid_pnl: float


# rows of older trades (the account `trades` endpoint pages through the engine's whole history)
# are shaped again from the engine's SimTrade and these; beyond this many the "before" fields of
# the oldest are no longer known and are sent as zero (a paper venue's compromise on memory)
EXTRAS_KEPT = 500_000


class TradeShaper:
    """Shapes the engine's fills as Lighter trades, with each side's position before the fill.

    It replays every fill on shadow positions (the engine's own accounting, venue.sim.accounts),
    resynchronised with the engine after each step, so the "before" fields are exact. What a row
    needs beyond the SimTrade is remembered (EXTRAS_KEPT trades), so `row` can shape an old fill
    again for the account `trades` endpoint.
    """

    def __init__(self, markets: dict[int, MarketSpec], *, max_leverage: float) -> None:
        self._markets = markets
        self._imf = initial_margin_units(max_leverage)
        self._shadow: dict[int, Account] = {}
        self._extras: dict[int, _Extras] = {}  # trade_id -> extras, oldest first (dicts keep order)

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
        return (spec.format_size(old_size), money(entry_quote), self._imf, sign_changed), realized

    def sim_trade(self, trade: SimTrade, block_height: int) -> dict[str, Any]:
        spec = self._markets[trade.market_id]
        maker_is_ask = trade.is_maker_ask
        ask_fee = trade.maker_fee if maker_is_ask else trade.taker_fee
        bid_fee = trade.taker_fee if maker_is_ask else trade.maker_fee
        ask_before, ask_pnl = self._before(trade.ask_account_id, spec, False, trade.size, trade.price, ask_fee)
        bid_before, bid_pnl = self._before(trade.bid_account_id, spec, True, trade.size, trade.price, bid_fee)
        maker_before, taker_before = (ask_before, bid_before) if maker_is_ask else (bid_before, ask_before)
        extras = _Extras(block_height, taker_before, maker_before, ask_pnl, bid_pnl)
        self._extras[trade.trade_id] = extras
        if len(self._extras) > EXTRAS_KEPT:
            del self._extras[next(iter(self._extras))]
        return self._row(trade, extras)

    def row(self, trade: SimTrade) -> dict[str, Any]:
        """The row `sim_trade` made of this fill (an older one's "before" fields may be zero)."""
        extras = self._extras.get(trade.trade_id)
        if extras is None:
            extras = _Extras(0, _NO_SIDE, _NO_SIDE, 0.0, 0.0)
        return self._row(trade, extras)

    def _row(self, trade: SimTrade, extras: _Extras) -> dict[str, Any]:
        spec = self._markets[trade.market_id]
        maker_is_ask = trade.is_maker_ask
        # each simulator side's own rate (its tier's), read back from what the engine charged
        notional = spec.price_from_int(trade.price) * spec.size_from_int(trade.size)
        maker_account = trade.ask_account_id if maker_is_ask else trade.bid_account_id
        taker_account = trade.bid_account_id if maker_is_ask else trade.ask_account_id
        maker_rate = trade.maker_fee / notional if maker_account >= 0 and notional > 0 else None
        taker_rate = trade.taker_fee / notional if taker_account >= 0 and notional > 0 else None
        return _trade_row(
            spec,
            trade_id=trade.trade_id,
            tx_hash=trade.tx_hash,
            price=trade.price,
            size=trade.size,
            ts_ms=trade.ts_ms,
            block_height=extras.block_height,
            ask_id=trade.ask_id,
            bid_id=trade.bid_id,
            ask_client_id=trade.ask_client_id,
            bid_client_id=trade.bid_client_id,
            ask_account_id=trade.ask_account_id,
            bid_account_id=trade.bid_account_id,
            is_maker_ask=maker_is_ask,
            taker_before=extras.taker_before,
            maker_before=extras.maker_before,
            ask_pnl=extras.ask_pnl,
            bid_pnl=extras.bid_pnl,
            maker_fee_rate=maker_rate,
            taker_fee_rate=taker_rate,
        )

    def resync(self, engine: MatchingEngine, touched: set[tuple[int, int]]) -> None:
        """Copy the engine's positions of the touched (account, market) pairs into the shadows."""
        for account_index, market_id in touched:
            real = engine.account(account_index).positions.get(market_id)
            shadow = self._shadow.setdefault(account_index, Account(account_index=account_index, collateral=0.0))
            shadow.positions[market_id] = (
                Position(market_id=market_id) if real is None else msgspec.structs.replace(real)
            )

