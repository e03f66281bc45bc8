"""Unit tests of the simulator's matching engine, with hand-computed numbers.

Market: 3 size decimals and 3 price decimals (SOL-like), so 1.0 = 1000 units and 100.000 = 100000.
"""

from __future__ import annotations

import msgspec
import pytest

from venue import codes
from venue.markets import MarketSpec
from venue.sim.accounts import apply_fill
from venue.sim.engine import MatchingEngine, tx_hash_for
from venue.sim.types import Account, OrderRequest, OrderStatus, OrderType, TimeInForce

M = 2
FEES = MarketSpec(
    market_id=M,
    symbol="SOL",
    size_decimals=3,
    price_decimals=3,
    min_base_amount=0.05,
    min_quote_amount=10.0,
    maker_fee=0.0002,
    taker_fee=0.0005,
)
NO_FEES = MarketSpec(
    market_id=M, symbol="SOL", size_decimals=3, price_decimals=3, min_base_amount=0.05, min_quote_amount=10.0
)
A, B, C = 1, 2, 3


def px(price: float) -> int:
    return round(price * 1000)


def sz(size: float) -> int:
    return round(size * 1000)


_client_ids = iter(range(1, 10**9))


def limit(
    account: int, side: str, size: float, price: float, tif: TimeInForce = TimeInForce.GTT, **kw
) -> OrderRequest:
    return OrderRequest(
        account_index=account,
        market_id=kw.pop("market_id", M),
        client_order_index=kw.pop("client_order_index", next(_client_ids)),
        base_amount=sz(size),
        price=px(price),
        is_ask=side == "sell",
        order_type=OrderType.LIMIT,
        time_in_force=tif,
        **kw,
    )


def market(account: int, side: str, size: float, worst: float, **kw) -> OrderRequest:
    return OrderRequest(
        account_index=account,
        market_id=M,
        client_order_index=kw.pop("client_order_index", next(_client_ids)),
        base_amount=sz(size),
        price=px(worst),
        is_ask=side == "sell",
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.IOC,
        **kw,
    )


def engine(spec: MarketSpec = FEES, **kw) -> MatchingEngine:
    return MatchingEngine({M: spec}, **kw)


def standard_book(e: MatchingEngine, ts: int = 1) -> None:
    e.on_book(
        M,
        [(px(99.9), sz(1.0)), (px(99.8), sz(2.0)), (px(99.6), sz(5.0))],
        [(px(100.0), sz(1.0)), (px(100.1), sz(2.0)), (px(100.3), sz(5.0))],
        ts,
    )


# --- taking liquidity --------------------------------------------------------------------------


def test_market_order_sweeps_levels_and_stops_at_worst_price() -> None:
    e = engine()
    standard_book(e)
    result = e.submit(market(A, "buy", 4.0, worst=100.2), ts_ms=5)
    assert result.code == codes.OK
    assert [(t.price, t.size) for t in result.trades] == [(px(100.0), sz(1.0)), (px(100.1), sz(2.0))]
    order = result.order
    assert order is not None
    assert order.status == OrderStatus.CANCELED
    assert (order.filled_base_amount, order.remaining_base_amount) == (sz(3.0), sz(1.0))
    assert order.filled_quote == pytest.approx(100.0 + 200.2)
    position = e.account(A).positions[M]
    assert position.size == sz(3.0)
    assert position.avg_entry_price == pytest.approx(300.2 / 3)
    taker_fee = 0.0005 * 300.2
    assert sum(t.taker_fee for t in result.trades) == pytest.approx(taker_fee)
    assert all(t.maker_fee == 0.0 and t.ask_account_id == -1 and t.ask_id == -1 for t in result.trades)
    # the external ask was the resting maker
    assert all(
        t.bid_id == order.order_index and t.bid_account_id == A and t.is_maker_ask for t in result.trades
    )
    assert e.account(A).collateral == pytest.approx(10_000.0 - taker_fee)
    assert e.active_orders(A) == []


def test_sell_market_order_fully_filled_is_filled() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    result = e.submit(market(A, "sell", 2.5, worst=99.0), ts_ms=5)
    assert result.order is not None and result.order.status == OrderStatus.FILLED
    assert [(t.price, t.size, t.is_maker_ask) for t in result.trades] == [
        (px(99.9), sz(1.0), False),
        (px(99.8), sz(1.5), False),
    ]
    assert e.account(A).positions[M].size == -sz(2.5)


