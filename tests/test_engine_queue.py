"""The matching engine's queue-aware maker fills, modify and per-account fees, by hand-computed cases.

Market as in test_engine.py: 3 size and 3 price decimals, so 1.0 = 1000 units, 100.000 = 100000.
The standard book has bids 99.9 x 1, 99.8 x 2, 99.6 x 5 and asks 100.0 x 1, 100.1 x 2, 100.3 x 5.
"""

from __future__ import annotations

import pytest

from tests.test_engine import FEES, NO_FEES, A, B, C, M, engine, limit, market, px, standard_book, sz
from venue import codes
from venue.sim.engine import MatchingEngine
from venue.sim.queue import QUEUE_UNKNOWN, MakerFills
from venue.sim.types import OrderStatus, SimOrder, TimeInForce


def rest(e: MatchingEngine, account: int, side: str, size: float, price: float, ts: int, **kw) -> SimOrder:
    result = e.submit(limit(account, side, size, price, TimeInForce.POST_ONLY, **kw), ts_ms=ts)
    assert result.code == codes.OK and result.trades == [], result.message
    assert result.order is not None and result.order.status == OrderStatus.OPEN
    return result.order


def hit_bids(e: MatchingEngine, price: float, size: float, ts: int) -> list[tuple[int, int, int]]:
    """A sell print; the fills as (account, price, size)."""
    trades = e.on_trade(M, px(price), sz(size), taker_is_buyer=False, ts_ms=ts)
    return [(t.bid_account_id, t.price, t.size) for t in trades]


def test_the_queue_model_is_the_default_and_the_older_ones_stay_available() -> None:
    assert engine().maker_fills is MakerFills.QUEUE
    assert engine(fill_at_touch=True).maker_fills is MakerFills.TOUCH
    assert engine(maker_fills="through").maker_fills is MakerFills.THROUGH
    with pytest.raises(ValueError, match="maker_fills must be one of"):
        engine(maker_fills="fifo")
    with pytest.raises(ValueError, match="contradicts"):
        engine(fill_at_touch=True, maker_fills="queue")


def test_a_bid_joining_a_level_waits_for_the_size_ahead_of_it_to_trade() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    order = rest(e, A, "buy", 1.0, 99.8, ts=2)
    assert order.queue_ahead == sz(2.0)  # the external 2.0 at 99.8 was there first
    assert hit_bids(e, 99.8, 1.5, ts=3) == []
    assert order.queue_ahead == sz(0.5)
    assert hit_bids(e, 99.8, 0.3, ts=4) == []
    assert order.queue_ahead == sz(0.2)
    # 0.2 of this print finishes the queue ahead; the other 0.6 fills us
    assert hit_bids(e, 99.8, 0.8, ts=5) == [(A, px(99.8), sz(0.6))]
    assert order.queue_ahead == 0 and order.remaining_base_amount == sz(0.4)
    assert hit_bids(e, 99.8, 5.0, ts=6) == [(A, px(99.8), sz(0.4))]
    assert order.status == OrderStatus.FILLED
    # a buyer's print at our price does not touch our bid
    other = rest(e, B, "buy", 1.0, 99.8, ts=7)
    assert e.on_trade(M, px(99.8), sz(9.0), taker_is_buyer=True, ts_ms=8) == []
    assert other.queue_ahead == sz(2.0)


def test_an_ask_alone_inside_the_spread_is_first_at_its_price() -> None:
    e = engine(FEES)
    standard_book(e)
    order = rest(e, A, "sell", 1.0, 99.95, ts=2)
    assert order.queue_ahead == 0  # the snapshot shows nobody at 99.95
    trades = e.on_trade(M, px(99.95), sz(0.4), taker_is_buyer=True, ts_ms=3)
    assert [(t.ask_account_id, t.price, t.size, t.is_maker_ask) for t in trades] == [
        (A, px(99.95), sz(0.4), True)
    ]
    assert trades[0].maker_fee == pytest.approx(0.0002 * 99.95 * 0.4) and trades[0].taker_fee == 0.0


