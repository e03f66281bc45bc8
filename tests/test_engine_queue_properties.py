"""Property tests of the engine's queue model: random books, prints, quotes, modifies, cancels and takers.

The test keeps its own account of every resting order's queue, from what the engine shows
publicly (the snapshots it was given, the prints, its merged book and its trades), and checks:

- an order joins behind the external size left at its price (unknown where no snapshot shows
  its price), and a snapshot showing less than that estimate lowers it to what it shows;
- a print at an order's price fills it only with what is left after the size ahead of it: its
  print fills since it joined never exceed the volume traded at its price since then minus the
  least external size the snapshots showed at that price (nothing while no snapshot has shown it);
- orders at one price fill in time priority (a modify that changes the price or grows the size
  goes to the back, a smaller size keeps the place);
- a canceled order never fills again; no print fills more than its size;
- the same events give the same fills and the same queue positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venue import codes
from venue.markets import MarketSpec
from venue.sim.engine import MatchingEngine
from venue.sim.queue import QUEUE_UNKNOWN
from venue.sim.types import OrderRequest, OrderStatus, OrderType, SimTrade, TimeInForce

M = 2
SPEC = MarketSpec(
    market_id=M, symbol="SOL", size_decimals=3, price_decimals=3, min_base_amount=0.05, min_quote_amount=1.0
)
MAKERS = (1, 2)
TAKER = 3
TICK = 10
CENTRE = 100_000
INF = math.inf

ticks = st.integers(min_value=-5, max_value=5)
sizes = st.integers(min_value=50, max_value=3_000)


@st.composite
def book_events(draw: st.DrawFn) -> tuple:
    mid = draw(ticks)
    half = draw(st.integers(min_value=1, max_value=3))
    bids = [(CENTRE + (mid - half - i) * TICK, draw(sizes)) for i in range(draw(st.integers(0, 4)))]
    asks = [(CENTRE + (mid + half + i) * TICK, draw(sizes)) for i in range(draw(st.integers(0, 4)))]
    return ("book", bids, asks)


events = st.one_of(
    book_events(),
    st.tuples(st.just("print"), ticks, sizes, st.booleans()),
    st.tuples(st.just("print_at_order"), st.integers(0, 9), sizes),  # prints where our orders wait
    st.tuples(st.just("print_at_order"), st.integers(0, 9), sizes),
    st.tuples(st.just("quote"), st.sampled_from(MAKERS), st.booleans(), ticks, sizes),
    st.tuples(st.just("quote"), st.sampled_from(MAKERS), st.booleans(), ticks, sizes),
    st.tuples(st.just("cancel"), st.integers(0, 9)),
    st.tuples(st.just("modify"), st.integers(0, 9), st.integers(-1, 1), st.integers(-400, 400)),
    st.tuples(st.just("take"), st.booleans(), st.integers(0, 3), sizes),
)


@dataclass
class Queue:
    """The test's own view of one resting order's place."""

    priority: int
    least_ahead: float  # the least external size any snapshot showed ahead of it since it joined
    volume: int = 0  # external volume traded at its price since it joined (prints and takers)
    print_fills: int = 0


@dataclass
class World:
    engine: MatchingEngine
    last_book: dict[bool, dict[int, int]] = field(default_factory=lambda: {False: {}, True: {}})
    queues: dict[int, Queue] = field(default_factory=dict)
    canceled: set[int] = field(default_factory=set)
    trades: list[SimTrade] = field(default_factory=list)
    next_priority: int = 0

    def shows(self, is_ask: bool, price: int) -> bool:
        levels = self.last_book[is_ask]
        if not levels:
            return False
        worst = max(levels) if is_ask else min(levels)
        return price <= worst if is_ask else price >= worst

    def join(self, order_index: int, is_ask: bool, price: int) -> None:
        if self.shows(is_ask, price):
            merged = dict(self.engine.book(M, depth=1_000)[1 if is_ask else 0])
            ours = sum(
                o.remaining_base_amount for o in self.open_orders() if (o.is_ask, o.price) == (is_ask, price)
            )
            ahead: float = merged.get(price, 0) - ours  # the external size left there (the book is merged)
        else:
            ahead = INF
        order = self.engine.order(order_index)
        assert order is not None and order.queue_ahead == (QUEUE_UNKNOWN if ahead == INF else ahead)
        self.next_priority += 1
        self.queues[order_index] = Queue(priority=self.next_priority, least_ahead=ahead)

    def open_orders(self) -> list:
        return sorted((o for a in MAKERS for o in self.engine.active_orders(a)), key=lambda o: o.order_index)


def check_fifo(world: World, before: dict[int, tuple], fills: dict[int, int]) -> None:
    """Every order that filled had no order ahead of it at its price still open afterwards."""
    for order_index in fills:
        is_ask, price, priority = before[order_index]
        for other, (o_is_ask, o_price, o_priority) in before.items():
            if (o_is_ask, o_price) == (is_ask, price) and o_priority < priority:
                ahead = world.engine.order(other)
                assert ahead is None or ahead.status != OrderStatus.OPEN, (
                    f"order {order_index} filled while {other}, ahead of it at {price}, is still open"
                )


def run(world: World, script: list[tuple]) -> None:
    engine = world.engine
    ts = 0
    for step, event in enumerate(script):
        ts += 10
        if event[0] == "print_at_order":
            orders = world.open_orders()
            if not orders:
                continue
            target = orders[event[1] % len(orders)]
            event = ("print", (target.price - CENTRE) // TICK, event[2], target.is_ask)
        before = {
            o.order_index: (o.is_ask, o.price, world.queues[o.order_index].priority)
            for o in world.open_orders()
        }
        kind = event[0]
        new: list[SimTrade] = []
        if kind == "book":
            _, bids, asks = event
            new = engine.on_book(M, bids, asks, ts)
            world.last_book = {False: dict(bids), True: dict(asks)}
            for o in world.open_orders():
                if world.shows(o.is_ask, o.price):
                    shown = world.last_book[o.is_ask].get(o.price, 0)
                    queue = world.queues[o.order_index]
                    queue.least_ahead = min(queue.least_ahead, shown)
                    # a level smaller than the estimate lowers it; an unknown queue becomes known
                    assert 0 <= o.queue_ahead <= shown
        elif kind == "print":
            _, tick, size, taker_is_buyer = event
            price = CENTRE + tick * TICK
            new = engine.on_trade(M, price, size, taker_is_buyer, ts)
            assert sum(t.size for t in new) <= size
            fills: dict[int, int] = {}
            for t in new:
                order_index = t.ask_id if taker_is_buyer else t.bid_id
                fills[order_index] = fills.get(order_index, 0) + t.size
            check_fifo(world, before, fills)
            # what reached the print's own price: its size less what filled our orders it went through
            at_price = size - sum(n for i, n in fills.items() if before[i][1] != price)
            for order_index, (is_ask, our_price, _) in before.items():
                if is_ask != taker_is_buyer:
                    continue
                queue = world.queues[order_index]
                if our_price == price:
                    queue.volume += at_price
                    queue.print_fills += fills.get(order_index, 0)
                    bound = 0 if queue.least_ahead == INF else max(0, queue.volume - queue.least_ahead)
                    assert queue.print_fills <= bound, (
                        f"order {order_index} got {queue.print_fills} from prints at its price with "
                        f"{queue.volume} traded there and at least {queue.least_ahead} ahead of it"
                    )
                elif (our_price < price) if is_ask else (our_price > price):
                    queue.least_ahead = 0  # the print went through its price: nothing is left ahead
        elif kind == "quote":
            _, account, is_ask, tick, size = event
            result = engine.submit(
                OrderRequest(
                    account_index=account,
                    market_id=M,
                    client_order_index=step,
                    base_amount=size,
                    price=CENTRE + tick * TICK,
                    is_ask=is_ask,
                    time_in_force=TimeInForce.POST_ONLY,
                ),
                ts,
            )
            assert result.trades == []
            if result.order is not None:
                world.join(result.order.order_index, is_ask, result.order.price)
        elif kind in ("cancel", "modify"):
            orders = world.open_orders()
            if orders:
                target = orders[event[1] % len(orders)]
                if kind == "cancel":
                    assert engine.cancel(target.account_index, M, target.order_index, ts) == (
                        codes.OK,
                        target,
                    )
                    world.canceled.add(target.order_index)
                else:
                    old_price, old_size = target.price, target.remaining_base_amount
                    new_price = old_price + event[2] * TICK
                    new_size = max(1, old_size + event[3])
                    result = engine.modify(target.account_index, target.order_index, new_price, new_size, ts)
                    assert result.trades == []  # post-only: refused rather than crossing
                    if result.code == codes.OK:
                        assert (target.price, target.remaining_base_amount) == (new_price, new_size)
                        if new_price != old_price or new_size > old_size:
                            world.join(target.order_index, target.is_ask, new_price)
                    else:
                        assert (target.price, target.remaining_base_amount) == (old_price, old_size)
        else:
            _, is_ask, reach, size = event
            mid = engine.mid(M)
            if mid is not None:
                worst = round(mid * 1000) + (-1 if is_ask else 1) * reach * TICK
                result = engine.submit(
                    OrderRequest(
                        account_index=TAKER,
                        market_id=M,
                        client_order_index=step,
                        base_amount=size,
                        price=worst,
                        is_ask=is_ask,
                        order_type=OrderType.MARKET,
                        time_in_force=TimeInForce.IOC,
                    ),
                    ts,
                )
                new = result.trades
                fills = {}
                for t in new:
                    maker_id = t.bid_id if is_ask else t.ask_id
                    if maker_id != -1:
                        fills[maker_id] = fills.get(maker_id, 0) + t.size
                check_fifo(world, before, fills)
                for t in new:  # the external size the taker traded is gone from the queues at its price
                    if (t.bid_id if is_ask else t.ask_id) == -1:
                        for order_index, (o_is_ask, o_price, _) in before.items():
                            if o_is_ask != is_ask and o_price == t.price:
                                world.queues[order_index].volume += t.size
        for t in new:
            assert t.ask_id not in world.canceled and t.bid_id not in world.canceled, (
                "a canceled order filled"
            )
        world.trades.extend(new)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=book_events(), script=st.lists(events, min_size=20, max_size=80))
def test_queue_rules_hold_for_random_sequences(book: tuple, script: list[tuple]) -> None:
    world = World(MatchingEngine({M: SPEC}, default_collateral=1_000_000.0))
    run(world, [book, *script])


@settings(max_examples=30, deadline=None)
@given(book=book_events(), script=st.lists(events, min_size=1, max_size=50))
def test_the_same_events_give_the_same_fills_and_queues(book: tuple, script: list[tuple]) -> None:
    first, second = (World(MatchingEngine({M: SPEC}, default_collateral=1_000_000.0)) for _ in range(2))
    run(first, [book, *script])
    run(second, [book, *script])
    assert first.trades == second.trades
    assert [(o.order_index, o.queue_ahead, o.remaining_base_amount) for o in first.open_orders()] == [
        (o.order_index, o.queue_ahead, o.remaining_base_amount) for o in second.open_orders()
    ]