def test_ioc_with_nothing_in_range_is_canceled_not_enough_liquidity_but_accepted() -> None:
    e = engine()
    standard_book(e)
    result = e.submit(limit(A, "buy", 1.0, 99.95, TimeInForce.IOC), ts_ms=5)
    assert result.code == codes.OK
    assert result.trades == []
    assert result.order is not None and result.order.status == OrderStatus.CANCELED_NOT_ENOUGH_LIQUIDITY
    assert e.active_orders(A) == []
    assert e.book(M)[1][0] == (px(100.0), sz(1.0))


def test_consumed_external_liquidity_stays_consumed_until_next_book() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    first = e.submit(market(A, "buy", 1.5, worst=101.0), ts_ms=2)
    assert [(t.price, t.size) for t in first.trades] == [(px(100.0), sz(1.0)), (px(100.1), sz(0.5))]
    assert e.book(M)[1][:2] == [(px(100.1), sz(1.5)), (px(100.3), sz(5.0))]
    second = e.submit(market(B, "buy", 1.0, worst=101.0), ts_ms=3)
    assert [(t.price, t.size) for t in second.trades] == [(px(100.1), sz(1.0))]
    standard_book(e, ts=4)  # a new snapshot restores the external levels
    third = e.submit(market(C, "buy", 1.0, worst=101.0), ts_ms=5)
    assert [(t.price, t.size) for t in third.trades] == [(px(100.0), sz(1.0))]


def test_gtt_limit_takes_crossing_part_and_rests_the_rest() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    result = e.submit(limit(A, "buy", 4.0, 100.1), ts_ms=5)
    assert [(t.price, t.size) for t in result.trades] == [(px(100.0), sz(1.0)), (px(100.1), sz(2.0))]
    order = result.order
    assert order is not None and order.status == OrderStatus.OPEN and order.remaining_base_amount == sz(1.0)
    assert e.active_orders(A) == [order]
    bids, asks = e.book(M)
    assert bids[0] == (px(100.1), sz(1.0))
    assert asks[0] == (px(100.3), sz(5.0))


def test_book_merges_external_and_simulator_sizes_at_equal_prices() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    e.submit(limit(A, "buy", 0.5, 99.8), ts_ms=2)
    e.submit(limit(B, "buy", 0.25, 99.8), ts_ms=3)
    e.submit(limit(B, "sell", 0.3, 100.2), ts_ms=4)
    bids, asks = e.book(M, depth=3)
    assert bids == [(px(99.9), sz(1.0)), (px(99.8), sz(2.75)), (px(99.6), sz(5.0))]
    assert asks == [(px(100.0), sz(1.0)), (px(100.1), sz(2.0)), (px(100.2), sz(0.3))]
    assert e.book(M, depth=1) == ([(px(99.9), sz(1.0))], [(px(100.0), sz(1.0))])
    assert e.mid(M) == pytest.approx(99.95)


# --- post-only, resting orders and the external market -----------------------------------------


def test_post_only_that_would_cross_is_rejected_without_state_change() -> None:
    e = engine()
    standard_book(e)
    bid = limit(A, "buy", 1.0, 100.0, TimeInForce.POST_ONLY, client_order_index=77)
    result = e.submit(bid, ts_ms=5)
    assert result.code == codes.POST_ONLY_WOULD_CROSS and result.order is None
    ask = e.submit(limit(A, "sell", 1.0, 99.9, TimeInForce.POST_ONLY), ts_ms=5)
    assert ask.code == codes.POST_ONLY_WOULD_CROSS
    assert e.order_by_client_index(A, 77) is None
    assert e.active_orders(A) == [] and e.accounts() == []
    # one tick away rests
    ok = e.submit(limit(A, "buy", 1.0, 99.999, TimeInForce.POST_ONLY), ts_ms=6)
    assert (
        ok.code == codes.OK
        and ok.trades == []
        and ok.order is not None
        and ok.order.status == OrderStatus.OPEN
    )


def test_post_only_checks_the_merged_book_including_simulator_orders() -> None:
    e = engine()
    standard_book(e)
    e.submit(limit(B, "sell", 1.0, 99.95, TimeInForce.POST_ONLY), ts_ms=2)
    result = e.submit(limit(A, "buy", 1.0, 99.95, TimeInForce.POST_ONLY), ts_ms=3)
    assert result.code == codes.POST_ONLY_WOULD_CROSS