def test_our_orders_keep_time_priority_among_themselves_behind_the_external_queue() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    first = rest(e, A, "buy", 1.0, 99.9, ts=2)  # behind the external 1.0
    # the level grows: whoever joined is behind `first`, ahead of the next of ours
    e.on_book(M, [(px(99.9), sz(3.0)), (px(99.8), sz(2.0))], [(px(100.0), sz(1.0))], ts_ms=3)
    assert first.queue_ahead == sz(1.0)
    second = rest(e, B, "buy", 1.0, 99.9, ts=4)
    third = rest(e, A, "buy", 1.0, 99.9, ts=5)
    assert (second.queue_ahead, third.queue_ahead) == (sz(3.0), sz(3.0))
    # 1.0 external ahead, then `first` (1.0), then 2.0 external between it and `second`
    assert hit_bids(e, 99.9, 2.5, ts=6) == [(A, px(99.9), sz(1.0))]
    assert first.status == OrderStatus.FILLED
    assert (second.queue_ahead, third.queue_ahead) == (sz(1.5), sz(1.5))
    assert hit_bids(e, 99.9, 2.0, ts=7) == [(B, px(99.9), sz(0.5))]
    # `third` never fills while `second`, ahead of it, still has size
    assert hit_bids(e, 99.9, 0.5, ts=8) == [(B, px(99.9), sz(0.5))]
    assert hit_bids(e, 99.9, 0.7, ts=9) == [(A, px(99.9), sz(0.7))]
    assert (second.status, third.remaining_base_amount) == (OrderStatus.FILLED, sz(0.3))


def test_a_print_never_fills_more_than_its_size_across_our_orders() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    a = rest(e, A, "buy", 1.0, 99.95, ts=2)
    b = rest(e, B, "buy", 1.0, 99.95, ts=3)
    assert hit_bids(e, 99.95, 1.2, ts=4) == [(A, px(99.95), sz(1.0)), (B, px(99.95), sz(0.2))]
    assert (a.status, b.remaining_base_amount) == (OrderStatus.FILLED, sz(0.8))


def test_a_canceled_order_leaves_the_queue_and_never_fills() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    gone = rest(e, A, "buy", 1.0, 99.9, ts=2, client_order_index=4_001)
    behind = rest(e, B, "buy", 1.0, 99.9, ts=3)
    assert e.cancel(A, M, 4_001, ts_ms=4) == (codes.OK, gone)
    # the print passes the external 1.0 ahead; `behind` is next, not the canceled order
    assert hit_bids(e, 99.9, 1.5, ts=5) == [(B, px(99.9), sz(0.5))]
    assert hit_bids(e, 99.0, 10.0, ts=6) == [(B, px(99.9), sz(0.5))]  # through the level
    e.on_book(M, [(px(99.9), sz(1.0))], [(px(99.9), sz(5.0))], ts_ms=7)  # and a crossing book
    assert behind.status == OrderStatus.FILLED
    assert gone.status == OrderStatus.CANCELED and gone.filled_base_amount == 0
    assert e.account_trades(A) == []


def test_a_shrinking_level_lowers_the_queue_ahead_and_a_growing_one_does_not_move_us_back() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    order = rest(e, A, "buy", 1.0, 99.8, ts=2)
    assert order.queue_ahead == sz(2.0)

    def book(size_at_99_8: float, ts: int) -> None:
        e.on_book(
            M,
            [(px(99.9), sz(1.0)), (px(99.8), sz(size_at_99_8)), (px(99.6), sz(5.0))],
            [(px(100.0), sz(1.0))],
            ts_ms=ts,
        )

    book(0.5, ts=3)  # 1.5 left the level: assumed behind us until the level is smaller than our estimate
    assert order.queue_ahead == sz(0.5)
    book(4.0, ts=4)
    assert order.queue_ahead == sz(0.5)
    assert hit_bids(e, 99.8, 0.7, ts=5) == [(A, px(99.8), sz(0.2))]
    # the level gone from a snapshot that still shows deeper bids: nobody is left ahead
    later = rest(e, B, "buy", 1.0, 99.8, ts=6)
    assert later.queue_ahead == sz(4.0)
    e.on_book(M, [(px(99.9), sz(1.0)), (px(99.6), sz(5.0))], [(px(100.0), sz(1.0))], ts_ms=7)
    assert later.queue_ahead == 0


