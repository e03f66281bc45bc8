"""Property tests of the matching engine: random books, prints, orders and cancels keep its books straight."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venue import codes
from venue.markets import MarketSpec
from venue.sim.engine import MatchingEngine
from venue.sim.types import OrderRequest, OrderStatus, OrderType, SimOrder, SimTrade, TimeInForce

M = 2
SPEC = MarketSpec(
    market_id=M,
    symbol="SOL",
    size_decimals=3,
    price_decimals=3,
    min_base_amount=0.05,
    min_quote_amount=1.0,
    maker_fee=0.0002,
    taker_fee=0.0005,
)
ACCOUNTS = (1, 2, 3)
TICK = 10  # 0.01 in price units: a coarse grid so that prices collide often
CENTRE = 100_000

ticks = st.integers(min_value=-6, max_value=6)
sizes = st.integers(min_value=1, max_value=3_000)


@st.composite
def book_events(draw: st.DrawFn) -> tuple:
    mid = draw(ticks)
    half_spread = draw(st.integers(min_value=1, max_value=4))
    bids = [(CENTRE + (mid - half_spread - i) * TICK, draw(sizes)) for i in range(draw(st.integers(0, 5)))]
    asks = [(CENTRE + (mid + half_spread + i) * TICK, draw(sizes)) for i in range(draw(st.integers(0, 5)))]
    return ("book", bids, asks)


@st.composite
def trade_events(draw: st.DrawFn) -> tuple:
    return ("trade", CENTRE + draw(ticks) * TICK, draw(sizes), draw(st.booleans()))


@st.composite
def submit_events(draw: st.DrawFn) -> tuple:
    order_type = draw(st.sampled_from([OrderType.LIMIT, OrderType.LIMIT, OrderType.MARKET]))
    tif = TimeInForce.IOC if order_type == OrderType.MARKET else draw(st.sampled_from(list(TimeInForce)))
    expiry = draw(st.sampled_from([0, 0, 1_000, 3_000])) if tif != TimeInForce.IOC else 0
    return (
        "submit",
        draw(st.sampled_from(ACCOUNTS)),
        draw(st.booleans()),
        draw(st.one_of(sizes.map(lambda units: units + 49), st.just(20))),  # sometimes below the minimum
        CENTRE + draw(ticks) * TICK,
        order_type,
        tif,
        draw(st.booleans()) and draw(st.booleans()),  # reduce-only a quarter of the time
        expiry,
    )


events = st.one_of(
    book_events(),
    trade_events(),
    submit_events(),
    submit_events(),
    submit_events(),
    st.tuples(st.just("cancel"), st.sampled_from(ACCOUNTS), st.integers(0, 5)),
    st.tuples(st.just("cancel_all"), st.sampled_from(ACCOUNTS)),
    st.tuples(st.just("expire")),
)


@dataclass
class Ledger:
    """What the test saw come out of the engine, kept independently of the engine's own books."""

    initial_collateral: float
    maker_fills: str = "queue"
    orders: dict[int, SimOrder] = field(default_factory=dict)
    trades: list[SimTrade] = field(default_factory=list)
    limits: dict[int, tuple[bool, int]] = field(default_factory=dict)  # taker order -> (is_ask, price)


def run(engine: MatchingEngine, script: list[tuple], ledger: Ledger) -> None:
    ts = 0
    for step, event in enumerate(script):
        ts += 100 * (step % 7)
        kind = event[0]
        if kind == "book":
            new = engine.on_book(M, event[1], event[2], ts)
            for trade in new:  # crossing fills happen at the resting order's price, at or through the book
                ours = engine.order(trade.ask_id if trade.is_maker_ask else trade.bid_id)
                assert ours is not None and trade.price == ours.price
        elif kind == "trade":
            _, price, size, taker_is_buyer = event
            new = engine.on_trade(M, price, size, taker_is_buyer, ts)
            assert sum(t.size for t in new) <= size
            for trade in new:
                assert trade.is_maker_ask == taker_is_buyer
                if ledger.maker_fills == "through":
                    assert trade.price < price if taker_is_buyer else trade.price > price
                else:  # touch and queue: a print at our price may reach us too
                    assert trade.price <= price if taker_is_buyer else trade.price >= price
        elif kind == "submit":
            _, account, is_ask, base, price, order_type, tif, reduce_only, expiry = event
            request = OrderRequest(
                account_index=account,
                market_id=M,
                client_order_index=step,
                base_amount=base,
                price=price,
                is_ask=is_ask,
                order_type=order_type,
                time_in_force=tif,
                reduce_only=reduce_only,
                order_expiry_ms=ts + expiry if expiry else 0,
            )
            result = engine.submit(request, ts)
            new = result.trades
            if result.order is None:
                assert new == []
            else:
                ledger.orders[result.order.order_index] = result.order
                ledger.limits[result.order.order_index] = (is_ask, price)
                assert result.order.status in OrderStatus.TERMINAL | {OrderStatus.OPEN}
                if tif == TimeInForce.IOC:
                    assert result.order.status != OrderStatus.OPEN
        elif kind == "cancel":
            active = engine.active_orders(event[1])
            if active:
                target = active[event[2] % len(active)]
                code, canceled = engine.cancel(event[1], M, target.order_index, ts)
                if code == codes.OK:
                    assert target.status == OrderStatus.CANCELED
                    assert canceled is target
                else:  # it reached its expiry before the cancel arrived
                    assert code == codes.ORDER_NOT_FOUND and target.status == OrderStatus.CANCELED_EXPIRED
            new = []
        elif kind == "cancel_all":
            assert all(o.status == OrderStatus.CANCELED for o in engine.cancel_all(event[1], ts))
            new = []
        else:
            assert all(o.status == OrderStatus.CANCELED_EXPIRED for o in engine.expire(ts))
            new = []
        ledger.trades.extend(new)
        check_invariants(engine, ledger)