def test_resting_bid_fills_only_when_a_print_goes_through_it() -> None:
    e = engine(maker_fills="through")  # the older model (the queue model: tests/test_engine_queue.py)
    standard_book(e)
    order = e.submit(limit(A, "buy", 1.0, 99.95, TimeInForce.POST_ONLY), ts_ms=2).order
    assert order is not None
    assert e.on_trade(M, px(99.95), sz(5.0), taker_is_buyer=False, ts_ms=3) == []  # at the touch: no
    assert e.on_trade(M, px(99.90), sz(5.0), taker_is_buyer=True, ts_ms=4) == []  # a buyer does not hit bids
    trades = e.on_trade(M, px(99.90), sz(0.4), taker_is_buyer=False, ts_ms=5)
    assert [(t.price, t.size) for t in trades] == [(px(99.95), sz(0.4))]  # at our price, up to the print
    trade = trades[0]
    assert (trade.bid_id, trade.bid_account_id, trade.ask_id, trade.ask_account_id) == (
        order.order_index,
        A,
        -1,
        -1,
    )
    assert trade.is_maker_ask is False
    assert trade.maker_fee == pytest.approx(0.0002 * 99.95 * 0.4)
    assert trade.taker_fee == 0.0
    assert (order.filled_base_amount, order.remaining_base_amount, order.status) == (sz(0.4), sz(0.6), "open")
    assert order.updated_at_ms == 5 and order.created_at_ms == 2
    assert e.account(A).collateral == pytest.approx(10_000.0 - 0.0002 * 99.95 * 0.4)
    rest = e.on_trade(M, px(99.0), sz(10.0), taker_is_buyer=False, ts_ms=6)
    assert [t.size for t in rest] == [sz(0.6)]
    assert order.status == OrderStatus.FILLED and e.active_orders(A) == []


def test_fill_at_touch_fills_on_a_print_at_our_price() -> None:
    e = engine(fill_at_touch=True)
    standard_book(e)
    e.submit(limit(A, "sell", 1.0, 100.05, TimeInForce.POST_ONLY), ts_ms=2)
    assert e.on_trade(M, px(100.04), sz(1.0), taker_is_buyer=True, ts_ms=3) == []
    trades = e.on_trade(M, px(100.05), sz(1.0), taker_is_buyer=True, ts_ms=4)
    assert [(t.price, t.size, t.is_maker_ask, t.ask_account_id) for t in trades] == [
        (px(100.05), sz(1.0), True, A)
    ]


def test_print_fills_in_price_time_priority() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    a = e.submit(limit(A, "buy", 1.0, 99.95), ts_ms=2).order
    b = e.submit(limit(B, "buy", 1.0, 99.95), ts_ms=3).order
    c = e.submit(limit(C, "buy", 1.0, 99.97), ts_ms=4).order
    assert a and b and c
    trades = e.on_trade(M, px(99.9), sz(1.5), taker_is_buyer=False, ts_ms=5)
    assert [(t.bid_account_id, t.price, t.size) for t in trades] == [
        (C, px(99.97), sz(1.0)),
        (A, px(99.95), sz(0.5)),
    ]
    assert (c.status, a.remaining_base_amount, b.remaining_base_amount) == ("filled", sz(0.5), sz(1.0))


def test_new_book_crossing_a_resting_order_fills_it_at_its_price() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    order = e.submit(limit(A, "buy", 2.0, 99.95, TimeInForce.POST_ONLY), ts_ms=2).order
    assert order is not None
    trades = e.on_book(
        M, [(px(99.5), sz(1.0))], [(px(99.9), sz(0.5)), (px(99.95), sz(1.0)), (px(100.0), sz(5.0))], ts_ms=3
    )
    assert [(t.price, t.size, t.is_maker_ask, t.bid_account_id) for t in trades] == [
        (px(99.95), sz(0.5), False, A),
        (px(99.95), sz(1.0), False, A),
    ]
    assert order.remaining_base_amount == sz(0.5)
    assert e.account(A).positions[M].size == sz(1.5)
    bids, asks = e.book(M)
    assert bids[0] == (px(99.95), sz(0.5))
    assert asks == [(px(100.0), sz(5.0))]  # the crossing size was consumed
    # a later book that does not cross leaves it alone
    assert e.on_book(M, [(px(99.5), sz(1.0))], [(px(100.0), sz(5.0))], ts_ms=4) == []
    # and an ask crossing from the other side: our resting ask fills against external bids
    ask = e.submit(limit(B, "sell", 1.0, 100.5), ts_ms=5).order
    assert ask is not None
    trades = e.on_book(M, [(px(100.6), sz(0.3)), (px(100.4), sz(9.0))], [(px(101.0), sz(1.0))], ts_ms=6)
    assert [(t.price, t.size, t.is_maker_ask, t.ask_account_id) for t in trades] == [
        (px(100.5), sz(0.3), True, B)
    ]