def test_a_price_beyond_the_snapshot_has_an_unknown_queue_until_a_snapshot_shows_it() -> None:
    e = engine(NO_FEES)
    standard_book(e)  # the deepest bid shown is 99.6
    deep = rest(e, A, "buy", 1.0, 99.5, ts=2)
    assert deep.queue_ahead == QUEUE_UNKNOWN
    assert hit_bids(e, 99.5, 5.0, ts=3) == []  # a print at a price whose queue we never saw
    e.on_book(M, [(px(99.6), sz(5.0))], [(px(100.0), sz(1.0))], ts_ms=4)  # still beyond
    assert deep.queue_ahead == QUEUE_UNKNOWN
    e.on_book(M, [(px(99.6), sz(5.0)), (px(99.5), sz(3.0))], [(px(100.0), sz(1.0))], ts_ms=5)
    assert deep.queue_ahead == sz(3.0)  # everyone shown there counts as ahead of us
    assert hit_bids(e, 99.5, 3.5, ts=6) == [(A, px(99.5), sz(0.5))]
    # a print through an unknown queue's price fills it like any other
    deeper = rest(e, B, "buy", 1.0, 99.0, ts=7)
    assert deeper.queue_ahead == QUEUE_UNKNOWN
    assert hit_bids(e, 98.9, 0.4, ts=8) == [(A, px(99.5), sz(0.4))]  # the print's size ran out
    assert hit_bids(e, 98.9, 2.0, ts=9) == [(A, px(99.5), sz(0.1)), (B, px(99.0), sz(1.0))]


def test_a_print_through_our_price_fills_us_whatever_the_queue_and_puts_the_rest_in_front() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    order = rest(e, A, "buy", 3.0, 99.8, ts=2)
    assert order.queue_ahead == sz(2.0)
    assert hit_bids(e, 99.7, 1.0, ts=3) == [(A, px(99.8), sz(1.0))]  # the print's whole size
    assert order.queue_ahead == 0  # the real level was traded through: nothing left ahead
    assert hit_bids(e, 99.8, 0.5, ts=4) == [(A, px(99.8), sz(0.5))]


def test_a_crossing_book_fills_us_whatever_the_queue() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    order = rest(e, A, "buy", 1.0, 99.9, ts=2)
    assert order.queue_ahead == sz(1.0)
    trades = e.on_book(M, [(px(99.8), sz(1.0))], [(px(99.9), sz(0.4)), (px(100.0), sz(1.0))], ts_ms=3)
    assert [(t.bid_account_id, t.price, t.size) for t in trades] == [(A, px(99.9), sz(0.4))]


def test_a_simulator_taker_trades_the_external_queue_ahead_before_our_order() -> None:
    e = engine(FEES)
    standard_book(e)
    maker = rest(e, A, "sell", 1.0, 100.0, ts=2, client_order_index=11)
    assert maker.queue_ahead == sz(1.0)
    result = e.submit(market(B, "buy", 2.5, worst=100.1, client_order_index=22), ts_ms=3)
    assert [(t.ask_account_id, t.price, t.size) for t in result.trades] == [
        (-1, px(100.0), sz(1.0)),  # the external 1.0 that was at 100.0 before A
        (A, px(100.0), sz(1.0)),
        (-1, px(100.1), sz(0.5)),
    ]
    assert result.trades[1].maker_fee == pytest.approx(0.0002 * 100.0)
    assert maker.status == OrderStatus.FILLED
    # the external size behind our orders trades after them
    standard_book(e, ts=4)
    again = rest(e, A, "sell", 0.5, 100.1, ts=5)
    e.on_book(M, [(px(99.9), sz(1.0))], [(px(100.1), sz(3.0))], ts_ms=6)  # more joins behind A
    assert again.queue_ahead == sz(2.0)
    taken = e.submit(market(C, "buy", 3.0, worst=100.1), ts_ms=7)
    assert [(t.ask_account_id, t.size) for t in taken.trades] == [(-1, sz(2.0)), (A, sz(0.5)), (-1, sz(0.5))]
    assert e.book(M)[1] == [(px(100.1), sz(0.5))]


def test_modify_a_size_decrease_at_the_same_price_keeps_the_place() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    order = rest(e, A, "buy", 2.0, 99.9, ts=2, client_order_index=7)
    later = rest(e, B, "buy", 1.0, 99.9, ts=3)
    result = e.modify(A, 7, px(99.9), sz(1.5), ts_ms=4)  # by client order index
    assert result.code == codes.OK and result.order is order and result.trades == []
    assert (order.remaining_base_amount, order.initial_base_amount, order.queue_ahead) == (
        sz(1.5),
        sz(1.5),
        sz(1.0),
    )
    assert order.updated_at_ms == 4
    assert hit_bids(e, 99.9, 2.0, ts=5) == [(A, px(99.9), sz(1.0))]  # still ahead of `later`
    assert later.remaining_base_amount == sz(1.0)


