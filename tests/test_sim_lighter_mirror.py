"""Paper trading on another venue's prices: venue.sim.lighter_mirror and the server's live sources.

A first simulator (A) stands in for Lighter: a scripted market moved with `inject`. A second one
(B) mirrors A's market 2 over A's websocket (`lighter:ws://...`) with A's specs (read from A's
orderBookDetails). B's book follows A's, A's prints reach B and fill B's resting orders at A's
prices, B reconnects when A drops it. The mirror alone is also driven by a scripted stand-in
(tests/wsfake.py) that sends malformed frames and falls silent.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import msgspec
import pytest

from tests.wsfake import FakeLighter, wait_until
from venue.markets import SOL_DEFAULT
from venue.sim.lighter_mirror import LighterMirror, rest_root, upstream_markets
from venue.sim.server import SimServer
from venue.sim.sources import make_source
from venue.sim.types import SourceBook, SourceEvent, SourceTrade

T0_NS = 1_700_000_000_000_000_000
MS = 1_000_000
DEADLINE_S = 5.0
ACCOUNT = 7

BOOK = SourceBook(ts_ns=T0_NS, bids=[(149.9, 10.0), (149.8, 20.0)], asks=[(150.1, 10.0), (150.2, 20.0)])


@pytest.fixture
async def upstream() -> Any:
    """Sim A: the market everything follows (scripted, then moved by the test)."""
    server = SimServer(source=[BOOK], speed=0, ping_interval_s=30.0)
    async with server:
        yield server


@pytest.fixture
async def mirror(upstream: SimServer) -> Any:
    """Sim B: paper venue on A's prices."""
    specs = await upstream_markets(upstream.ws_url, [2])
    server = SimServer(source=f"lighter:{upstream.ws_url}", markets=specs, speed=1.0)
    async with server:
        yield server


def top(sim: SimServer) -> tuple[Any, Any]:
    bids, asks = sim.engine.book(2, 1)
    return (bids[0] if bids else None), (asks[0] if asks else None)


def order_tx(nonce: int, coi: int, *, price: int, size: int, is_ask: int) -> str:
    return json.dumps({
        "AccountIndex": ACCOUNT, "ApiKeyIndex": 1, "MarketIndex": 2, "ClientOrderIndex": coi,
        "BaseAmount": size, "Price": price, "IsAsk": is_ask, "Type": 0, "TimeInForce": 1,
        "ReduceOnly": 0, "TriggerPrice": 0, "OrderExpiry": 0, "ExpiredAt": 0, "Nonce": nonce,
        "Sig": "not-checked", "L2TxAttributes": None,
    })


def test_specs_name_the_mirror_and_refuse_what_is_not_a_websocket():
    source = make_source("lighter:wss://mainnet.zklighter.elliot.ai/stream", market_id=2)
    assert isinstance(source, LighterMirror) and source.market_id == 2 and not source.strict_offsets
    assert rest_root("wss://mainnet.zklighter.elliot.ai/stream") == "https://mainnet.zklighter.elliot.ai"
    assert rest_root("ws://127.0.0.1:8765/stream") == "http://127.0.0.1:8765"
    for bad in ("lighter:", "lighter:https://example.com/stream", "lighter:nothing"):
        with pytest.raises(ValueError):
            make_source(bad)