# --- accounts matching each other -----------------------------------------------------------------


def test_two_accounts_match_with_maker_taker_attribution_and_fees() -> None:
    e = engine(maker_fills="through")  # A's ask fills before the external size at its price
    standard_book(e)
    maker = e.submit(limit(A, "sell", 1.0, 100.0, client_order_index=11), ts_ms=2).order
    assert maker is not None and maker.status == OrderStatus.OPEN
    result = e.submit(market(B, "buy", 1.5, worst=100.0, client_order_index=22), ts_ms=3)
    taker = result.order
    assert taker is not None
    # the simulator order fills before the external size at the same price
    assert [(t.ask_account_id, t.size) for t in result.trades] == [(A, sz(1.0)), (-1, sz(0.5))]
    first = result.trades[0]
    assert (first.ask_id, first.bid_id, first.ask_client_id, first.bid_client_id) == (
        maker.order_index,
        taker.order_index,
        11,
        22,
    )
    assert first.is_maker_ask is True and first.bid_account_id == B
    assert first.maker_fee == pytest.approx(0.0002 * 100.0)
    assert first.taker_fee == pytest.approx(0.0005 * 100.0)
    assert e.account(A).collateral == pytest.approx(10_000.0 - 0.02)
    assert e.account(B).collateral == pytest.approx(10_000.0 - 0.05 - 0.0005 * 50.0)
    assert e.account(A).positions[M].fees_paid == pytest.approx(0.02)
    assert (e.account(A).positions[M].size, e.account(B).positions[M].size) == (-sz(1.0), sz(1.5))
    assert maker.status == OrderStatus.FILLED and taker.status == OrderStatus.FILLED
    assert e.account_trades(A) == [first]
    assert e.account_trades(B) == result.trades
    assert e.recent_trades(M) == list(reversed(result.trades))
    assert e.recent_trades(M, limit=1) == [result.trades[1]]


def test_an_account_never_trades_with_itself() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    own = e.submit(limit(A, "sell", 1.0, 99.95), ts_ms=2).order
    other = e.submit(limit(B, "sell", 1.0, 99.97), ts_ms=3).order
    assert own and other
    result = e.submit(market(A, "buy", 1.5, worst=100.0), ts_ms=4)
    assert [(t.ask_account_id, t.price, t.size) for t in result.trades] == [
        (B, px(99.97), sz(1.0)),
        (-1, px(100.0), sz(0.5)),
    ]
    assert own.status == OrderStatus.OPEN and own.remaining_base_amount == sz(1.0)
    assert all(t.ask_account_id != t.bid_account_id for t in result.trades)


# --- reduce-only and margin ---------------------------------------------------------------------


def test_reduce_only_rejected_without_position_or_when_it_would_increase() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    no_position = e.submit(market(A, "sell", 1.0, worst=99.0, reduce_only=True), ts_ms=2)
    assert no_position.code == codes.REDUCE_ONLY_WOULD_INCREASE
    e.submit(market(A, "buy", 1.0, worst=101.0), ts_ms=3)
    same_side = e.submit(limit(A, "buy", 1.0, 99.0, reduce_only=True), ts_ms=4)
    assert same_side.code == codes.REDUCE_ONLY_WOULD_INCREASE
    assert e.active_orders(A) == []


def test_reduce_only_larger_than_the_position_is_clipped() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    e.submit(market(A, "buy", 0.6, worst=101.0), ts_ms=2)
    result = e.submit(market(A, "sell", 2.0, worst=99.0, reduce_only=True), ts_ms=3)
    assert result.code == codes.OK and result.order is not None
    assert result.order.initial_base_amount == sz(0.6)
    assert result.order.status == OrderStatus.FILLED
    assert e.account(A).positions[M].size == 0


def test_resting_reduce_only_is_canceled_once_the_position_is_gone() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    e.submit(market(A, "buy", 1.0, worst=101.0), ts_ms=2)
    take_profit = e.submit(limit(A, "sell", 1.0, 105.0, reduce_only=True), ts_ms=3).order
    assert take_profit is not None and take_profit.status == OrderStatus.OPEN
    e.submit(market(A, "sell", 1.0, worst=99.0), ts_ms=4)
    assert take_profit.status == OrderStatus.CANCELED_REDUCE_ONLY
    assert e.active_orders(A) == [] and e.book(M)[1][-1] == (px(100.3), sz(5.0))


