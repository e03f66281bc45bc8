"""LighterWsClient keeps an account subscription alive across auth-token expiries at the paper venue:
it renews the subscription with a fresh token before the old one expires, and when the venue ends
a subscription (its token expired first) it subscribes again at once. Either way account updates
keep coming. Tokens are the real SDK's, with a few seconds of life.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import lighter
import pytest

from venue.auth_tokens import AuthTokens
from venue.markets import SOL_DEFAULT
from venue.order_client import OrderClient, TxAccepted
from venue.sim.server import SimServer
from venue.sim.types import SourceBook
from venue.wire import AccountUpdated
from venue.ws_client import LighterWsClient

ACCOUNT = 5150
KEY = 1
SOL = SOL_DEFAULT.market_id
BOOK = SourceBook(ts_ns=1_700_000_000_000_000_000, bids=[(149.9, 100.0)], asks=[(150.1, 100.0)])


@pytest.fixture
async def venue() -> AsyncIterator[SimServer]:
    async with SimServer(source=[BOOK], speed=0) as sim:
        await asyncio.wait_for(sim.source_done.wait(), 10.0)
        yield sim


@pytest.fixture
async def client(venue: SimServer) -> AsyncIterator[OrderClient]:
    private_key, _public, error = lighter.create_api_key()
    assert error is None and private_key
    async with await OrderClient.create(venue.url, ACCOUNT, KEY, private_key, {SOL: SOL_DEFAULT},
                                        rate_limit=None) as c:
        yield c


async def until(predicate: Callable[[], Any], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)  # polling a condition with a deadline


async def a_fill_arrives(client: OrderClient, updates: list[AccountUpdated]) -> None:
    before = {t.trade_id for u in updates for t in u.trades}
    assert isinstance(await client.limit_order(SOL, False, 0.1, 150.1, tif="ioc"), TxAccepted)
    await until(lambda: {t.trade_id for u in updates for t in u.trades} - before, 5.0, "the fill's update")


@pytest.mark.timeout(60)
async def test_subscription_is_renewed_before_its_token_expires(venue: SimServer, client: OrderClient) -> None:
    tokens = AuthTokens(client.auth_token, 3)
    updates: list[AccountUpdated] = []
    ws = LighterWsClient(venue.ws_url, accounts={ACCOUNT: tokens.current},
                         on_event=lambda e: updates.append(e) if isinstance(e, AccountUpdated) else None)
    async with ws:
        await until(lambda: any(u.is_snapshot for u in updates), 5.0, "the first snapshot")
        await until(lambda: ws.stats.auth_renewals >= 3, 15.0, "three renewals")
        await a_fill_arrives(client, updates)
    assert venue.auth.expired_subscriptions == 0 and ws.stats.subscriptions_ended == 0
    assert venue.auth.refused == 0 and ws.stats.server_errors == 0
    assert tokens.made >= 3  # each renewal past 80% of a token's life took a new one


@pytest.mark.timeout(60)
async def test_subscription_ended_by_the_venue_is_taken_up_again(venue: SimServer, client: OrderClient) -> None:
    # the venue's clock runs 6 s ahead: an 8 s token lasts about 2 s there, less than the
    # client's renewal at 80% of its life, so the venue ends the subscription first
    venue.auth.clock = lambda: time.time() + 6
    updates: list[AccountUpdated] = []
    ws = LighterWsClient(venue.ws_url, accounts={ACCOUNT: lambda: client.auth_token(8)},
                         on_event=lambda e: updates.append(e) if isinstance(e, AccountUpdated) else None)
    async with ws:
        await until(lambda: ws.stats.subscriptions_ended >= 2, 15.0, "two subscriptions ended by the venue")
        await until(lambda: sum(u.is_snapshot for u in updates) >= 3, 5.0, "a snapshot after each")
        await a_fill_arrives(client, updates)
    assert venue.auth.expired_subscriptions >= 2
