"""Replay of a quoting strategy (the market maker) through the simulator's matching engine.

    python -m strategies.replay --strategy market_maker [--recording PATH | --candles PATH | --synthetic HOURS]
        [--tier standard|premium] [--market sol|btc] [--set NAME=JSON] [--json]

Pure: no Ray, no sockets, no wall clock; the same input gives the same result. A market source
(venue.sim.sources: a Binance L2 recording, 1-minute candles walked intra-minute, the synthetic
market) yields books and prints in event time. Each event goes to the engine first, as the
external market (resting orders of ours it reaches fill as makers, by the engine's queue model),
then to the strategy: `on_book` with the engine's best bid and ask and their sizes (our own
orders included, as the venue shows them), `on_trade` for a print.

The strategy's Place / Modify / Cancel become engine submit / modify / cancel, each taking effect
after the account tier's speed bump (venue.sim.tiers: standard 200 ms for orders that rest,
modifies and cancels, 300 ms for orders that may take; premium 0 and 150 ms; a GTT order or
modify that would cross the book when sent counts as a taker, a post-only one never, as the paper
venue's sequencing judges it). Pending transactions apply, in order of effect time, when event
time reaches them, before the event at that time. The tier's transaction limit is
checked when a transaction is sent (standard: 60 a rolling minute), as the venue does; a refused
one is rejected at once with TOO_MANY_REQUESTS. The engine's answers go back to the strategy:
on_accepted, then any fills (on_fill with the engine's fee, maker flag and the order's remaining
size), then on_canceled for an IOC's unfilled rest; on_rejected with the engine's code for a
refusal (post-only would cross: rejected, as the engine says) and for a Cancel or Modify of an
order the engine no longer has. The tier's fees are the account's fees in the engine.

What is recorded for the report (strategies.replay_maker_report): every fill with the external
mid just before the event that caused it, the external mid after every book (adverse selection),
the time both sides had a quote resting in the engine (uptime), every Cancel and Modify sent
(cancel discipline), every transaction sent, rejections by code, and how far from the mid our
quotes rest.
"""

from __future__ import annotations

import heapq
import itertools
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from strategies.quoting import Cancel, Modify, Place, QuoteAction, QuotingStrategy, Side
from strategies.registry import DEFAULT_PRESET, build_quoting, params_dict
from venue import codes
from venue.markets import MarketSpec, Rounding
from venue.sim.engine import MatchingEngine
from venue.sim.tiers import AccountTiers, Tier, tier_named
from venue.sim.types import (
    OrderRequest,
    OrderStatus,
    OrderType,
    SimOrder,
    SimTrade,
    SourceBook,
    SourceEvent,
    SourceTrade,
    SubmitResult,
    TimeInForce,
)

ACCOUNT = 1
NS_PER_MS = 1_000_000
REPLAY_TIERS = ("standard", "premium")  # the tiers a maker is replayed on (paper has no speed bump)
_TIF = {"ioc": TimeInForce.IOC, "gtt": TimeInForce.GTT, "post_only": TimeInForce.POST_ONLY}


@dataclass(slots=True, frozen=True)
class FillRecord:
    ts_ms: int
    coi: int
    role: str  # quote | hedge | unknown (an order the driver never saw placed)
    side: str
    price: float
    size: float
    fee: float  # quote, > 0 paid
    is_maker: bool
    mid: float | None  # the external mid just before the event that filled us
    inventory: float  # ours after this fill (the engine's position)


@dataclass
class MakerReplayResult:
    strategy: str
    preset: str
    tier: str
    market: str
    source: str
    start_ms: int = 0
    end_ms: int = 0
    books: int = 0
    prints: int = 0
    fills: list[FillRecord] = field(default_factory=list)
    mid_ts: array = field(default_factory=lambda: array("q"))  # after every book, the external mid
    mid_px: array = field(default_factory=lambda: array("d"))
    both_quoted_ms: int = 0
    cancel_times: list[int] = field(default_factory=list)  # Cancel and Modify sent (event ms)
    tx_times: list[int] = field(default_factory=list)  # every transaction sent
    sent: Counter[str] = field(default_factory=Counter)  # place / modify / cancel
    rejections: Counter[int] = field(default_factory=Counter)  # by code
    max_quote_distance_entry_bps: float = 0.0  # a quote's price vs the mid when it took effect
    max_quote_distance_resting_bps: float = 0.0  # any quote of ours resting, vs each book's mid
    pending_at_end: int = 0
    orphan_orders: int = 0  # resting in the engine at the end, unknown to the strategy
    engine_inventory: float = 0.0
    strategy_status: dict[str, Any] = field(default_factory=dict)
    source_counters: dict[str, int] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


