"""The maker's replay and the paper venue give the same fills for the same input: one script of
market events (books and prints) and of our orders (post-only quotes joining a queue, a modify, a
cancel), run once through the replay's driver (strategies/replay_maker.py: the engine as a library)
and once through the paper venue's server, orders signed by the real SDK. Premium account: no speed
bump, so every order takes effect at the event time it was sent at, in both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import lighter
import pytest

from strategies.quoting import Cancel, LiveOrder, Modify, Place, QuoteAction, QuotingStrategy
from strategies.replay_maker import MakerDriver, MakerReplayResult
from venue.markets import SOL_DEFAULT
from venue.order_client import OrderClient, TxAccepted
from venue.sim.server import SimServer
from venue.sim.tiers import PREMIUM
from venue.sim.types import SourceBook, SourceEvent, SourceTrade

pytestmark = pytest.mark.timeout(60)
T0_NS = 1_700_000_000_000_000_000
ACCOUNT = 1  # the replay's account
SOL = 2


def book(ms: int, bid: float, bid_size: float, ask: float, ask_size: float) -> SourceBook:
    return SourceBook(ts_ns=T0_NS + ms * 1_000_000, bids=[(bid, bid_size), (bid - 0.1, 50.0)],
                      asks=[(ask, ask_size), (ask + 0.1, 50.0)])


def trade(ms: int, price: float, size: float, taker_is_buyer: bool) -> SourceTrade:
    return SourceTrade(ts_ns=T0_NS + ms * 1_000_000, price=price, size=size, taker_is_buyer=taker_is_buyer)


# the market: our bid joins 10 resting at 149.9, prints eat the queue ahead (4 + 4), then 2 more: the
# first 2 units fill us (1 of them for our first order, our second bid waits behind it); the ask is
# modified down and a buyer lifts it; the second bid is canceled before prints that would have filled it
MARKET: list[SourceEvent] = [
    book(0, 149.9, 10.0, 150.1, 10.0),
    trade(100, 149.9, 4.0, False),
    book(200, 149.9, 6.0, 150.1, 10.0),
    trade(300, 149.9, 4.0, False),
    trade(400, 149.9, 3.0, False),
    book(500, 149.9, 5.0, 150.1, 10.0),
    trade(600, 150.0, 0.5, True),
    book(700, 149.9, 5.0, 150.1, 10.0),
    trade(800, 149.9, 20.0, False),
]
# our transactions, sent right after the market event of that index
SCRIPT: dict[int, list[QuoteAction]] = {
    0: [Place(coi=11, side="buy", price=149.9, size=1.0), Place(coi=12, side="sell", price=150.2, size=1.0)],
    2: [Place(coi=13, side="buy", price=149.9, size=1.5)],
    5: [Modify(coi=12, price=150.0, size=0.5)],
    7: [Cancel(coi=13)],
}


class ScriptedQuoter(QuotingStrategy):
    """Answers the n-th market event with SCRIPT[n]; hears the rest and does nothing."""

    kind = "scripted"
    params_type = dict  # type: ignore[assignment]

    def __init__(self) -> None:
        self.name, self.market, self.account_index = "scripted", SOL_DEFAULT, ACCOUNT
        self.events = 0

    def _next(self) -> list[QuoteAction]:
        actions = SCRIPT.get(self.events, [])
        self.events += 1
        return list(actions)

    @property
    def inventory(self) -> float:
        return 0.0

    def on_book(self, ts_ms: int, bid: float, bid_size: float, ask: float, ask_size: float) -> list[QuoteAction]:
        return self._next()

    def on_trade(self, ts_ms: int, price: float, size: float, taker_is_buyer: bool) -> list[QuoteAction]:
        return self._next()

    def on_accepted(self, ts_ms: int, coi: int) -> list[QuoteAction]:
        return []

    def on_fill(self, ts_ms: int, coi: int, side: Any, price: float, size: float, fee: float, is_maker: bool,
                remaining: float) -> list[QuoteAction]:
        return []

    def on_canceled(self, ts_ms: int, coi: int, reason: str) -> list[QuoteAction]:
        return []

    def on_rejected(self, ts_ms: int, coi: int, code: int, reason: str) -> list[QuoteAction]:
        raise AssertionError(f"the script's order {coi} was refused: {code} {reason}")

    def on_venue_orders(self, ts_ms: int, live: list[LiveOrder]) -> list[QuoteAction]:
        return []

    def adopt_position(self, ts_ms: int, size: float, entry_price: float) -> bool:
        return False

    def allow_entries(self, allowed: bool) -> None:
        pass

    def closed_trades(self) -> list[Any]:
        return []

    def open_orders(self) -> dict[int, dict[str, Any]]:
        return {}

    def telemetry(self) -> dict[str, float]:
        return {}

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {}


Fill = tuple[int, str, float, float, bool]  # coi, side, price, size, maker


def replayed() -> list[Fill]:
    result = MakerReplayResult(strategy="scripted", preset="-", tier="premium", market="SOL", source="script")
    driver = MakerDriver(ScriptedQuoter(), SOL_DEFAULT, PREMIUM, result)
    for event in MARKET:
        driver.feed(event)
    return [(f.coi, f.side, f.price, f.size, f.is_maker) for f in result.fills]


async def at_the_venue() -> list[Fill]:
    async with SimServer(source=[MARKET[0]], speed=1e-6, default_tier="premium") as sim:
        await asyncio.wait_for(sim.source_done.wait(), 10)
        private_key, _public, error = lighter.create_api_key()
        assert error is None
        client = await OrderClient.create(sim.url, ACCOUNT, 0, private_key, {SOL: SOL_DEFAULT}, rate_limit=None)
        try:
            for n, event in enumerate(MARKET):
                if n:
                    await sim.inject(event)
                for action in SCRIPT.get(n, []):
                    outcome = await asyncio.wait_for(_send(client, action), 10)
                    assert isinstance(outcome, TxAccepted), outcome
            fills: list[Fill] = []
            for t in sim.engine.account_trades(ACCOUNT):
                is_buy = t.bid_account_id == ACCOUNT
                fills.append((t.bid_client_id if is_buy else t.ask_client_id, "buy" if is_buy else "sell",
                              SOL_DEFAULT.price_from_int(t.price), SOL_DEFAULT.size_from_int(t.size),
                              t.is_maker_ask != is_buy))
            return fills
        finally:
            await client.close()


def _send(client: OrderClient, action: QuoteAction) -> Any:
    send: Callable[[], Any]
    if isinstance(action, Place):
        send = lambda: client.limit_order(SOL, action.side == "sell", action.size, action.price,  # noqa: E731
                                          tif="post_only", client_order_index=action.coi)
    elif isinstance(action, Modify):
        send = lambda: client.modify_order(SOL, action.coi, action.price, action.size)  # noqa: E731
    else:
        send = lambda: client.cancel(SOL, action.coi)  # noqa: E731
    return send()


def test_the_replay_and_the_paper_venue_fill_the_same_orders_the_same_way() -> None:
    replay = replayed()
    venue = asyncio.run(at_the_venue())
    assert replay == venue
    # the script's point, checked on what both agree on: the queue ahead traded first, our two bids
    # kept their order, the modified ask filled at its new price, the canceled bid never filled
    assert replay == [(11, "buy", 149.9, 1.0, True), (12, "sell", 150.0, 0.5, True)]