def test_margin_rejects_exposure_above_collateral_times_leverage() -> None:
    e = engine(NO_FEES, default_collateral=100.0, max_leverage=10.0)  # 1000 of notional
    standard_book(e)
    too_big = e.submit(limit(A, "buy", 10.5, 99.0), ts_ms=2)
    assert too_big.code == codes.INSUFFICIENT_MARGIN and too_big.order is None
    fits = e.submit(limit(A, "buy", 9.0, 99.0), ts_ms=3)
    assert fits.code == codes.OK
    # the open bid counts: 9 + 2 at 99 is 1089 > 1000
    assert e.submit(limit(A, "buy", 2.0, 99.0), ts_ms=4).code == codes.INSUFFICIENT_MARGIN
    e.cancel_all(A, ts_ms=5)
    e.submit(market(A, "buy", 8.0, worst=101.0), ts_ms=6)
    assert e.account(A).positions[M].size == sz(8.0)
    # market orders count at the mid (99.95): 10 fits (999.5), 10.5 does not (1049.475)
    assert e.submit(market(A, "buy", 2.5, worst=101.0), ts_ms=7).code == codes.INSUFFICIENT_MARGIN
    assert e.submit(market(A, "buy", 2.0, worst=101.0), ts_ms=7).code == codes.OK
    # reducing is always allowed
    assert e.submit(market(A, "sell", 5.0, worst=99.0), ts_ms=8).code == codes.OK
    assert e.account(A).positions[M].size == sz(8.0) - sz(5.0)


# --- PnL -----------------------------------------------------------------------------------------


def test_pnl_on_increase_reduce_and_flip() -> None:
    account = Account(account_index=A, collateral=1_000.0)

    def fill(side: str, price: float, size: float, fee: float = 0.0) -> float:
        return apply_fill(account, NO_FEES, is_buy=side == "buy", price=px(price), size=sz(size), fee=fee)

    assert fill("buy", 100.0, 2.0, fee=0.1) == 0.0
    assert fill("buy", 103.0, 1.0) == 0.0
    position = account.positions[M]
    assert (position.size, position.avg_entry_price) == (sz(3.0), pytest.approx(101.0))  # (200 + 103) / 3
    assert fill("sell", 104.0, 1.5) == pytest.approx(4.5)  # (104 - 101) x 1.5
    assert position.avg_entry_price == pytest.approx(101.0)  # reducing keeps the entry
    assert fill("sell", 100.0, 3.0, fee=0.2) == pytest.approx(-1.5)  # closes 1.5 at -1 each ...
    assert (position.size, position.avg_entry_price) == (
        -sz(1.5),
        pytest.approx(100.0),
    )  # ... opens 1.5 short
    assert fill("sell", 97.0, 0.5) == 0.0  # adding to the short averages the entry
    assert position.avg_entry_price == pytest.approx((150.0 + 48.5) / 2.0)
    assert fill("buy", 98.0, 2.0) == pytest.approx((99.25 - 98.0) * 2.0)
    assert (position.size, position.avg_entry_price) == (0, 0.0)
    assert position.realized_pnl == pytest.approx(4.5 - 1.5 + 2.5)
    assert position.fees_paid == pytest.approx(0.3)
    assert account.collateral == pytest.approx(1_000.0 + 5.5 - 0.3)


def test_engine_pnl_flip_and_unrealized_at_mid() -> None:
    e = engine()
    standard_book(e)
    e.submit(market(A, "buy", 1.0, worst=100.0), ts_ms=2)  # long 1 @ 100.0, fee 0.05
    assert e.unrealized_pnl(A, M) == pytest.approx(99.95 - 100.0)
    e.on_book(M, [(px(102.0), sz(5.0))], [(px(102.2), sz(5.0))], ts_ms=3)
    result = e.submit(market(A, "sell", 3.0, worst=101.0), ts_ms=4)  # close 1 @ 102 (+2), short 2 @ 102
    assert result.order is not None and result.order.status == OrderStatus.FILLED
    position = e.account(A).positions[M]
    assert (position.size, position.avg_entry_price) == (-sz(3.0) + sz(1.0), pytest.approx(102.0))
    assert position.realized_pnl == pytest.approx(2.0)
    fees = 0.0005 * 100.0 + 0.0005 * 306.0
    assert position.fees_paid == pytest.approx(fees)
    assert e.account(A).collateral == pytest.approx(10_000.0 + 2.0 - fees)
    assert e.unrealized_pnl(A, M) == pytest.approx((102.0 - 102.1) * 2.0)
    assert e.unrealized_pnl(B, M) == 0.0


