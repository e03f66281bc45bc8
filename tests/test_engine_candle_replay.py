"""One hour of the shared SOL candles through the matching engine at full speed.

A scripted trader on two accounts places market orders, resting post-only quotes and GTT
orders through the hour while the engine is driven by the candle source's book and trades; at
the end every account's books must balance exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from venue import codes
from venue.markets import SOL_DEFAULT, Rounding
from venue.sim.engine import MatchingEngine
from venue.sim.sources import CandleSource
from venue.sim.types import OrderRequest, OrderType, SourceBook, SourceTrade, TimeInForce

SOL = msgspec.structs.replace(SOL_DEFAULT, maker_fee=0.0002, taker_fee=0.0004)  # 2 / 4 bps
START = datetime(2025, 5, 20, 14, 0, tzinfo=UTC)
END = datetime(2025, 5, 20, 15, 0, tzinfo=UTC)


def units(levels: list[tuple[float, float]]) -> list[tuple[int, int]]:
    return [(SOL.price_to_int(p), SOL.size_to_int(s, Rounding.NEAREST)) for p, s in levels]


@pytest.mark.timeout(60)
def test_one_hour_of_sol_candles_trades_and_balances(sol_candles_path) -> None:
    engine = MatchingEngine({SOL.market_id: SOL}, default_collateral=10_000.0)
    source = CandleSource(sol_candles_path, tick_ms=250, start=START, end=END)
    taker, maker = 1, 2
    coi = 0
    books = trades_seen = 0
    fills = {taker: 0, maker: 0}
    last_action_ms = None
    position_sign = 1
    first_ts = last_ts = None

    def submit(account: int, **kw) -> None:
        nonlocal coi
        coi += 1
        result = engine.submit(OrderRequest(account_index=account, market_id=SOL.market_id,
                                            client_order_index=coi, **kw), ts_ms)
        assert result.code in (codes.OK, codes.POST_ONLY_WOULD_CROSS), result.message
        for trade in result.trades:
            for acct in (trade.bid_account_id, trade.ask_account_id):
                if acct in fills:
                    fills[acct] += 1

    for event in source.events():
        ts_ms = event.ts_ns // 1_000_000
        first_ts = first_ts or ts_ms
        last_ts = ts_ms
        if isinstance(event, SourceBook):
            books += 1
            for trade in engine.on_book(SOL.market_id, units(event.bids), units(event.asks), ts_ms):
                fills[maker] += trade.bid_account_id == maker or trade.ask_account_id == maker
        else:
            assert isinstance(event, SourceTrade)
            trades_seen += 1
            for trade in engine.on_trade(SOL.market_id, SOL.price_to_int(event.price),
                                         SOL.size_to_int(event.size, Rounding.NEAREST),
                                         event.taker_is_buyer, ts_ms):
                fills[maker] += trade.bid_account_id == maker or trade.ask_account_id == maker
        if last_action_ms is not None and ts_ms - last_action_ms < 60_000:
            continue
        last_action_ms = ts_ms
        mid = engine.mid(SOL.market_id)
        assert mid is not None
        # the taker alternates long and short with market orders bounded by a worst price
        side_is_ask = position_sign < 0
        worst = mid * (0.995 if side_is_ask else 1.005)
        submit(taker, base_amount=200, price=SOL.price_to_int(worst), is_ask=side_is_ask,
               order_type=OrderType.MARKET, time_in_force=TimeInForce.IOC)
        position_sign = -position_sign
        # the maker keeps quotes 3 bps either side; prices moving through them fill them
        engine.cancel_all(maker, ts_ms)
        submit(maker, base_amount=100, price=SOL.price_to_int(mid * 0.9997, Rounding.DOWN), is_ask=False,
               time_in_force=TimeInForce.POST_ONLY)
        submit(maker, base_amount=100, price=SOL.price_to_int(mid * 1.0003, Rounding.UP), is_ask=True,
               time_in_force=TimeInForce.GTT, order_expiry_ms=ts_ms + 30_000)
        engine.expire(ts_ms)

    assert first_ts is not None and last_ts is not None
    assert last_ts - first_ts >= 59 * 60_000  # the whole hour went through
    assert books > 10_000 and trades_seen > 100
    assert fills[taker] >= 60  # every minute's market order filled at least once
    assert fills[maker] > 0  # the candles' path moved through resting quotes

    for account_index in (taker, maker):
        account = engine.account(account_index)
        trades = engine.account_trades(account_index)
        signed = 0
        fees = 0.0
        for trade in trades:
            bought = trade.bid_account_id == account_index
            signed += trade.size if bought else -trade.size
            taker_side = (trade.is_maker_ask and bought) or (not trade.is_maker_ask and not bought)
            fees += trade.taker_fee if taker_side else trade.maker_fee
        position = account.positions.get(SOL.market_id)
        assert (position.size if position else 0) == signed
        realized = position.realized_pnl if position else 0.0
        paid = position.fees_paid if position else 0.0
        assert paid == pytest.approx(fees, abs=1e-9) and paid > 0
        assert account.collateral == pytest.approx(10_000.0 + realized - paid, abs=1e-6)
        for order in engine.active_orders(account_index):
            assert order.filled_base_amount + order.remaining_base_amount == order.initial_base_amount