class MakerDriver:
    """One quoting strategy, one engine, one account; see the module docstring."""

    def __init__(self, strategy: QuotingStrategy, market: MarketSpec, tier: Tier, result: MakerReplayResult) -> None:
        self.strategy = strategy
        self.market = market
        self.tier = tier
        self.r = result
        self.engine = MatchingEngine({market.market_id: market}, default_collateral=1_000_000.0)
        if tier.maker_fee is not None and tier.taker_fee is not None:
            self.engine.set_account_fees(ACCOUNT, tier.maker_fee, tier.taker_fee)
        self.tiers = AccountTiers(tier.name)
        self._pending: list[tuple[int, int, QuoteAction | None, int]] = []  # (effect ms, seq, action, code)
        self._seq = itertools.count()
        self._roles: dict[int, str] = {}  # coi -> role of the Place
        self._clock = 0  # event time of the last engine operation
        self._both_quoted = False

    # ------------------------------------------------------------------------ market events
    def feed(self, event: SourceEvent) -> None:
        ts = event.ts_ns // NS_PER_MS
        self._apply_due(ts)
        self._advance(ts)
        m = self.market
        mid_before = self.engine.mid(m.market_id)
        if isinstance(event, SourceBook):
            bids, asks = _levels(m, event.bids), _levels(m, event.asks)
            if not bids or not asks:
                return
            self.r.books += 1
            trades = self.engine.on_book(m.market_id, bids, asks, ts)
            self._after_market(trades, ts, mid_before)
            mid = self.engine.mid(m.market_id)
            if mid is not None:
                self.r.mid_ts.append(ts)
                self.r.mid_px.append(mid)
                self._resting_distance(mid)
            book_bids, book_asks = self.engine.book(m.market_id, depth=1)
            if book_bids and book_asks:
                (bp, bs), (ap, asz) = book_bids[0], book_asks[0]
                self._send(ts, self.strategy.on_book(ts, m.price_from_int(bp), m.size_from_int(bs),
                                                     m.price_from_int(ap), m.size_from_int(asz)))
        else:
            price, size = m.price_to_int(event.price), m.size_to_int(event.size, Rounding.NEAREST)
            if price <= 0 or size <= 0:
                return
            self.r.prints += 1
            trades = self.engine.on_trade(m.market_id, price, size, event.taker_is_buyer, ts)
            self._after_market(trades, ts, mid_before)
            self._send(ts, self.strategy.on_trade(ts, event.price, event.size, event.taker_is_buyer))
        self._apply_due(ts)

    def _after_market(self, trades: list[SimTrade], ts: int, mid_before: float | None) -> None:
        if trades:
            self._deliver_fills(trades, ts, mid_before)
        self._refresh_quoted()

    # ------------------------------------------------------------------------ our transactions
    def _send(self, ts: int, actions: Iterable[QuoteAction]) -> None:
        """Transactions received by the venue at ts: admitted by the tier's rate limit, then pending."""
        for a in actions:
            kind = "place" if isinstance(a, Place) else "modify" if isinstance(a, Modify) else "cancel"
            self.r.sent[kind] += 1
            self.r.tx_times.append(ts)
            if isinstance(a, Place):
                self._roles[a.coi] = a.role
            if not isinstance(a, Place):
                self.r.cancel_times.append(ts)  # a Modify is a cancel in the strategy's discipline
            if not self.tiers.admit({ACCOUNT: 1}, ts):
                heapq.heappush(self._pending, (ts, next(self._seq), a, codes.TOO_MANY_REQUESTS))
                continue
            delay = self.tiers.delay_ms(ACCOUNT, takes=self._takes(a))
            heapq.heappush(self._pending, (ts + delay, next(self._seq), a, codes.OK))

    def _takes(self, a: QuoteAction) -> bool:
        """The taker's bump for what may trade on arrival, as the venue judges it (sequencing._takes):
        market and IOC orders; a GTT order or a modify of one crossing the book at receipt. Post-only
        orders (the maker's quotes and passive hedges) and cancels take the maker's."""
        if isinstance(a, Cancel):
            return False
        if isinstance(a, Place):
            if a.kind == "market" or a.tif == "ioc":
                return True
            if a.tif == "post_only":
                return False
            is_ask = a.side == "sell"
        else:
            order = self.engine.order_by_client_index(ACCOUNT, a.coi)
            if order is None or order.time_in_force == TimeInForce.POST_ONLY:
                return False
            is_ask = order.is_ask
        bids, asks = self.engine.book(self.market.market_id, depth=1)
        price = self.market.price_to_int(a.price)
        return (bool(bids) and price <= bids[0][0]) if is_ask else (bool(asks) and price >= asks[0][0])

    def _apply_due(self, ts: int) -> None:
        while self._pending and self._pending[0][0] <= ts:
            at, _, action, code = heapq.heappop(self._pending)
            self._advance(at)
            if action is not None:
                self._apply(action, at, code)
            self._refresh_quoted()

    def _apply(self, a: QuoteAction, ts: int, code: int) -> None:
        s = self.strategy
        if code != codes.OK:
            self.r.rejections[code] += 1
            self._send(ts, s.on_rejected(ts, a.coi, code, codes.message_for(code)))
            return
        m = self.market
        mid = self.engine.mid(m.market_id)
        if isinstance(a, Cancel):
            status, _ = self.engine.cancel(ACCOUNT, m.market_id, a.coi, ts)
            if status == codes.OK:
                self._send(ts, s.on_canceled(ts, a.coi, "canceled"))
            else:
                self.r.rejections[status] += 1
                self._send(ts, s.on_rejected(ts, a.coi, status, codes.message_for(status)))
            return
        price, size = m.price_to_int(a.price), m.size_to_int(a.size, Rounding.NEAREST)
        if isinstance(a, Place):
            result = self.engine.submit(OrderRequest(
                account_index=ACCOUNT, market_id=m.market_id, client_order_index=a.coi, base_amount=size,
                price=price, is_ask=a.side == "sell",
                order_type=OrderType.MARKET if a.kind == "market" else OrderType.LIMIT,
                time_in_force=_TIF[a.tif], reduce_only=a.reduce_only), ts)
        else:
            result = self.engine.modify(ACCOUNT, a.coi, price, size, ts, market_id=m.market_id)
        self._answer(a, result, ts, mid)

    def _answer(self, a: Place | Modify, result: SubmitResult, ts: int, mid: float | None) -> None:
        s = self.strategy
        if result.code != codes.OK or result.order is None:
            self.r.rejections[result.code] += 1
            self._send(ts, s.on_rejected(ts, a.coi, result.code, result.message))
            return
        order = result.order
        if mid is not None and self._roles.get(a.coi) == "quote" and order.status == OrderStatus.OPEN:
            self.r.max_quote_distance_entry_bps = max(self.r.max_quote_distance_entry_bps,
                                                      abs(self.market.price_from_int(order.price) - mid) / mid * 1e4)
        self._send(ts, s.on_accepted(ts, a.coi))
        if result.trades:
            self._deliver_fills(result.trades, ts, mid)
        if order.status != OrderStatus.OPEN and order.status != OrderStatus.FILLED:
            self._send(ts, s.on_canceled(ts, a.coi, order.status))

    # ------------------------------------------------------------------------ fills
    def _deliver_fills(self, trades: list[SimTrade], ts: int, mid: float | None) -> None:
        """Our side of each trade to the strategy, with the order's remaining size after that trade."""
        m = self.market
        ours = [(t, t.bid_account_id == ACCOUNT) for t in trades if ACCOUNT in (t.bid_account_id, t.ask_account_id)]
        later: dict[int, int] = {}  # order index -> size of its trades after the current one
        remaining_after: list[int] = []
        for t, is_buy in reversed(ours):
            idx = t.bid_id if is_buy else t.ask_id
            order = self.engine.order(idx)
            left = (order.remaining_base_amount if order is not None else 0) + later.get(idx, 0)
            remaining_after.append(left)
            later[idx] = later.get(idx, 0) + t.size
        remaining_after.reverse()
        for (t, is_buy), left in zip(ours, remaining_after, strict=True):
            coi = t.bid_client_id if is_buy else t.ask_client_id
            is_maker = t.is_maker_ask != is_buy
            fee = t.maker_fee if is_maker else t.taker_fee
            side: Side = "buy" if is_buy else "sell"
            price, size = m.price_from_int(t.price), m.size_from_int(t.size)
            self.r.fills.append(FillRecord(ts, coi, self._roles.get(coi, "unknown"), side, price, size, fee, is_maker,
                                           mid, self._inventory()))
            self._send(ts, self.strategy.on_fill(ts, coi, side, price, size, fee, is_maker, m.size_from_int(left)))

    def _inventory(self) -> float:
        position = self.engine.account(ACCOUNT).positions.get(self.market.market_id)
        return self.market.size_from_int(position.size if position is not None else 0)

    # ------------------------------------------------------------------------ bookkeeping
    def _advance(self, ts: int) -> None:
        """Event time moves to ts: the time since the last operation counts with the state it had."""
        if ts > self._clock:
            if self._both_quoted:
                self.r.both_quoted_ms += ts - self._clock
            self._clock = ts

    def _quotes(self) -> Iterator[SimOrder]:
        for order in self.engine.active_orders(ACCOUNT, self.market.market_id):
            if self._roles.get(order.client_order_index) == "quote":
                yield order

    def _refresh_quoted(self) -> None:
        sides = {o.is_ask for o in self._quotes()}
        self._both_quoted = len(sides) == 2

    def _resting_distance(self, mid: float) -> None:
        for o in self._quotes():
            d = abs(self.market.price_from_int(o.price) - mid) / mid * 1e4
            if d > self.r.max_quote_distance_resting_bps:
                self.r.max_quote_distance_resting_bps = d

    def finish(self) -> None:
        self.r.pending_at_end = len(self._pending)
        known = set(self.strategy.open_orders())
        self.r.orphan_orders = sum(
            1 for o in self.engine.active_orders(ACCOUNT) if o.client_order_index not in known)
        self.r.engine_inventory = self._inventory()
        self.r.strategy_status = self.strategy.status()