# --- cancel and expiry ------------------------------------------------------------------------


def test_cancel_and_cancel_all() -> None:
    e = engine()
    standard_book(e)
    first = e.submit(limit(A, "buy", 1.0, 99.0, client_order_index=501), ts_ms=2).order
    second = e.submit(limit(A, "sell", 1.0, 101.0), ts_ms=3).order
    third = e.submit(limit(B, "buy", 1.0, 98.0), ts_ms=4).order
    assert first and second and third
    assert e.cancel(B, M, first.order_index, ts_ms=5) == (codes.ORDER_NOT_FOUND, None)  # not B's order
    assert e.cancel(A, M + 1, first.order_index, ts_ms=5) == (codes.ORDER_NOT_FOUND, None)
    code, canceled = e.cancel(A, M, first.order_index, ts_ms=6)
    assert code == codes.OK and canceled is first
    assert first.status == OrderStatus.CANCELED and first.updated_at_ms == 6
    assert e.cancel(A, M, first.order_index, ts_ms=7) == (codes.ORDER_NOT_FOUND, None)
    assert e.order(first.order_index) is first  # terminal orders stay visible
    assert e.order_by_client_index(A, 501) is first
    assert px(99.0) not in [price for price, _ in e.book(M)[0]]
    assert e.cancel_all(A, ts_ms=8) == [second]
    assert e.active_orders(A) == [] and e.active_orders(B) == [third]


def test_cancel_by_client_order_index() -> None:
    e = engine()
    standard_book(e)
    order = e.submit(limit(A, "buy", 1.0, 99.0, client_order_index=42), ts_ms=2).order
    assert e.cancel(A, M, 42, ts_ms=3) == (codes.OK, order)


def test_expire_cancels_due_gtt_orders_and_they_never_fill() -> None:
    e = engine()
    standard_book(e)
    soon = e.submit(limit(A, "buy", 1.0, 99.95, order_expiry_ms=1_000), ts_ms=2).order
    later = e.submit(limit(B, "buy", 1.0, 99.95, order_expiry_ms=2_000), ts_ms=3).order
    assert soon and later
    assert e.expire(999) == []
    assert e.expire(1_000) == [soon]
    assert soon.status == OrderStatus.CANCELED_EXPIRED and soon.updated_at_ms == 1_000
    # an event after the expiry expires the order before it could fill; expire() still reports it
    assert e.on_trade(M, px(99.0), sz(5.0), taker_is_buyer=False, ts_ms=2_500) == []
    assert later.status == OrderStatus.CANCELED_EXPIRED
    assert e.expire(2_500) == [later]
    assert e.expire(3_000) == []
    already = e.submit(limit(A, "buy", 1.0, 99.0, order_expiry_ms=10), ts_ms=20)
    assert already.code == codes.ORDER_EXPIRED


# --- validation and determinism ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (limit(A, "buy", 1.0, 99.0, market_id=99), codes.INVALID_MARKET),
        (limit(A, "buy", 0.04, 300.0), codes.INVALID_BASE_AMOUNT),
        (limit(A, "buy", 0.0, 300.0), codes.INVALID_BASE_AMOUNT),
        (limit(A, "buy", 1.0, 0.0), codes.INVALID_PRICE),
        (limit(A, "buy", 0.09, 100.0), codes.NOTIONAL_TOO_SMALL),
        (market(A, "sell", 0.2, worst=40.0), codes.NOTIONAL_TOO_SMALL),
    ],
)
def test_invalid_orders_are_rejected_without_state_change(request_: OrderRequest, code: int) -> None:
    e = engine()
    standard_book(e)
    result = e.submit(request_, ts_ms=2)
    assert result.code == code and result.order is None and result.trades == []
    assert e.accounts() == [] and e.book(M) == (
        [(px(99.9), sz(1.0)), (px(99.8), sz(2.0)), (px(99.6), sz(5.0))],
        [(px(100.0), sz(1.0)), (px(100.1), sz(2.0)), (px(100.3), sz(5.0))],
    )


def test_minimum_notional_exactly_met_is_accepted() -> None:
    e = engine()
    standard_book(e)
    assert (
        e.submit(limit(A, "buy", 0.1, 100.0, TimeInForce.POST_ONLY), ts_ms=2).code
        == codes.POST_ONLY_WOULD_CROSS
    )
    assert e.submit(limit(A, "buy", 0.1, 100.0), ts_ms=2).code == codes.OK