def check_invariants(engine: MatchingEngine, ledger: Ledger) -> None:
    ids = [t.trade_id for t in ledger.trades]
    assert ids == sorted(set(ids))

    filled: dict[int, int] = defaultdict(int)
    quote: dict[int, float] = defaultdict(float)
    signed: dict[int, int] = defaultdict(int)
    cash: dict[int, float] = defaultdict(float)  # sells minus buys, in quote
    fees: dict[int, float] = defaultdict(float)
    for trade in ledger.trades:
        assert trade.ask_account_id != trade.bid_account_id, "an account traded with itself"
        assert trade.size > 0
        notional = SPEC.price_from_int(trade.price) * SPEC.size_from_int(trade.size)
        for order_id, account_id, is_ask, is_maker in (
            (trade.ask_id, trade.ask_account_id, True, trade.is_maker_ask),
            (trade.bid_id, trade.bid_account_id, False, not trade.is_maker_ask),
        ):
            if account_id == -1:
                assert order_id == -1
                continue
            filled[order_id] += trade.size
            quote[order_id] += notional
            signed[account_id] += -trade.size if is_ask else trade.size
            cash[account_id] += notional if is_ask else -notional
            fees[account_id] += trade.maker_fee if is_maker else trade.taker_fee
            if order_id in ledger.limits and not is_maker:  # a taker never trades past its price
                limit_is_ask, limit_price = ledger.limits[order_id]
                assert trade.price >= limit_price if limit_is_ask else trade.price <= limit_price

    for order in ledger.orders.values():
        assert order.remaining_base_amount >= 0
        assert order.filled_base_amount == order.initial_base_amount - order.remaining_base_amount
        assert order.filled_base_amount == filled[order.order_index]
        assert order.filled_quote == pytest.approx(quote[order.order_index], abs=1e-9)
        is_active = order in engine.active_orders(order.account_index)
        assert (order.status == OrderStatus.OPEN) == is_active
        if order.status == OrderStatus.FILLED:
            assert order.remaining_base_amount == 0
        if is_active:
            assert order.remaining_base_amount > 0

    for account in engine.accounts():
        index = account.account_index
        position = account.positions.get(M)
        size = position.size if position else 0
        realized = position.realized_pnl if position else 0.0
        paid = position.fees_paid if position else 0.0
        assert size == signed[index]
        assert [t.trade_id for t in engine.account_trades(index)] == [
            t.trade_id for t in ledger.trades if index in (t.ask_account_id, t.bid_account_id)
        ]
        assert paid == pytest.approx(fees[index], abs=1e-9)
        assert account.collateral == pytest.approx(ledger.initial_collateral + realized - paid, abs=1e-6)
        # PnL conservation: realized PnL plus the open position valued at its entry equals the cash flow
        entry_value = SPEC.size_from_int(size) * (position.avg_entry_price if position else 0.0)
        assert realized == pytest.approx(cash[index] + entry_value, abs=1e-6)
        if size == 0 and position is not None:
            assert position.avg_entry_price == 0.0

    bids, asks = engine.book(M)
    assert all(s > 0 for _, s in bids + asks)
    assert [p for p, _ in bids] == sorted({p for p, _ in bids}, reverse=True)
    assert [p for p, _ in asks] == sorted({p for p, _ in asks})

    # resting orders of different accounts never cross (they would have matched)
    resting = [o for a in engine.accounts() for o in engine.active_orders(a.account_index)]
    for bid in (o for o in resting if not o.is_ask):
        for ask in (o for o in resting if o.is_ask and o.account_index != bid.account_index):
            assert bid.price < ask.price


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    book=book_events(),
    script=st.lists(events, min_size=25, max_size=100),
    maker_fills=st.sampled_from(["queue", "through", "touch"]),
    collateral=st.sampled_from([200.0, 10_000.0]),
)
def test_random_sequences_keep_the_books_consistent(
    book: tuple, script: list[tuple], maker_fills: str, collateral: float
) -> None:
    # "touch" through its older spelling, fill_at_touch=True
    options = {"fill_at_touch": True} if maker_fills == "touch" else {"maker_fills": maker_fills}
    engine = MatchingEngine({M: SPEC}, default_collateral=collateral, max_leverage=5.0, **options)
    run(engine, [book, *script], Ledger(initial_collateral=collateral, maker_fills=maker_fills))


@settings(max_examples=30, deadline=None)
@given(script=st.lists(events, min_size=1, max_size=40))
def test_same_calls_give_the_same_results(script: list[tuple]) -> None:
    first, second = Ledger(initial_collateral=10_000.0), Ledger(initial_collateral=10_000.0)
    run(MatchingEngine({M: SPEC}), script, first)
    run(MatchingEngine({M: SPEC}), script, second)
    assert first.trades == second.trades
    assert list(first.orders.values()) == list(second.orders.values())