def _levels(m: MarketSpec, levels: list[tuple[float, float]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    ps, ss = m.price_scale, m.size_scale
    for price, size in levels:
        p, s = price * ps, size * ss
        if math.isfinite(p) and math.isfinite(s) and p >= 0.5 and s >= 0.5:
            out.append((int(p + 0.5), int(s + 0.5)))
    return out


def replay_maker(
    events: Iterable[SourceEvent],
    market: MarketSpec,
    *,
    tier: str = "standard",
    kind: str = "market_maker",
    preset: str = DEFAULT_PRESET,
    overrides: dict[str, Any] | None = None,
    source: str = "",
    duration_s: float | None = None,
) -> MakerReplayResult:
    """Drive a quoting strategy over `events` (books and prints, nondecreasing event time).

    duration_s stops at that much event time after the first event. ValueError for a tier that is
    not one of REPLAY_TIERS or for fee parameters (a replay's fees are its tier's).
    """
    if tier not in REPLAY_TIERS:
        raise ValueError(f"bad --tier {tier!r}: expected one of {', '.join(REPLAY_TIERS)}")
    over = dict(overrides or {})
    for name in ("maker_fee", "taker_fee"):
        if over.get(name) is not None:
            raise ValueError(f"bad --set {name}: a replay's fees are its --tier's")
    ids = itertools.count(1)
    strategy = build_quoting(kind, f"replay-{kind}", market, order_ids=lambda: next(ids), preset=preset,
                             overrides=over, account_index=ACCOUNT)
    result = MakerReplayResult(strategy=kind, preset=preset, tier=tier, market=market.symbol, source=source,
                               params=params_dict(strategy.params))
    driver = MakerDriver(strategy, market, tier_named(tier), result)
    end_ms: int | None = None
    last_ms: int | None = None
    for event in events:
        ts = event.ts_ns // NS_PER_MS
        if last_ms is None:
            result.start_ms = ts
            end_ms = None if duration_s is None else ts + int(duration_s * 1000)
        if end_ms is not None and ts > end_ms:
            break
        if not isinstance(event, (SourceBook, SourceTrade)):
            continue
        driver.feed(event)
        last_ms = ts
    result.end_ms = last_ms if last_ms is not None else result.start_ms
    driver.finish()
    return result