def test_identifiers_and_hashes_are_deterministic() -> None:
    def run() -> list:
        e = engine(order_index_start=1_000, trade_id_start=50)
        standard_book(e)
        e.submit(limit(A, "sell", 1.0, 99.95, client_order_index=1), ts_ms=2)
        r = e.submit(market(B, "buy", 2.0, worst=100.1, client_order_index=2), ts_ms=3)
        return [r.order, *r.trades, *e.on_trade(M, px(99.0), sz(1.0), False, ts_ms=4)]

    first, second = run(), run()
    assert first == second
    order, *trades = first
    assert order.order_index == 1_001
    assert [t.trade_id for t in trades] == [50, 51]
    assert trades[0].tx_hash == tx_hash_for(50)
    assert all(len(t.tx_hash) == 80 and int(t.tx_hash, 16) >= 0 for t in trades)
    assert trades[0].tx_hash != trades[1].tx_hash


def test_take_order_updates_reports_each_changed_order_once() -> None:
    e = engine()
    standard_book(e)
    resting = e.submit(limit(A, "sell", 1.0, 99.99), ts_ms=2).order
    e.take_order_updates()
    taker = e.submit(market(B, "buy", 0.5, worst=99.99), ts_ms=3).order
    assert e.take_order_updates() == [taker, resting]
    assert e.take_order_updates() == []


def test_resting_reduce_only_fills_only_what_is_left_of_the_position() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    e.submit(market(A, "buy", 1.0, worst=101.0), ts_ms=2)
    stop = e.submit(limit(A, "sell", 1.0, 99.99, reduce_only=True), ts_ms=3).order
    assert stop is not None and stop.status == OrderStatus.OPEN
    e.submit(market(A, "sell", 0.6, worst=99.0), ts_ms=4)  # the position shrinks to 0.4 under it
    assert stop.status == OrderStatus.OPEN
    result = e.submit(market(B, "buy", 1.0, worst=100.1), ts_ms=5)
    assert [(t.ask_account_id, t.price, t.size) for t in result.trades] == [
        (A, px(99.99), sz(0.4)),
        (-1, px(100.1), sz(0.6)),  # 100.0 was taken by A's first buy
    ]
    assert stop.filled_base_amount == sz(0.4) and stop.status == OrderStatus.CANCELED_REDUCE_ONLY
    assert e.account(A).positions[M].size == 0


def test_print_never_makes_a_reduce_only_order_increase_the_position() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    e.submit(market(A, "sell", 0.5, worst=99.0), ts_ms=2)  # short 0.5
    cover = e.submit(limit(A, "buy", 0.5, 99.5, reduce_only=True), ts_ms=3).order
    assert cover is not None
    e.submit(limit(A, "buy", 0.3, 99.95, TimeInForce.IOC), ts_ms=4)  # nothing at 99.95: no change
    trades = e.on_trade(M, px(99.0), sz(5.0), taker_is_buyer=False, ts_ms=5)
    assert [(t.price, t.size) for t in trades] == [(px(99.5), sz(0.5))]
    assert e.account(A).positions[M].size == 0 and cover.status == OrderStatus.FILLED


ETH = MarketSpec(
    market_id=0, symbol="ETH", size_decimals=4, price_decimals=2, min_base_amount=0.005, min_quote_amount=10.0
)


