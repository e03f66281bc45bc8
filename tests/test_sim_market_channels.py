"""The simulator's ticker, market_stats and candle channels (venue.sim.market_channels).

A raw websocket client (aiohttp) subscribes as a Lighter client would; the shapes are checked
against the Lighter fixtures (every key of the fixture present, the same types) and the values
against the engine's book, the trades injected and the candle history. The market is scripted
(events at start-up, then `sim.inject`), so every published value is determined.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from venue import wire
from venue.sim import market_channels
from venue.sim.server import SimServer
from venue.sim.types import SourceBook, SourceTrade

T0_NS = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC
T0_MS = T0_NS // 1_000_000
MS = 1_000_000
RECV_TIMEOUT = 5.0

BOOK = SourceBook(ts_ns=T0_NS, bids=[(149.9, 10.0), (149.8, 20.0)], asks=[(150.1, 10.0), (150.2, 20.0)])
TRADE = SourceTrade(ts_ns=T0_NS + 5 * MS, price=150.1, size=0.5, taker_is_buyer=True)


@pytest.fixture
async def sim() -> Any:
    server = SimServer(source=[BOOK, TRADE], speed=0, ping_interval_s=30.0)
    async with server:
        await asyncio.wait_for(server.source_done.wait(), RECV_TIMEOUT)
        yield server


@pytest.fixture
async def ws(sim: SimServer) -> Any:
    async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url) as socket:
        yield socket


def fixture(folder: Path, name: str) -> dict[str, Any]:
    return json.loads((folder / name).read_text())


WIRE_TYPES = {"ticker": wire.TickerMsg, "candle": wire.CandleMsg, "market_stats": wire.MarketStatsMsg}


async def recv_type(ws: aiohttp.ClientWebSocketResponse, wanted: str, channel: str | None = None) -> dict[str, Any]:
    """The next message of a type (and channel); it must also decode as the system's own client
    decodes Lighter's (venue.wire), into the type of its channel."""
    while True:
        msg = await ws.receive(timeout=RECV_TIMEOUT)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        message = json.loads(msg.data)
        if message.get("type") == wanted and (channel is None or message.get("channel") == channel):
            kind = wanted.partition("/")[2]
            if kind in WIRE_TYPES:
                expected = wire.MarketStatsAllMsg if message["channel"] == "market_stats:all" else WIRE_TYPES[kind]
                assert isinstance(wire.decode_ws(msg.data), expected), (wanted, message["channel"])
            return message


async def subscribe(ws: aiohttp.ClientWebSocketResponse, channel: str) -> dict[str, Any]:
    await ws.send_json({"type": "subscribe", "channel": channel})
    return await recv_type(ws, "subscribed/" + channel.split("/")[0])


