"""Our websocket client against the real simulator and its fault knobs.

Through a skipped offset, dropped connections and a frozen feed, the client must end with
exactly the book the simulator published, report the frozen feed as stale and then fresh, and
never let an exception escape.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import pytest

from venue import wire
from venue.sim.server import SimServer
from venue.ws_client import LighterWsClient

MARKET = 2


async def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.01)


async def set_faults(sim: SimServer, **knobs: object) -> None:
    async with aiohttp.ClientSession() as http, http.post(f"{sim.url}/sim/faults", json=knobs) as reply:
        assert reply.status == 200, await reply.text()


def published(sim: SimServer) -> tuple[dict[float, float], dict[float, float]]:
    feed = sim.books[MARKET]
    spec = feed.spec
    return ({spec.price_from_int(p): spec.size_from_int(s) for p, s in feed.bids.items()},
            {spec.price_from_int(p): spec.size_from_int(s) for p, s in feed.asks.items()})


async def assert_same_book(sim: SimServer, client: LighterWsClient) -> None:
    """Freeze the feed, let the client catch up with the last published offset, compare."""
    await set_faults(sim, freeze_feed=True)
    await wait_until(lambda: client.is_synced(MARKET) and client.book(MARKET).offset == sim.books[MARKET].offset,
                     what="the client to reach the published offset")
    bids, asks = client.book(MARKET).levels()
    want_bids, want_asks = published(sim)
    assert bids == pytest.approx(want_bids) and set(bids) == set(want_bids)
    assert asks == pytest.approx(want_asks) and set(asks) == set(want_asks)
    assert max(bids) < min(asks)


@pytest.mark.timeout(60)
async def test_client_keeps_the_simulators_book_through_faults() -> None:
    events: list[object] = []
    async with SimServer("synthetic", speed=20, seed=3, port=0) as sim:
        client = LighterWsClient(sim.ws_url, markets=[MARKET], accounts=[], on_event=events.append,
                                 depth=50, stale_after_s=0.5, backoff_initial_s=0.05, backoff_max_s=0.5)
        await client.start()
        try:
            await wait_until(lambda: client.is_synced(MARKET) and client.book(MARKET).offset > 20,
                             what="the first snapshot and some deltas")

            await set_faults(sim, skip_offset=1)
            await wait_until(lambda: client.stats.gaps >= 1 and client.stats.resubscribes >= 1,
                             what="a gap and a resubscribe")
            await assert_same_book(sim, client)
            await set_faults(sim, freeze_feed=False)

            reconnects = client.stats.reconnects
            await set_faults(sim, drop_connections_now=True)
            await wait_until(lambda: client.stats.reconnects > reconnects, what="a reconnect")
            await wait_until(lambda: client.is_synced(MARKET), what="a fresh snapshot after reconnecting")

            await set_faults(sim, freeze_feed=True)
            await wait_until(lambda: client.is_stale(MARKET), what="the frozen feed to be reported stale")
            assert any(isinstance(e, wire.Stale) and e.market_id == MARKET for e in events)
            await assert_same_book(sim, client)
            await set_faults(sim, freeze_feed=False)
            await wait_until(lambda: not client.is_stale(MARKET), what="fresh again after the thaw")
            assert isinstance([e for e in events if isinstance(e, wire.Stale | wire.Fresh)][-1], wire.Fresh)

            await assert_same_book(sim, client)
            assert client.stats.malformed == 0
            assert client.stats.internal_errors == 0 and client.stats.callback_errors == 0
            assert client.running
        finally:
            await client.stop()