async def test_mirror_book_follows_upstream_and_prints_fill_at_upstream_prices(upstream, mirror):
    assert mirror.markets[2] == upstream.markets[2]
    await wait_until(lambda: top(mirror) == top(upstream), DEADLINE_S, "B's first book to equal A's")

    await upstream.inject(SourceBook(ts_ns=T0_NS + 10 * MS, bids=[(150.0, 4.0), (149.9, 10.0)],
                                     asks=[(150.3, 2.0)]))
    assert top(upstream) == ((150_000, 4_000), (150_300, 2_000))
    await wait_until(lambda: top(mirror) == top(upstream), DEADLINE_S, "B's top to follow A's move")
    assert mirror.engine.book(2, 50) == upstream.engine.book(2, 50)
    assert mirror.now_ms == T0_NS // MS + 10  # event time is the upstream's

    # a resting bid at B; A prints a sell through it: B fills it at its price, not A's accounts
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{mirror.url}/api/v1/sendTx",
                             data={"tx_type": "14", "tx_info": order_tx(0, 5, price=149_950, size=300, is_ask=0)}) as r:
            assert r.status == 200 and (await r.json())["code"] == 200
    await upstream.inject(SourceTrade(ts_ns=T0_NS + 20 * MS, price=149.9, size=1.0, taker_is_buyer=False))
    await wait_until(lambda: mirror.engine.account_trades(ACCOUNT), DEADLINE_S, "B's order to fill on A's print")
    [fill] = mirror.engine.account_trades(ACCOUNT)
    assert (fill.price, fill.size, fill.bid_account_id) == (149_950, 300, ACCOUNT)
    assert upstream.engine.account_trades(ACCOUNT) == []
    assert float(mirror.recent_trades[2][0]["price"]) == 149.9  # A's print, as B's market shows it
    stats = mirror.state()["live_sources"]["2"]
    assert stats["trades"] == 1 and stats["ws_malformed"] == 0 and stats["connected"]


async def test_mirror_reconnects_after_the_upstream_drops_it(upstream, mirror):
    await wait_until(lambda: top(mirror) == top(upstream), DEADLINE_S, "B's first book")
    assert upstream.drop_connections() >= 1
    await upstream.inject(SourceBook(ts_ns=T0_NS + 10 * MS, bids=[(149.5, 1.0)], asks=[(149.7, 1.0)]))
    await wait_until(lambda: top(mirror) == ((149_500, 1_000), (149_700, 1_000)), DEADLINE_S,
                     "B to reconnect and take A's new book")
    assert mirror.state()["live_sources"]["2"]["ws_reconnects"] >= 1


async def test_a_simulator_whose_spec_differs_from_the_upstream_is_refused(upstream):
    other = SimServer(source=f"lighter:{upstream.ws_url}", speed=1.0,
                      markets=[msgspec.structs.replace(SOL_DEFAULT, price_decimals=2)])
    with pytest.raises(ValueError, match="differs from the upstream"):
        await other.start()
    fast = SimServer(source=f"lighter:{upstream.ws_url}", speed=10.0)
    with pytest.raises(ValueError, match="speed must be 1"):
        await fast.start()


async def test_malformed_frames_are_counted_and_dropped_and_an_outage_empties_the_book():
    fake = FakeLighter({2: ([("150.000", "1.000")], [("150.100", "2.000")])})
    await fake.start()
    events: list[SourceEvent] = []
    source = LighterMirror(fake.url, 2, stale_after_s=0.5)
    try:
        await source.start(events.append)
        await wait_until(lambda: any(isinstance(e, SourceBook) for e in events), DEADLINE_S, "the snapshot")
        assert events[-1] == SourceBook(ts_ns=events[-1].ts_ns, bids=[(150.0, 1.0)], asks=[(150.1, 2.0)])

        await fake.send_all("{not json")
        await fake.send_all(json.dumps({"type": "update/order_book", "channel": "order_book:2",
                                        "order_book": {"bids": "nope"}}))
        await fake.broadcast("trade:2", json.dumps({"type": "update/trade", "channel": "trade:2", "trades": [
            {"trade_id": 1, "market_id": 2, "price": "-1", "size": "1", "timestamp": 1_700_000_000_500}]}))
        await fake.update(2, bids=[("150.050", "3.000")])
        await wait_until(lambda: events[-1].bids[0] == (150.05, 3.0) if isinstance(events[-1], SourceBook)
                         else False, DEADLINE_S, "the valid update after the bad frames")
        stats = source.stats()
        assert stats["ws_malformed"] == 3 and stats["trades"] == 0
        assert not any(isinstance(e, SourceTrade) for e in events)
        times = [e.ts_ns for e in events]
        assert times == sorted(times) and times[-1] == (1_700_000_000_000 + fake.offsets[2]) * MS

        # a quiet market on a live connection keeps its book: the upstream would have sent changes
        await wait_until(lambda: source.stats()["stale"], DEADLINE_S, "the quiet market to be called stale")
        assert source.stats()["blanked"] == 0 and events[-1].bids == [(150.05, 3.0), (150.0, 1.0)]
        # the upstream goes away: once stale and disconnected, the external book is emptied
        await fake.stop_listening()
        await wait_until(lambda: source.stats()["blanked"] == 1, DEADLINE_S, "the stale book to be emptied")
        assert events[-1].bids == [] and events[-1].asks == [] and not source.stats()["connected"]
    finally:
        await source.stop()
        await fake.stop()