def test_modify_a_new_price_or_a_larger_size_goes_to_the_back() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    moved = rest(e, A, "buy", 1.0, 99.9, ts=2)
    rest(e, B, "buy", 1.0, 99.8, ts=3)
    result = e.modify(A, moved.order_index, px(99.8), sz(1.0), ts_ms=4)
    assert result.code == codes.OK and moved.price == px(99.8)
    assert moved.queue_ahead == sz(2.0)  # behind the external 2.0 and behind B's order at 99.8
    assert hit_bids(e, 99.8, 3.5, ts=5) == [(B, px(99.8), sz(1.0)), (A, px(99.8), sz(0.5))]

    e2 = engine(NO_FEES)
    standard_book(e2)
    grown = rest(e2, A, "buy", 1.0, 99.9, ts=2)
    ahead_now = rest(e2, B, "buy", 1.0, 99.9, ts=3)
    assert e2.modify(A, grown.order_index, px(99.9), sz(1.2), ts_ms=4).code == codes.OK
    assert grown.queue_ahead == sz(1.0) and grown.remaining_base_amount == sz(1.2)
    assert hit_bids(e2, 99.9, 2.5, ts=5) == [(B, px(99.9), sz(1.0)), (A, px(99.9), sz(0.5))]
    assert ahead_now.status == OrderStatus.FILLED


def test_modify_size_is_the_new_remaining_after_partial_fills() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    order = rest(e, A, "buy", 1.0, 99.95, ts=2)
    assert hit_bids(e, 99.95, 0.4, ts=3) == [(A, px(99.95), sz(0.4))]
    assert e.modify(A, order.order_index, px(99.95), sz(2.0), ts_ms=4).code == codes.OK
    assert (order.filled_base_amount, order.remaining_base_amount, order.initial_base_amount) == (
        sz(0.4),
        sz(2.0),
        sz(2.4),
    )


def test_modify_to_a_crossing_price_takes_then_rests_and_post_only_is_refused() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    gtt = e.submit(limit(A, "buy", 2.0, 99.0), ts_ms=2).order
    assert gtt is not None
    result = e.modify(A, gtt.order_index, px(100.0), sz(2.0), ts_ms=3)
    assert result.code == codes.OK
    assert [(t.price, t.size, t.bid_account_id, t.is_maker_ask) for t in result.trades] == [
        (px(100.0), sz(1.0), A, True)
    ]
    assert gtt.status == OrderStatus.OPEN and gtt.remaining_base_amount == sz(1.0)
    assert e.book(M)[0][0] == (px(100.0), sz(1.0))

    post = rest(e, B, "sell", 1.0, 100.5, ts=4)
    refused = e.modify(B, post.order_index, px(100.0), sz(1.0), ts_ms=5)  # A's bid is at 100.0
    assert refused.code == codes.POST_ONLY_WOULD_CROSS and refused.order is None
    assert (post.price, post.remaining_base_amount, post.status) == (px(100.5), sz(1.0), OrderStatus.OPEN)

    filled = e.modify(A, gtt.order_index, px(100.1), sz(1.0), ts_ms=6)
    assert [(t.price, t.size) for t in filled.trades] == [(px(100.1), sz(1.0))]
    assert gtt.status == OrderStatus.FILLED and e.active_orders(A) == []


def test_modify_of_an_order_the_account_does_not_have_open_is_order_not_found() -> None:
    e = engine(NO_FEES)
    standard_book(e)
    order = rest(e, A, "buy", 1.0, 99.5, ts=2)
    for account, index, market_id in (
        (A, 123, None),
        (B, order.order_index, None),
        (A, order.order_index, M + 1),
    ):
        result = e.modify(account, index, px(99.4), sz(1.0), ts_ms=3, market_id=market_id)
        assert result.code == codes.ORDER_NOT_FOUND and result.order is None
        assert result.message.startswith(codes.message_for(codes.ORDER_NOT_FOUND))
    e.cancel(A, M, order.order_index, ts_ms=4)
    assert e.modify(A, order.order_index, px(99.4), sz(1.0), ts_ms=5).code == codes.ORDER_NOT_FOUND
    assert order.price == px(99.5) and order.status == OrderStatus.CANCELED
    expiring = rest(e, A, "buy", 1.0, 99.5, ts=6, order_expiry_ms=100)
    assert e.modify(A, expiring.order_index, px(99.4), sz(1.0), ts_ms=100).code == codes.ORDER_NOT_FOUND
    assert expiring.status == OrderStatus.CANCELED_EXPIRED