def assert_same_shape(ours: Any, theirs: Any, where: str) -> None:
    """Every key of Lighter's message is in ours, with a value of the same JSON type."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), f"{where}: {ours!r} is not an object"
        missing = set(theirs) - set(ours)
        assert not missing, f"{where}: keys missing from the simulator's message: {sorted(missing)}"
        for key, value in theirs.items():
            assert_same_shape(ours[key], value, f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), f"{where}: {ours!r} is not a list"
        if theirs and ours:
            assert_same_shape(ours[0], theirs[0], f"{where}[0]")
    elif isinstance(theirs, bool):
        assert isinstance(ours, bool), f"{where}: {ours!r}"
    elif isinstance(theirs, (int, float)):
        assert isinstance(ours, (int, float)) and not isinstance(ours, bool), f"{where}: {ours!r} is not a number"
    else:
        assert isinstance(ours, type(theirs)), f"{where}: {ours!r} is not a {type(theirs).__name__}"


def top(sim: SimServer) -> tuple[tuple[str, str], tuple[str, str]]:
    spec = sim.markets[2]
    bids, asks = sim.engine.book(2, 1)
    return ((spec.format_price(bids[0][0]), spec.format_size(bids[0][1])),
            (spec.format_price(asks[0][0]), spec.format_size(asks[0][1])))


def side(level: dict[str, str]) -> tuple[str, str]:
    return level["price"], level["size"]


def test_channel_names_parse_with_slashes_or_colons_and_refuse_the_rest():
    assert market_channels.parse("ticker/2") == ("ticker", 2, None)
    assert market_channels.parse("market_stats:all") == ("market_stats", None, None)
    assert market_channels.parse("candle/2/15m") == ("candle", 2, "15m")
    for bad in ("ticker/x", "ticker/2/1m", "candle/2", "candle/2/2m", "market_stats/", "ticker:all", 7):
        assert market_channels.parse(bad) is None, bad


async def test_ticker_follows_the_top_of_the_book(sim, ws, lighter_fixtures_dir):
    snapshot = await subscribe(ws, "ticker/2")
    assert_same_shape(snapshot, fixture(lighter_fixtures_dir, "ws_ticker_subscribed.json"), "subscribed/ticker")
    assert snapshot["channel"] == "ticker:2" and snapshot["ticker"]["s"] == "SOL"
    assert (side(snapshot["ticker"]["b"]), side(snapshot["ticker"]["a"])) == top(sim) == \
        (("149.900", "10.000"), ("150.100", "10.000"))

    # a deeper level moving is no ticker update; the top moving is
    await sim.inject(SourceBook(ts_ns=T0_NS + 10 * MS, bids=[(149.9, 10.0), (149.8, 5.0)],
                                asks=[(150.1, 10.0), (150.2, 20.0)]))
    await sim.inject(SourceBook(ts_ns=T0_NS + 20 * MS, bids=[(150.0, 3.0), (149.9, 10.0)],
                                asks=[(150.1, 10.0), (150.2, 20.0)]))
    update = await recv_type(ws, "update/ticker")
    assert_same_shape(update, fixture(lighter_fixtures_dir, "ws_ticker_update.json"), "update/ticker")
    assert (side(update["ticker"]["b"]), side(update["ticker"]["a"])) == top(sim) == \
        (("150.000", "3.000"), ("150.100", "10.000"))
    assert update["timestamp"] == T0_MS + 20 and update["ticker"]["last_updated_at"] == (T0_MS + 20) * 1000
    assert update["nonce"] == sim.books[2].offset


async def test_market_stats_single_and_all(sim, ws, lighter_fixtures_dir):
    snapshot = await subscribe(ws, "market_stats/2")
    assert_same_shape(snapshot["market_stats"], fixture(lighter_fixtures_dir, "ws_market_stats_update_single.json")
                      ["market_stats"], "market_stats")
    assert_same_shape(snapshot, fixture(lighter_fixtures_dir, "ws_market_stats_subscribed_single.json"),
                      "subscribed/market_stats")
    stats = snapshot["market_stats"]
    assert snapshot["channel"] == "market_stats:2"
    assert (stats["market_id"], stats["symbol"]) == (2, "SOL")
    assert (stats["index_price"], stats["mark_price"], stats["mid_price"]) == ("150.000", "150.000", "150.000")
    assert stats["last_trade_price"] == "150.100"
    assert stats["daily_base_token_volume"] == pytest.approx(0.5)
    assert stats["daily_quote_token_volume"] == pytest.approx(75.05)
    assert stats["funding_timestamp"] > sim.now_ms and stats["funding_timestamp"] % 3_600_000 == 0

    everything = await subscribe(ws, "market_stats/all")
    lighter_all = fixture(lighter_fixtures_dir, "ws_market_stats_update_all.json")
    assert_same_shape({k: v for k, v in everything.items() if k != "market_stats"},
                      {k: v for k, v in lighter_all.items() if k != "market_stats"}, "subscribed/market_stats all")
    assert_same_shape(everything["market_stats"]["2"], lighter_all["market_stats"]["0"], "market_stats all: 2")
    assert everything["channel"] == "market_stats:all" and everything["market_stats"]["2"] == stats

    await sim.inject(SourceTrade(ts_ns=T0_NS + 10 * MS, price=149.9, size=2.0, taker_is_buyer=False))
    single = await recv_type(ws, "update/market_stats", "market_stats:2")
    assert single["market_stats"]["last_trade_price"] == "149.900"
    assert single["market_stats"]["daily_base_token_volume"] == pytest.approx(2.5)
    whole = await recv_type(ws, "update/market_stats", "market_stats:all")
    assert whole["market_stats"]["2"] == single["market_stats"]


async def test_candles_snapshot_then_updates_of_the_forming_candle(sim, ws, lighter_fixtures_dir):
    snapshot = await subscribe(ws, "candle/2/1m")
    assert_same_shape(snapshot, fixture(lighter_fixtures_dir, "ws_candle_subscribed.json"), "subscribed/candle")
    assert snapshot["channel"] == "candle:2:1m"
    assert snapshot["candles"] == sim.candles[2].query("1m")
    [candle] = snapshot["candles"]
    assert candle["t"] == T0_MS - T0_MS % 60_000 and candle["c"] == 150.1 and candle["v"] == 0.5

    await sim.inject(SourceTrade(ts_ns=T0_NS + 10 * MS, price=150.4, size=1.0, taker_is_buyer=True))
    update = await recv_type(ws, "update/candle")
    assert_same_shape(update, fixture(lighter_fixtures_dir, "ws_candle_update.json"), "update/candle")
    [forming] = update["candles"]
    assert (forming["t"], forming["h"], forming["c"], forming["v"]) == (candle["t"], 150.4, 150.4, 1.5)

    # the next minute opens a new candle; the hourly channel sees both trades in one candle
    hourly = await subscribe(ws, "candle/2/1h")
    next_minute = T0_NS + 60_000 * MS
    await sim.inject(SourceTrade(ts_ns=next_minute, price=150.2, size=1.0, taker_is_buyer=False))
    updates = {}
    while len(updates) < 2:  # one update per subscribed resolution, in no promised order
        message = await recv_type(ws, "update/candle")
        assert message["channel"] not in updates
        updates[message["channel"]] = message
    minute, hour = updates["candle:2:1m"], updates["candle:2:1h"]
    assert minute["candles"][0]["t"] == candle["t"] + 60_000 and minute["candles"][0]["o"] == 150.2
    assert hour["candles"][0]["v"] == pytest.approx(2.5) and hourly["candles"][-1]["t"] == hour["candles"][0]["t"]


async def test_bad_channels_are_counted_and_refused_unsubscribe_stops_updates(sim, ws):
    before = sim.counters.ws_malformed
    for bad in ("ticker/99", "candle/2/3m", "market_stats/x"):
        await ws.send_json({"type": "subscribe", "channel": bad})
        error = await recv_type(ws, "error")
        assert bad in error["error"]["message"]
    assert sim.counters.ws_malformed == before + 3

    await subscribe(ws, "ticker/2")
    await ws.send_json({"type": "unsubscribe", "channel": "ticker/2"})
    assert (await recv_type(ws, "unsubscribed"))["channel"] == "ticker:2"
    await sim.inject(SourceBook(ts_ns=T0_NS + 10 * MS, bids=[(150.0, 1.0)], asks=[(150.1, 1.0)]))
    await ws.send_json({"type": "ping"})
    # the pong comes after anything the step queued: no ticker update in between
    while True:
        msg = json.loads((await ws.receive(timeout=RECV_TIMEOUT)).data)
        assert msg["type"] != "update/ticker"
        if msg["type"] == "pong":
            break


async def test_market_stats_show_the_simulators_funding_rate():
    server = SimServer(source=[BOOK, TRADE], speed=0, funding_rate_per_hour=0.0003)
    async with server, aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
        stats = (await subscribe(ws, "market_stats/2"))["market_stats"]
    assert (stats["funding_rate"], stats["current_funding_rate"]) == ("0.000300", "0.000300")
