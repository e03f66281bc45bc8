"""LighterWsClient against a real scripted websocket server (tests/wsfake.py) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from loguru import logger

from tests.wsfake import FakeLighter, wait_until
from venue.wire import (
    AccountUpdated,
    BookUpdated,
    Connected,
    Disconnected,
    Fresh,
    Stale,
    TradesReceived,
    WsEvent,
)
from venue.ws_client import LighterWsClient, backoff_delay

SOL = 2
ETH = 0


def sol_book() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    return ([("150.100", "2.000"), ("150.000", "1.500"), ("149.900", "3.000")],
            [("150.200", "1.000"), ("150.300", "4.250")])


@pytest.fixture
async def fake() -> AsyncIterator[FakeLighter]:
    server = FakeLighter({SOL: sol_book(), ETH: ([("2000.00", "1.0")], [("2001.00", "2.0")])})
    await server.start()
    yield server
    await server.stop()


class Recorder:
    def __init__(self) -> None:
        self.events: list[WsEvent] = []

    def __call__(self, event: WsEvent) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def make_client(url: str, rec: Recorder | None = None, **kw: Any) -> LighterWsClient:
    params: dict[str, Any] = dict(markets=[SOL], on_event=rec, backoff_initial_s=0.02, backoff_max_s=0.2,
                                  resync_min_interval_s=0.05, rng=random.Random(7))
    params.update(kw)
    return LighterWsClient(url, **params)


def in_sync(client: LighterWsClient, fake: FakeLighter, m: int = SOL) -> bool:
    return client.is_synced(m) and client.book(m).levels() == fake.levels(m) \
        and client.book(m).offset == fake.offsets[m]


async def test_snapshot_updates_trades_and_events(fake: FakeLighter) -> None:
    rec = Recorder()
    queue: asyncio.Queue[WsEvent] = asyncio.Queue()
    fake.trades[SOL] = [{
        "trade_id": 9, "market_id": SOL, "size": "0.500", "price": "150.150", "ask_account_id": 3,
        "bid_account_id": 4, "ask_client_id": 11, "bid_client_id": 12, "is_maker_ask": True,
        "timestamp": 1_700_000_000_123, "type": "trade", "tx_hash": "ab"}]
    client = make_client(fake.url, rec, markets=[SOL, ETH], queue=queue)
    await client.start()
    try:
        await wait_until(lambda: in_sync(client, fake, SOL) and in_sync(client, fake, ETH), what="snapshots")
        assert {"type": "subscribe", "channel": "order_book/2"} in fake.received
        assert {"type": "subscribe", "channel": "trade/2"} in fake.received
        await fake.update(SOL, bids=[("150.100", "0"), ("150.050", "7.000")], asks=[("150.250", "1.5")])
        await fake.update(SOL, asks=[("150.200", "0")])
        await wait_until(lambda: in_sync(client, fake), what="deltas applied")
        book = client.book(SOL)
        assert book.best_bid() == (150.05, 7.0) and book.best_ask() == (150.25, 1.5)

        updates = [e for e in rec.of(BookUpdated) if e.market_id == SOL]
        assert updates[0].is_snapshot and not updates[-1].is_snapshot
        last = updates[-1]
        assert (last.best_bid, last.best_ask, last.offset) == (150.05, 150.25, fake.offsets[SOL])
        assert last.bids[:2] == [(150.05, 7.0), (150.0, 1.5)] and last.asks == [(150.25, 1.5), (150.3, 4.25)]
        assert last.ts_ms == 1_700_000_000_000 + fake.offsets[SOL]

        trades = rec.of(TradesReceived)
        assert len(trades) == 1 and trades[0].is_snapshot and trades[0].market_id == SOL
        t = trades[0].trades[0]
        assert (t.trade_id, t.price, t.size, t.ts_ms, t.is_maker_ask) == (9, 150.15, 0.5, 1_700_000_000_123, True)
        assert (t.ask_account_id, t.bid_account_id, t.ask_client_id, t.bid_client_id) == (3, 4, 11, 12)
        live = {"trade_id": 10, "market_id": SOL, "size": "1", "price": "150.2", "ask_account_id": 5,
                "bid_account_id": 6, "is_maker_ask": False, "timestamp": 1}
        await fake.broadcast("trade:2", json.dumps({"type": "update/trade", "channel": "trade:2",
                                                    "trades": [live], "liquidation_trades": None}))
        await wait_until(lambda: len(rec.of(TradesReceived)) == 2, what="live trade")
        assert not rec.of(TradesReceived)[1].is_snapshot

        assert isinstance(rec.events[0], Connected) and rec.of(Fresh)  # first data made it fresh
        assert not client.is_stale(SOL) and client.is_ready(SOL)
        assert queue.qsize() == len(rec.events)  # the queue gets the same events
        assert client.stats.malformed == client.stats.gaps == client.stats.internal_errors == 0
    finally:
        await client.stop()
    assert isinstance(rec.events[-1], Disconnected) and rec.events[-1].reason == "stopped"
    assert not client.running


async def test_offset_gap_resubscribes_and_resyncs(fake: FakeLighter) -> None:
    client = make_client(fake.url, Recorder())
    await client.start()
    try:
        await wait_until(lambda: in_sync(client, fake), what="first snapshot")
        # one update is lost on the way: the server's book moves on, the client sees offset +2
        await fake.update(SOL, bids=[("149.800", "5.000")], send=False)
        await fake.update(SOL, asks=[("150.200", "0")])
        await wait_until(lambda: client.stats.gaps == 1, what="gap detected")
        await wait_until(lambda: in_sync(client, fake), what="resynced book")
        assert client.book(SOL).levels()[0][149.8] == 5.0  # the lost change came in the snapshot
        assert client.stats.resubscribes == 1
        unsub = {"type": "unsubscribe", "channel": "order_book/2"}
        assert unsub in fake.received
        assert fake.received.index(unsub) < len(fake.received) - 1  # then subscribed again
        assert fake.received[fake.received.index(unsub) + 1] == {"type": "subscribe", "channel": "order_book/2"}
        # the stream continues normally after the resync
        await fake.update(SOL, bids=[("150.150", "1.000")])
        await wait_until(lambda: in_sync(client, fake), what="deltas after resync")
        assert client.stats.gaps == 1
        # a duplicate delta (same offset again) is dropped
        await fake.broadcast("order_book:2", fake.delta_frame(SOL, [("1.000", "9")], [], fake.offsets[SOL]))
        await wait_until(lambda: client.stats.duplicates == 1, what="duplicate dropped")
        assert in_sync(client, fake)
    finally:
        await client.stop()


async def test_dropped_connections_reconnect_with_backoff(fake: FakeLighter) -> None:
    rec = Recorder()
    client = make_client(fake.url, rec)
    await client.start()
    try:
        await wait_until(lambda: in_sync(client, fake), what="first snapshot")
        for round_ in range(1, 4):
            fake.drop_all()
            await wait_until(lambda: len(rec.of(Disconnected)) == round_, what="disconnect seen")  # noqa: B023
            # the market keeps moving while the client is away
            await fake.update(SOL, bids=[(f"149.{round_}00", "1.000")], asks=[("150.300", f"{round_}.000")])
            await wait_until(lambda: client.stats.reconnects == round_, what="reconnect")  # noqa: B023
            await wait_until(lambda: in_sync(client, fake), what="book after reconnect")
        assert len(rec.of(Connected)) == 4 and len(rec.of(Disconnected)) == 3
        assert [e.connection for e in rec.of(Connected)] == [1, 2, 3, 4]
        assert fake.connections_total == 4
        # an outage: nothing listens for a while, attempts fail and back off, then it comes back
        port = fake.port
        await fake.stop_listening()
        await wait_until(lambda: client.stats.connect_failures >= 3, what="failed attempts")
        await fake.update(SOL, bids=[("149.500", "2.000")], send=False)
        await fake.start(port)
        await wait_until(lambda: client.stats.reconnects == 4 and in_sync(client, fake), what="after outage")
        assert client.running
    finally:
        await client.stop()


def test_backoff_is_full_jitter_capped_exponential() -> None:
    rng = random.Random(1)
    for attempt in range(60):
        cap = min(10.0, 0.2 * 2**attempt)
        delays = [backoff_delay(attempt, 0.2, 10.0, rng) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > 0.5 * cap  # spread over the whole range, not a fixed delay
    assert backoff_delay(10_000, 0.2, 10.0, rng) <= 10.0


async def test_malformed_frames_counted_dropped_and_book_recovers(fake: FakeLighter) -> None:
    rec = Recorder()
    client = make_client(fake.url, rec)
    await client.start()
    try:
        await wait_until(lambda: in_sync(client, fake), what="first snapshot")
        await fake.update(SOL, bids=[("150.050", "1.000")])
        await wait_until(lambda: in_sync(client, fake), what="delta")
        malformed = 0

        async def send_bad(frame: str | bytes, what: str) -> None:
            nonlocal malformed
            await fake.send_all(frame)
            malformed += 1
            await wait_until(lambda: client.stats.malformed == malformed, what=what)
            await wait_until(lambda: in_sync(client, fake), what=f"book correct after {what}")

        nxt = fake.offsets[SOL] + 1
        await send_bad("{not json", "bad JSON")
        await send_bad(b"\xff\x00garbage", "binary garbage")
        await send_bad('{"type":"update/order_book","channel":"order_book:2"}', "missing order_book")
        await send_bad('{"type": 7}', "non-string type")
        await send_bad('{"type":"update/order_book","channel":"order_book:2","offset":NaN,"order_book":{}}',
                       "NaN literal")
        resubscribes = client.stats.resubscribes
        await send_bad(fake.delta_frame(SOL, [("NaN", "1.000")], [], nxt), "NaN price")
        await send_bad(fake.delta_frame(SOL, [], [("150.400", "-2.000")], nxt), "negative size")
        await send_bad(fake.delta_frame(SOL, [], [("150.400", "1e999")], nxt), "infinite size")
        crossed = fake.snapshot_frame(SOL).replace('"150.100"', '"150.900"')  # best bid above best ask
        await send_bad(crossed, "crossed snapshot")
        assert client.stats.crossed == 1
        assert client.stats.resubscribes == resubscribes + 4  # each bad book message forced a resync
        await send_bad('{"type":"update/trade","channel":"trade:2","trades":[{"trade_id":1,"market_id":2,'
                       '"size":"-1","price":"150","ask_account_id":1,"bid_account_id":2,"is_maker_ask":true,'
                       '"timestamp":1}]}', "negative trade size")
        assert rec.of(TradesReceived) == []
        # well-formed but unknown things are not errors
        await fake.send_all('{"type":"update/some_new_channel","channel":"x:1"}')
        await fake.send_all('{"type":"update/order_book","channel":"order_book:77","order_book":{}}')
        await wait_until(lambda: client.stats.unhandled == 2, what="unhandled counted")
        # and the feed carries on
        await fake.update(SOL, asks=[("150.250", "3.000")])
        await wait_until(lambda: in_sync(client, fake), what="final book")
        assert client.stats.malformed == malformed == 10
        assert client.stats.internal_errors == client.stats.callback_errors == 0
        assert client.running and client.connected and client.stats.reconnects == 0
        assert all(e.best_bid is None or e.best_ask is None or e.best_bid < e.best_ask
                   for e in rec.of(BookUpdated))
    finally:
        await client.stop()


async def test_frozen_feed_goes_stale_then_fresh(fake: FakeLighter) -> None:
    rec = Recorder()
    client = make_client(fake.url, rec, stale_after_s=0.3)
    assert client.is_stale(SOL)  # no data yet: fail closed
    await client.start()
    try:
        await wait_until(lambda: in_sync(client, fake) and rec.of(Fresh), what="fresh")
        # the server stays connected but sends nothing
        await wait_until(lambda: client.is_stale(SOL), what="stale")
        stale = rec.of(Stale)
        assert len(stale) == 1 and stale[0].market_id == SOL and stale[0].silent_for_s > 0.3
        assert client.stats.stale_events == 1 and client.connected and not client.is_ready(SOL)
        await fake.update(SOL, bids=[("150.000", "9.000")])
        await wait_until(lambda: not client.is_stale(SOL), what="fresh again")
        assert len(rec.of(Fresh)) == 2
        kinds = [type(e) for e in rec.events if isinstance(e, Stale | Fresh)]
        assert kinds == [Fresh, Stale, Fresh]
    finally:
        await client.stop()


async def test_answers_server_ping_and_sends_app_pings(fake: FakeLighter) -> None:
    client = make_client(fake.url, Recorder(), ping_interval_s=0.05)
    await client.start()
    try:
        await wait_until(lambda: client.connected and fake.connections, what="connected")
        await fake.ping_clients()
        await wait_until(lambda: fake.pongs == 1, what="pong")
        assert {"type": "pong"} in fake.received and client.stats.pings_answered == 1
        await wait_until(lambda: fake.pings_from_clients >= 2, what="app-level pings")
    finally:
        await client.stop()


async def test_account_subscription_with_auth_and_no_token_in_logs(
    fake: FakeLighter, caplog: pytest.LogCaptureFixture
) -> None:
    token = "tok-SECRET-123:abc"
    caplog.set_level(logging.DEBUG)  # even with stdlib logging at DEBUG, websockets must not log frames
    logs: list[str] = []
    sink = logger.add(logs.append, level="DEBUG", format="{message}")
    calls = 0

    def provider() -> str:
        nonlocal calls
        calls += 1
        return token

    fake.accounts[7] = {
        "positions": {"2": {"market_id": 2, "symbol": "SOL", "sign": -1, "position": "1.250",
                            "avg_entry_price": "150.000", "position_value": "187.5", "unrealized_pnl": "0.1",
                            "realized_pnl": "0", "liquidation_price": "300", "allocated_margin": "0",
                            "open_order_count": 1, "margin_mode": 0}},
        "orders": {"2": [{"order_index": 77, "client_order_index": 5, "market_index": 2,
                          "owner_account_index": 7, "initial_base_amount": "1.000", "price": "151.000",
                          "remaining_base_amount": "1.000", "is_ask": True, "status": "open",
                          "timestamp": 1}]},
        "trades": {},
        "funding_histories": {},
    }
    rec = Recorder()

    def of_7() -> list[AccountUpdated]:
        return [e for e in rec.of(AccountUpdated) if e.account_index == 7]

    client = make_client(fake.url, rec, accounts={7: provider, 8: None})
    await client.start()
    try:
        await wait_until(lambda: len(of_7()) == 1, what="account snapshot")
        assert {"type": "subscribe", "channel": "account_all/7", "auth": token} in fake.received
        assert {"type": "subscribe", "channel": "account_all/8"} in fake.received
        snap = of_7()[0]
        assert snap.account_index == 7 and snap.is_snapshot
        assert snap.positions[0].size == -1.25 and snap.positions[0].market_id == 2
        assert snap.orders[0].client_order_index == 5 and snap.orders[0].price == 151.0
        # a fill arrives as an update
        fill = {"trade_id": 55, "market_id": 2, "size": "0.100", "price": "151.000", "ask_account_id": 7,
                "bid_account_id": 9, "ask_client_id": 5, "is_maker_ask": True, "timestamp": 2,
                "taker_fee": 0.0, "maker_fee": 0.0}
        await fake.broadcast("account_all:7", json.dumps({
            "type": "update/account_all", "channel": "account_all:7", "account": 7,
            "trades": {"2": [fill]}, "positions": {}, "orders": {}}))
        await wait_until(lambda: len(of_7()) == 2, what="account update")
        update = of_7()[1]
        assert not update.is_snapshot and update.trades[0].trade_id == 55 and update.trades[0].ask_client_id == 5
        # a server error echoing the token, and a reconnect (fresh token): nothing logs the token
        await fake.send_all(json.dumps({"error": {"code": 30005, "message": f"invalid auth {token}"}}))
        await wait_until(lambda: client.stats.server_errors == 1, what="server error")
        fake.drop_all()
        await wait_until(lambda: client.stats.reconnects == 1 and len(of_7()) == 3, what="resubscribed")
        assert calls == 2
    finally:
        await client.stop()
        logger.remove(sink)
    assert any("invalid auth <redacted>" in line for line in logs)
    assert not any(token in line for line in logs)
    # (the fake server's own websockets logger does log frames: that is the test's server, not the client)
    client_side = [r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server")]
    assert not any(token in line for line in client_side)


async def test_failing_callback_and_auth_provider_do_not_escape(fake: FakeLighter) -> None:
    def explode(event: WsEvent) -> None:
        raise RuntimeError("consumer bug")

    def no_token() -> str:
        raise RuntimeError("key file missing")

    client = make_client(fake.url, None, on_event=explode, accounts={3: no_token}, resync_timeout_s=0.1)
    await client.start()
    try:
        await wait_until(lambda: in_sync(client, fake), what="snapshot despite callback errors")
        await fake.update(SOL, bids=[("150.020", "1.000")])
        await wait_until(lambda: in_sync(client, fake), what="delta despite callback errors")
        assert client.stats.callback_errors >= 2
        await wait_until(lambda: client.stats.auth_failures >= 2, what="auth retried")
        assert not any(m.get("channel") == "account_all/3" for m in fake.received)
        assert client.running and client.stats.internal_errors == 0
    finally:
        await client.stop()


async def test_unanswered_subscription_is_retried(fake: FakeLighter) -> None:
    """A lost subscribe reply must not leave the market without a book forever."""
    original = fake.snapshot_frame
    swallowed = 0

    def lossy(m: int) -> str:
        nonlocal swallowed
        if swallowed == 0:
            swallowed += 1
            return '{"type":"update/some_noise","channel":"noise:1"}'  # instead of the snapshot
        return original(m)

    fake.snapshot_frame = lossy  # type: ignore[method-assign]
    client = make_client(fake.url, Recorder(), resync_timeout_s=0.1)
    await client.start()
    try:
        await wait_until(lambda: in_sync(client, fake), what="snapshot after retry")
        assert swallowed == 1 and client.stats.resubscribes >= 1
    finally:
        await client.stop()


async def test_bounded_queue_drops_are_counted(fake: FakeLighter) -> None:
    queue: asyncio.Queue[WsEvent] = asyncio.Queue(maxsize=2)
    client = make_client(fake.url, None, queue=queue)
    await client.start()
    try:
        await wait_until(lambda: in_sync(client, fake), what="snapshot")
        for i in range(3):
            await fake.update(SOL, bids=[(f"149.0{i}0", "1.000")])
        await wait_until(lambda: in_sync(client, fake), what="deltas")
        assert queue.qsize() == 2 and client.stats.queue_drops >= 3
    finally:
        await client.stop()