def test_modify_checks_the_new_values_like_a_create() -> None:
    e = engine(NO_FEES, default_collateral=100.0, max_leverage=10.0)  # 1000 of notional
    standard_book(e)
    order = rest(e, A, "buy", 5.0, 99.0, ts=2)
    assert e.modify(A, order.order_index, px(99.0), sz(0.01), ts_ms=3).code == codes.INVALID_BASE_AMOUNT
    assert e.modify(A, order.order_index, 0, sz(1.0), ts_ms=3).code == codes.INVALID_PRICE
    assert e.modify(A, order.order_index, px(99.0), sz(0.09), ts_ms=3).code == codes.NOTIONAL_TOO_SMALL
    # its own 5.0 does not count twice: 10.0 at 99 fits 1000, 10.2 does not
    assert e.modify(A, order.order_index, px(99.0), sz(10.2), ts_ms=3).code == codes.INSUFFICIENT_MARGIN
    assert order.remaining_base_amount == sz(5.0)
    assert e.modify(A, order.order_index, px(99.0), sz(10.0), ts_ms=3).code == codes.OK
    # a reduce-only order is clipped to the position
    e.submit(market(B, "buy", 0.5, worst=101.0), ts_ms=4)
    cover = e.submit(limit(B, "sell", 0.5, 101.0, reduce_only=True), ts_ms=5).order
    assert cover is not None
    assert e.modify(B, cover.order_index, px(101.5), sz(3.0), ts_ms=6).code == codes.OK
    assert cover.remaining_base_amount == sz(0.5)


def test_account_fees_override_the_markets_for_that_account_only() -> None:
    e = engine(FEES)
    standard_book(e)
    e.set_account_fees(A, maker_fee=0.0, taker_fee=0.0)
    e.set_account_fees(B, maker_fee=0.00002, taker_fee=0.0003)
    assert e.account_fees(A, M) == (0.0, 0.0) and e.account_fees(C, M) == (0.0002, 0.0005)
    ask = rest(e, B, "sell", 1.0, 99.95, ts=2)
    result = e.submit(market(A, "buy", 1.5, worst=100.0), ts_ms=3)
    assert [(t.ask_account_id, t.maker_fee, t.taker_fee) for t in result.trades] == [
        (B, pytest.approx(0.00002 * 99.95), 0.0),
        (-1, 0.0, 0.0),
    ]
    assert e.account(A).collateral == pytest.approx(10_000.0)
    assert ask.status == OrderStatus.FILLED
    taken = e.submit(market(C, "buy", 0.5, worst=100.1), ts_ms=4)
    assert taken.trades[0].taker_fee == pytest.approx(0.0005 * 100.0 * 0.5)
    e.set_account_fees(A, None, None)  # back to the market's
    again = e.submit(market(A, "buy", 0.5, worst=100.1), ts_ms=5)
    assert again.trades[0].taker_fee == pytest.approx(0.0005 * 100.1 * 0.5)
    for maker, taker in ((float("nan"), 0.0), (0.0, 2.0), (None, 0.0005)):
        with pytest.raises(ValueError, match="account fees"):
            e.set_account_fees(A, maker, taker)


def test_the_same_events_give_the_same_fills() -> None:
    def run() -> list:
        e = engine(FEES, order_index_start=10, trade_id_start=1)
        standard_book(e)
        rest(e, A, "buy", 1.0, 99.9, ts=2, client_order_index=1)
        rest(e, B, "buy", 1.0, 99.9, ts=3, client_order_index=2)
        out = [*e.on_trade(M, px(99.9), sz(1.4), False, ts_ms=4)]
        e.on_book(M, [(px(99.9), sz(0.2))], [(px(100.0), sz(1.0))], ts_ms=5)
        e.modify(B, 2, px(99.9), sz(0.8), ts_ms=6)
        out += e.on_trade(M, px(99.9), sz(1.0), False, ts_ms=7)
        return out + [o.queue_ahead for o in e.active_orders(A) + e.active_orders(B)]

    first = run()
    assert first == run()
    assert [(t.bid_account_id, t.size) for t in first[:3]] == [(A, sz(0.4)), (A, sz(0.6)), (B, sz(0.4))]