def test_views_and_margin_span_markets() -> None:
    e = MatchingEngine({M: NO_FEES, 0: ETH}, default_collateral=1_000.0, max_leverage=2.0)  # 2000 of notional
    standard_book(e)
    e.on_book(0, [(300_000, 10_000)], [(300_100, 10_000)], ts_ms=1)  # ETH 3000.00 / 3001.00, 1.0 each
    eth = e.submit(
        OrderRequest(
            account_index=A,
            market_id=0,
            client_order_index=1,
            base_amount=5_000,
            price=301_000,
            is_ask=False,
            order_type=OrderType.MARKET,
            time_in_force=TimeInForce.IOC,
        ),
        ts_ms=2,
    )
    assert [(t.price, t.size) for t in eth.trades] == [(300_100, 5_000)]  # long 0.5 ETH, worth 1500.25 at mid
    assert e.recent_trades(0) == eth.trades and e.recent_trades(M) == []
    # 5.1 SOL at 99 (504.9) plus 1500.25 of ETH exceeds 2000; 4.9 SOL (485.1) fits
    assert e.submit(limit(A, "buy", 5.1, 99.0), ts_ms=3).code == codes.INSUFFICIENT_MARGIN
    assert e.submit(limit(A, "buy", 4.9, 99.0), ts_ms=3).code == codes.OK
    sol = e.submit(market(A, "sell", 0.2, worst=99.0), ts_ms=4)  # the other side: short 0.2 (about 20)
    assert sol.code == codes.OK
    assert e.account_trades(A, market_id=0) == eth.trades
    assert e.account_trades(A, market_id=M) == sol.trades
    assert len(e.account_trades(A)) == 2
    e.submit(
        OrderRequest(
            account_index=A,
            market_id=0,
            client_order_index=2,
            base_amount=1_000,
            price=290_000,
            is_ask=False,
            time_in_force=TimeInForce.POST_ONLY,
        ),
        ts_ms=5,
    )
    assert [o.market_id for o in e.active_orders(A)] == [M, 0]
    canceled = e.cancel_all(A, ts_ms=6, market_id=0)
    assert [o.market_id for o in canceled] == [0]
    assert [o.market_id for o in e.active_orders(A)] == [M]
    with pytest.raises(ValueError, match="unknown market"):
        e.book(7)


def test_expiry_still_works_after_many_far_dated_orders_come_and_go() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    far = 28 * 24 * 3_600_000
    keep = e.submit(limit(B, "sell", 1.0, 101.0, order_expiry_ms=5_000), ts_ms=2).order
    keep_far = e.submit(limit(B, "sell", 1.0, 101.5, order_expiry_ms=far), ts_ms=2).order
    for i in range(3_000):  # many orders placed and canceled leave stale expiry entries behind
        placed = e.submit(limit(A, "buy", 1.0, 99.0, order_expiry_ms=far), ts_ms=3 + i).order
        assert placed is not None
        assert e.cancel(A, M, placed.order_index, ts_ms=3 + i)[0] == codes.OK
    assert keep is not None and keep_far is not None
    assert e.expire(4_999) == []
    assert e.expire(5_000) == [keep]
    assert keep_far.status == OrderStatus.OPEN
    assert e.expire(far) == [keep_far]


def test_book_whose_best_ask_equals_our_bid_fills_it() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    order = e.submit(limit(A, "buy", 1.0, 99.95, TimeInForce.POST_ONLY), ts_ms=2).order
    assert order is not None
    trades = e.on_book(M, [(px(99.9), sz(1.0))], [(px(99.95), sz(0.25)), (px(100.0), sz(1.0))], ts_ms=3)
    assert [(t.price, t.size) for t in trades] == [(px(99.95), sz(0.25))]
    assert order.remaining_base_amount == sz(0.75)


def test_terminal_orders_are_forgotten_oldest_first_beyond_the_bound() -> None:
    e = engine(NO_FEES, max_terminal_orders=2)
    standard_book(e)
    resting = e.submit(limit(A, "buy", 1.0, 99.0, client_order_index=900), ts_ms=2).order
    assert resting is not None
    done = []
    for i in range(3):
        order = e.submit(market(A, "buy", 0.1, worst=101.0, client_order_index=901 + i), ts_ms=3).order
        assert order is not None and order.status == OrderStatus.FILLED
        done.append(order)
    assert e.order(done[0].order_index) is None and e.order_by_client_index(A, 901) is None
    assert [e.order(o.order_index) for o in done[1:]] == done[1:]
    assert e.order(resting.order_index) is resting  # open orders are never forgotten
    assert e.order_by_client_index(A, 900) is resting


def test_negative_account_and_post_only_market_orders_are_rejected() -> None:
    e = engine()
    standard_book(e)
    assert e.submit(limit(-1, "buy", 1.0, 99.0), ts_ms=2).code == codes.INVALID_ACCOUNT
    bad = msgspec.structs.replace(market(A, "buy", 1.0, worst=101.0), time_in_force=TimeInForce.POST_ONLY)
    assert e.submit(bad, ts_ms=2).code == codes.INVALID_PARAM
    assert e.accounts() == []


def test_external_book_is_sanitised_sorted_and_merged() -> None:
    e = engine()
    e.on_book(M, [(px(99.0), sz(1.0)), (px(99.5), 0), (px(99.2), sz(1.0)), (px(99.0), sz(0.5))], [], ts_ms=1)
    assert e.book(M) == ([(px(99.2), sz(1.0)), (px(99.0), sz(1.5))], [])
    assert e.mid(M) is None and e.unrealized_pnl(A, M) == 0.0