async def test_the_mirror_starts_with_the_upstreams_past_candles():
    async with SimServer("synthetic", speed=1.0, seed=3, history_hours=10) as source_venue:
        specs = await upstream_markets(source_venue.ws_url, [2])
        past = [c for c in source_venue.candles[2].query("1m", count_back=1500)
                if c["t"] < source_venue.now_ms - 120_000]  # settled minutes, before anything live
        async with SimServer(f"lighter:{source_venue.ws_url}", markets=specs, speed=1.0, history_hours=10) as copy:
            mirrored = {c["t"]: c for c in copy.candles[2].query("1m", count_back=1500)}
            hourly = copy.candles[2].query("1h", count_back=20)
    common = [c for c in past if c["t"] in mirrored]  # the span asked for: the newest 10 hours
    assert len(past) > 500 and len(common) >= len(past) - 1  # more than one page of the upstream's endpoint
    assert all(mirrored[c["t"]] == {**c, "i": 0} for c in common)  # trade ids are not in candles
    assert len(hourly) >= 10 and hourly[-2]["v"] > 0  # rolled up to every resolution


async def test_the_simulator_cli_mirrors_a_websocket_and_says_in_one_line_when_it_cannot(upstream):
    import sys

    command = [sys.executable, "-m", "venue.sim", "--port", "0", "--log-level", "WARNING", "--source"]
    proc = await asyncio.create_subprocess_exec(*command, f"lighter:{upstream.ws_url}",
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line.startswith("LIGHTER_SIM_URL="), line
        url = line.strip().split("=", 1)[1]
        async with aiohttp.ClientSession() as http:
            async def mirrored() -> Any:
                async with http.get(f"{url}/sim/state") as resp:
                    return (await resp.json())["live_sources"]["2"]["books"] > 0
            deadline = asyncio.get_running_loop().time() + DEADLINE_S
            while not await mirrored():
                assert asyncio.get_running_loop().time() < deadline, "the CLI's simulator never got a book"
                await asyncio.sleep(0.05)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)

    refused = await asyncio.create_subprocess_exec(*command, "lighter:ws://127.0.0.1:1/stream",
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(refused.communicate(), 30)
    lines = err.decode().strip().splitlines()
    assert refused.returncode == 2 and out == b"" and len(lines) == 1, lines
    assert lines[0].startswith("venue.sim: cannot read the market specs of http://127.0.0.1:1"), lines


async def test_an_offset_gap_resubscribes_and_a_frame_without_time_takes_its_receipt():
    import time

    fake = FakeLighter({2: ([("150.000", "1.000")], [("150.100", "2.000")])})
    await fake.start()
    events: list[SourceEvent] = []
    source = LighterMirror(fake.url, 2)
    assert source.strict_offsets  # a loopback upstream is our simulator: offsets rise by one
    try:
        await source.start(events.append)
        await wait_until(lambda: len(events) == 1, DEADLINE_S, "the snapshot")
        # an update lost on the way: the next one shows the gap; the mirror takes a fresh snapshot
        await fake.update(2, bids=[("150.010", "1.000")], send=False)
        await fake.update(2, asks=[("150.090", "5.000")])
        await wait_until(lambda: source.stats()["ws_gaps"] == 1 and fake.subscribed("order_book:2") == 1
                         and events[-1].asks[0] == (150.09, 5.0) and events[-1].bids[0] == (150.01, 1.0),
                         DEADLINE_S, "the fresh snapshot after the gap")
        # a delta without a timestamp: stamped when received
        frame = json.loads(fake.delta_frame(2, [("150.020", "2.000")], [], await fake.update(2, send=False)))
        del frame["timestamp"]
        before = time.time_ns()
        await fake.broadcast("order_book:2", json.dumps(frame))
        await wait_until(lambda: events[-1].bids[0] == (150.02, 2.0), DEADLINE_S, "the unstamped update")
        assert before <= events[-1].ts_ns <= time.time_ns()
    finally:
        await source.stop()
        await fake.stop()
