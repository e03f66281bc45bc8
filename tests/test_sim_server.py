"""The paper venue's server: REST shapes, nonces, websocket streams, fault knobs and the CLI.

Every test drives the simulator with a scripted market (a list of events, applied at start-up at
maximum speed, then the book stays frozen) and injects further events with `sim.inject`, so what
the server publishes is fully determined. Waits are on messages or states, with timeouts.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import lighter.models as sdk
import pytest

from tests.sim_tokens import paper_token
from venue import codes
from venue.markets import SOL_DEFAULT, MarketSpec
from venue.sim.candle_history import CandleHistory
from venue.sim.server import SimServer
from venue.sim.types import SourceBook, SourceTrade

T0_NS = 1_700_000_000_000_000_000  # event time of the scripted market
T0_MS = T0_NS // 1_000_000
MS = 1_000_000
ACCOUNT = 7
KEY = 1
RECV_TIMEOUT = 5.0

BOOK = SourceBook(ts_ns=T0_NS, bids=[(149.9, 10.0), (149.8, 20.0)], asks=[(150.1, 10.0), (150.2, 20.0)])
TRADE = SourceTrade(ts_ns=T0_NS + 5 * MS, price=150.1, size=0.5, taker_is_buyer=True)


def load_fixture(folder: Path, name: str) -> dict[str, Any]:
    return json.loads((folder / name).read_text())


@pytest.fixture
async def sim() -> Any:
    server = SimServer(source=[BOOK, TRADE], speed=0, ping_interval_s=30.0)
    async with server:
        await asyncio.wait_for(server.source_done.wait(), RECV_TIMEOUT)
        yield server


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with http.get(url) as resp:
        return resp.status, json.loads(await resp.text())


def order_tx(nonce: int, client_order_index: int, *, price: int = 149_000, size: int = 1000, is_ask: int = 0,
             tif: int = 1, order_type: int = 0, expiry: int = 0, account: int = ACCOUNT) -> str:
    return json.dumps({
        "AccountIndex": account, "ApiKeyIndex": KEY, "MarketIndex": 2, "ClientOrderIndex": client_order_index,
        "BaseAmount": size, "Price": price, "IsAsk": is_ask, "Type": order_type, "TimeInForce": tif,
        "ReduceOnly": 0, "TriggerPrice": 0, "OrderExpiry": expiry, "ExpiredAt": 0, "Nonce": nonce,
        "Sig": "not-checked", "L2TxAttributes": None,
    })


async def send_tx(http: aiohttp.ClientSession, sim: SimServer, tx_type: int, tx_info: str) -> tuple[int, dict]:
    async with http.post(f"{sim.url}/api/v1/sendTx", data={"tx_type": str(tx_type), "tx_info": tx_info}) as resp:
        return resp.status, json.loads(await resp.text())


async def set_faults(http: aiohttp.ClientSession, sim: SimServer, **knobs: Any) -> dict[str, Any]:
    async with http.post(f"{sim.url}/sim/faults", json=knobs) as resp:
        assert resp.status == 200, await resp.text()
        return json.loads(await resp.text())


async def recv(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=RECV_TIMEOUT)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def recv_type(ws: aiohttp.ClientWebSocketResponse, wanted: str) -> dict[str, Any]:
    """The next message of a type, skipping server pings and other channels' traffic."""
    while True:
        message = await recv(ws)
        if message.get("type") == wanted:
            return message


async def subscribe(ws: aiohttp.ClientWebSocketResponse, channel: str) -> dict[str, Any]:
    frame = {"type": "subscribe", "channel": channel}
    if channel.startswith("account_all/"):  # private: the account's token
        frame["auth"] = paper_token(int(channel.split("/")[1]), KEY)
    await ws.send_json(frame)
    return await recv_type(ws, "subscribed/" + channel.split("/")[0])


def book_levels(side: list[dict[str, str]]) -> dict[str, str]:
    return {level["price"]: level["size"] for level in side}


def assert_keys_cover(ours: dict[str, Any], fixture: dict[str, Any], where: str) -> None:
    missing = set(fixture) - set(ours)
    assert not missing, f"{where}: keys of the Lighter fixture missing from the simulator's: {sorted(missing)}"


# =============================================================================================
# REST
# =============================================================================================


async def test_market_endpoints_match_fixtures_and_sdk_models(sim, http, lighter_fixtures_dir):
    status, details = await get_json(http, f"{sim.url}/api/v1/orderBookDetails?market_id=2")
    assert status == 200
    fixture = load_fixture(lighter_fixtures_dir, "http_order_book_details.json")
    assert_keys_cover(details, fixture, "orderBookDetails")
    assert_keys_cover(details["order_book_details"][0], fixture["order_book_details"][0], "orderBookDetails entry")
    parsed = sdk.OrderBookDetails.model_validate(details)  # strict: every field the SDK requires
    sol = parsed.order_book_details[0]
    assert (sol.market_id, sol.size_decimals, sol.price_decimals) == (2, 3, 3)
    assert (sol.min_base_amount, sol.min_quote_amount) == ("0.050", "10.000000")
    assert sol.last_trade_price == 150.1  # the scripted print

    status, books = await get_json(http, f"{sim.url}/api/v1/orderBooks")
    fixture = load_fixture(lighter_fixtures_dir, "http_order_books.json")
    assert_keys_cover(books["order_books"][0], fixture["order_books"][0], "orderBooks entry")
    assert sdk.OrderBooks.model_validate(books).order_books[0].symbol == "SOL"

    status, orders = await get_json(http, f"{sim.url}/api/v1/orderBookOrders?market_id=2&limit=5")
    fixture = load_fixture(lighter_fixtures_dir, "http_order_book_orders.json")
    assert_keys_cover(orders, fixture, "orderBookOrders")
    assert_keys_cover(orders["bids"][0], fixture["bids"][0], "orderBookOrders row")
    parsed_orders = sdk.OrderBookOrders.model_validate(orders)
    assert [(o.price, o.remaining_base_amount) for o in parsed_orders.bids] == [("149.900", "10.000"), ("149.800", "20.000")]
    assert [o.price for o in parsed_orders.asks] == ["150.100", "150.200"]

    status, trades = await get_json(http, f"{sim.url}/api/v1/recentTrades?market_id=2&limit=10")
    fixture = load_fixture(lighter_fixtures_dir, "http_recent_trades.json")
    assert_keys_cover(trades["trades"][0], fixture["trades"][0], "recentTrades row")
    parsed_trades = sdk.Trades.model_validate(trades)
    assert [(t.price, t.size, t.timestamp) for t in parsed_trades.trades] == [("150.100", "0.500", TRADE.ts_ns // MS)]

    status, candles = await get_json(
        http, f"{sim.url}/api/v1/candles?market_id=2&resolution=1m&start_timestamp=0&end_timestamp={T0_MS + 60_000}"
    )
    fixture = load_fixture(lighter_fixtures_dir, "http_candles.json")
    assert_keys_cover(candles, fixture, "candles")
    assert_keys_cover(candles["c"][0], fixture["c"][0], "candle")
    candle = sdk.Candles.model_validate(candles).c[0]
    assert (candle.t, candle.o, candle.c, candle.v) == (T0_MS - T0_MS % 60_000, 150.1, 150.1, 0.5)

    status, sticks = await get_json(http, f"{sim.url}/api/v1/candlesticks?market_id=2&resolution=1m")
    assert status == 200 and sticks["candlesticks"][0]["close"] == 150.1


async def test_account_endpoints_match_fixtures_and_sdk_models(sim, http, lighter_fixtures_dir):
    status, body = await send_tx(http, sim, 14, order_tx(0, 5))
    assert (status, body["code"]) == (200, codes.OK)
    sdk.RespSendTx.model_validate(body)

    status, nonce = await get_json(http, f"{sim.url}/api/v1/nextNonce?account_index={ACCOUNT}&api_key_index={KEY}")
    assert_keys_cover(nonce, load_fixture(lighter_fixtures_dir, "http_next_nonce.json"), "nextNonce")
    assert sdk.NextNonce.model_validate(nonce).nonce == 1

    status, accounts = await get_json(http, f"{sim.url}/api/v1/account?by=index&value={ACCOUNT}")
    fixture = load_fixture(lighter_fixtures_dir, "http_account.json")
    assert_keys_cover(accounts, fixture, "account")
    assert_keys_cover(accounts["accounts"][0], fixture["accounts"][0], "account entry")
    assert_keys_cover(accounts["accounts"][0]["positions"][0], fixture["accounts"][0]["positions"][0], "position")
    account = sdk.DetailedAccounts.model_validate(accounts).accounts[0]
    assert (account.index, account.collateral) == (ACCOUNT, "10000.000000")
    assert account.positions[0].open_order_count == 1

    status, active = await get_json(http, f"{sim.url}/api/v1/accountActiveOrders?account_index={ACCOUNT}&market_id=2"
                                  f"&auth={paper_token(ACCOUNT, KEY)}")
    fixture = load_fixture(lighter_fixtures_dir, "http_orders.json")
    assert_keys_cover(active["orders"][0], fixture["orders"][0], "order")
    order = sdk.Orders.model_validate(active).orders[0]
    assert (order.client_order_index, order.price, order.status, order.side) == (5, "149.000", "open", "buy")

    status, keys = await get_json(http, f"{sim.url}/api/v1/apikeys?account_index={ACCOUNT}&api_key_index={KEY}")
    assert sdk.AccountApiKeys.model_validate(keys).api_keys[0].nonce == 1


async def test_bad_query_parameters_are_counted_and_answered_400(sim, http):
    status, body = await get_json(http, f"{sim.url}/api/v1/orderBookOrders?market_id=99&limit=5")
    assert (status, body["code"]) == (400, codes.INVALID_MARKET)
    status, body = await get_json(http, f"{sim.url}/api/v1/nextNonce?account_index=x&api_key_index=1")
    assert (status, body["code"]) == (400, codes.INVALID_PARAM)
    assert sim.counters.malformed_requests == 2


# =============================================================================================
# transactions and nonces
# =============================================================================================


async def test_nonce_must_be_the_next_expected(sim, http):
    status, body = await send_tx(http, sim, 14, order_tx(3, 1))
    assert (status, body["code"]) == (400, codes.INVALID_NONCE)
    assert "invalid nonce" in body["message"]  # the SDK's nonce manager looks for these words
    assert sim.next_nonce(ACCOUNT, KEY) == 0 and not sim.engine.active_orders(ACCOUNT)

    assert (await send_tx(http, sim, 14, order_tx(0, 1)))[1]["code"] == codes.OK
    status, body = await send_tx(http, sim, 14, order_tx(0, 2))  # a replay of a used nonce
    assert (status, body["code"]) == (400, codes.INVALID_NONCE)
    # keys of one account count separately
    other_key = json.loads(order_tx(0, 3))
    other_key["ApiKeyIndex"] = KEY + 1
    assert (await send_tx(http, sim, 14, json.dumps(other_key)))[1]["code"] == codes.OK
    assert sim.next_nonce(ACCOUNT, KEY) == 1 and sim.next_nonce(ACCOUNT, KEY + 1) == 1
    assert sim.counters.invalid_nonce == 2


async def test_rejected_order_answers_200_with_its_code_and_consumes_the_nonce(sim, http):
    status, body = await send_tx(http, sim, 14, order_tx(0, 1, size=10))  # 0.010 SOL < 0.050 minimum
    assert (status, body["code"]) == (200, codes.INVALID_BASE_AMOUNT)
    assert "tx_hash" not in body
    status, body = await send_tx(http, sim, 14, order_tx(1, 2, price=150_100, tif=2))  # post-only crossing
    assert (status, body["code"]) == (200, codes.POST_ONLY_WOULD_CROSS)
    assert sim.next_nonce(ACCOUNT, KEY) == 2
    assert sim.counters.rejects == 2 and not sim.engine.active_orders(ACCOUNT)


async def test_malformed_transactions_are_refused_without_consuming_a_nonce(sim, http):
    status, body = await send_tx(http, sim, 14, '{"AccountIndex": 7}')
    assert (status, body["code"]) == (400, codes.INVALID_TX_INFO)
    status, body = await send_tx(http, sim, 99, order_tx(0, 1))
    assert (status, body["code"]) == (400, codes.INVALID_TX_TYPE)
    assert sim.next_nonce(ACCOUNT, KEY) == 0 and sim.counters.malformed_tx == 2


async def test_cancel_and_cancel_all_transactions(sim, http):
    for nonce, coi in enumerate((11, 12, 13)):
        assert (await send_tx(http, sim, 14, order_tx(nonce, coi, price=149_000 - coi)))[1]["code"] == codes.OK
    order_index = sim.engine.order_by_client_index(ACCOUNT, 11).order_index
    cancel = {"AccountIndex": ACCOUNT, "ApiKeyIndex": KEY, "MarketIndex": 2, "Index": order_index, "Nonce": 3}
    assert (await send_tx(http, sim, 15, json.dumps(cancel)))[1]["code"] == codes.OK
    status, body = await send_tx(http, sim, 15, json.dumps({**cancel, "Nonce": 4}))  # already canceled
    assert (status, body["code"]) == (200, codes.ORDER_NOT_FOUND)
    cancel_all = {"AccountIndex": ACCOUNT, "ApiKeyIndex": KEY, "TimeInForce": 0, "Time": 0, "Nonce": 5,
                  "L2TxAttributes": {"5": 2}}
    assert (await send_tx(http, sim, 16, json.dumps(cancel_all)))[1]["code"] == codes.OK
    assert not sim.engine.active_orders(ACCOUNT)
    assert sim.engine.order_by_client_index(ACCOUNT, 12).status == "canceled"


async def test_send_tx_batch_checks_consecutive_nonces_and_reports_each_result(sim, http):
    infos = [order_tx(0, 21), order_tx(1, 22, size=10), order_tx(2, 23)]
    data = {"tx_types": json.dumps([14, 14, 14]), "tx_infos": json.dumps(infos)}
    async with http.post(f"{sim.url}/api/v1/sendTxBatch", data=data) as resp:
        assert resp.status == 200
        body = json.loads(await resp.text())
    batch = sdk.RespSendTxBatch.model_validate(body)
    assert batch.code == codes.OK and len(batch.tx_hash) == 3
    assert [r["code"] for r in body["results"]] == [codes.OK, codes.INVALID_BASE_AMOUNT, codes.OK]
    assert sim.next_nonce(ACCOUNT, KEY) == 3

    gap = {"tx_types": json.dumps([14, 14]), "tx_infos": json.dumps([order_tx(3, 24), order_tx(5, 25)])}
    async with http.post(f"{sim.url}/api/v1/sendTxBatch", data=gap) as resp:
        assert resp.status == 400
        assert json.loads(await resp.text())["code"] == codes.INVALID_NONCE
    assert sim.next_nonce(ACCOUNT, KEY) == 3 and sim.engine.order_by_client_index(ACCOUNT, 24) is None


async def test_wall_clock_order_expiry_becomes_a_duration_in_event_time(sim, http):
    wall_ms = int(time.time() * 1000)
    status, body = await send_tx(http, sim, 14, order_tx(0, 31, expiry=wall_ms + 60_000))
    assert body["code"] == codes.OK
    order = sim.engine.order_by_client_index(ACCOUNT, 31)
    # the duration survives (give or take the request's own latency); the clock is event time
    assert abs(order.order_expiry_ms - (sim.now_ms + 60_000)) < 10_000
    await sim.inject(SourceBook(ts_ns=(order.order_expiry_ms + 1) * MS, bids=BOOK.bids, asks=BOOK.asks))
    assert order.status == "canceled-expired"
    assert sim.counters.expired == 1


async def test_scheduled_cancel_all_fires_in_event_time_and_can_be_aborted(sim, http):
    assert (await send_tx(http, sim, 14, order_tx(0, 51)))[1]["code"] == codes.OK
    wall_ms = int(time.time() * 1000)
    schedule = {"AccountIndex": ACCOUNT, "ApiKeyIndex": KEY, "TimeInForce": 1, "Time": wall_ms + 30_000, "Nonce": 1}
    assert (await send_tx(http, sim, 16, json.dumps(schedule)))[1]["code"] == codes.OK
    due_ms = sim.scheduled_cancel_time(ACCOUNT)
    assert abs(due_ms - (sim.now_ms + 30_000)) < 10_000
    await sim.inject(SourceBook(ts_ns=(due_ms - 1) * MS, bids=BOOK.bids, asks=BOOK.asks))
    assert len(sim.engine.active_orders(ACCOUNT)) == 1  # not yet
    await sim.inject(SourceBook(ts_ns=due_ms * MS, bids=BOOK.bids, asks=BOOK.asks))
    assert not sim.engine.active_orders(ACCOUNT)

    assert (await send_tx(http, sim, 14, order_tx(2, 52)))[1]["code"] == codes.OK
    assert (await send_tx(http, sim, 16, json.dumps({**schedule, "Time": wall_ms + 30_000, "Nonce": 3})))[1]["code"] == 200
    abort = {"AccountIndex": ACCOUNT, "ApiKeyIndex": KEY, "TimeInForce": 2, "Time": 0, "Nonce": 4}
    assert (await send_tx(http, sim, 16, json.dumps(abort)))[1]["code"] == codes.OK
    await sim.inject(SourceBook(ts_ns=(sim.now_ms + 3_600_000) * MS, bids=BOOK.bids, asks=BOOK.asks))
    assert sim.engine.order_by_client_index(ACCOUNT, 52).status == "open"


async def test_several_markets_each_driven_by_its_own_source(http):
    eth = MarketSpec(market_id=0, symbol="ETH", size_decimals=4, price_decimals=2, min_base_amount=0.005,
                     min_quote_amount=10.0)
    eth_book = SourceBook(ts_ns=T0_NS + 1, bids=[(2350.12, 1.5)], asks=[(2350.5, 2.25)])
    async with SimServer(source=[BOOK], markets=[SOL_DEFAULT, eth], market_id=2, sources={0: [eth_book]},
                         speed=0) as sim:
        await asyncio.wait_for(sim.source_done.wait(), RECV_TIMEOUT)
        status, details = await get_json(http, f"{sim.url}/api/v1/orderBookDetails")
        assert [d["symbol"] for d in details["order_book_details"]] == ["ETH", "SOL"]
        status, orders = await get_json(http, f"{sim.url}/api/v1/orderBookOrders?market_id=0&limit=5")
        assert [(o["price"], o["remaining_base_amount"]) for o in orders["asks"]] == [("2350.50", "2.2500")]
        status, orders = await get_json(http, f"{sim.url}/api/v1/orderBookOrders?market_id=2&limit=5")
        assert orders["bids"][0]["price"] == "149.900"
        async with http.ws_connect(sim.ws_url) as ws:
            snapshot = await subscribe(ws, "order_book/0")
            assert book_levels(snapshot["order_book"]["bids"]) == {"2350.12": "1.5000"}


async def test_speed_paces_events_in_event_time():
    later = SourceBook(ts_ns=T0_NS + 3_600 * 1_000 * MS, bids=[(149.5, 1.0)], asks=[(150.5, 1.0)])
    async with SimServer(source=[BOOK, later], speed=1.0) as sim, aiohttp.ClientSession() as http:
        async with http.ws_connect(sim.ws_url) as ws:  # a round trip: the loop has run meanwhile
            await recv(ws)
            await ws.send_json({"type": "ping"})
            await recv_type(ws, "pong")
        assert sim.now_ms == T0_MS and not sim.source_done.is_set()  # an hour of event time to wait
    async with SimServer(source=[BOOK, later], speed=1e7) as sim:  # the hour takes 0.4 ms of wall time
        await asyncio.wait_for(sim.source_done.wait(), RECV_TIMEOUT)
        assert sim.now_ms == later.ts_ns // MS
        assert sim.engine.book(2, 5) == ([(149_500, 1_000)], [(150_500, 1_000)])


async def test_malformed_source_events_are_counted_and_dropped(sim, http):
    nan = float("nan")
    await sim.inject(
        SourceBook(ts_ns=T0_NS + 10 * MS, bids=[(149.9, 10.0), (nan, 1.0), (149.7, -2.0)], asks=[(150.1, 10.0)]),
        SourceTrade(ts_ns=T0_NS + 11 * MS, price=nan, size=1.0, taker_is_buyer=True),
        SourceBook(ts_ns=T0_NS + 9 * MS, bids=[(1.0, 1.0)], asks=[(2.0, 1.0)]),  # event time going back
    )
    assert sim.counters.source_malformed == 4
    bids, asks = sim.engine.book(2, 10)
    assert (bids, asks) == ([(149_900, 10_000)], [(150_100, 10_000)])
    status, trades = await get_json(http, f"{sim.url}/api/v1/recentTrades?market_id=2&limit=10")
    assert len(trades["trades"]) == 1  # only the scripted print


def test_candle_history_prefers_trades_falls_back_to_mids_and_stays_bounded():
    history = CandleHistory(resolutions=("1m", "5m"), max_candles=3)
    history.on_mid(60_000, 100.0)
    history.on_mid(61_000, 101.0)
    history.on_trade(62_000, 100.5, 2.0, trade_id=9)
    history.on_mid(63_000, 99.0)  # mids no longer shape a candle that has trades
    history.on_mid(120_000, 98.0)  # a quiet minute: mids only, no volume
    [traded, quiet] = history.query("1m")
    assert (traded["o"], traded["h"], traded["l"], traded["c"], traded["v"], traded["V"], traded["i"]) == (
        100.5, 100.5, 100.5, 100.5, 2.0, 201.0, 9)
    assert (quiet["t"], quiet["o"], quiet["c"], quiet["v"]) == (120_000, 98.0, 98.0, 0.0)
    [five] = history.query("5m")
    assert (five["t"], five["v"], five["c"]) == (0, 2.0, 100.5)
    for minute in range(3, 8):
        history.on_mid(minute * 60_000, 97.0)
    assert [c["t"] for c in history.query("1m")] == [300_000, 360_000, 420_000]  # the newest 3
    assert [c["t"] for c in history.query("1m", start_ms=370_000, end_ms=400_000)] == [360_000]
    assert [c["t"] for c in history.query("1m", count_back=1)] == [420_000]


# =============================================================================================
# fault knobs over HTTP
# =============================================================================================


async def test_http_429_knob(sim, http):
    state = await set_faults(http, sim, http_429_fraction=1.0)
    assert state["http_429_fraction"] == 1.0
    status, body = await get_json(http, f"{sim.url}/api/v1/orderBooks")
    assert (status, body) == (429, {"code": codes.TOO_MANY_REQUESTS, "message": "too many requests"})
    status, body = await send_tx(http, sim, 14, order_tx(0, 1))
    assert status == 429 and sim.next_nonce(ACCOUNT, KEY) == 0  # refused before the nonce check
    status, _ = await get_json(http, f"{sim.url}/sim/state")
    assert status == 200  # the control endpoints are never throttled
    await set_faults(http, sim, http_429_fraction=0.0)
    assert (await get_json(http, f"{sim.url}/api/v1/orderBooks"))[0] == 200
    assert sim.counters.http_429 == 2


async def test_reject_knob_answers_the_configured_code(sim, http):
    await set_faults(http, sim, reject_fraction=1.0, reject_codes=[codes.INSUFFICIENT_MARGIN])
    status, body = await send_tx(http, sim, 14, order_tx(0, 1))
    assert (status, body["code"]) == (200, codes.INSUFFICIENT_MARGIN)
    assert sim.next_nonce(ACCOUNT, KEY) == 1 and not sim.engine.active_orders(ACCOUNT)
    assert sim.counters.injected_rejects == 1


async def test_delay_knob_holds_orders_back(sim, http):
    await set_faults(http, sim, delay_fraction=1.0, delay_ms=300)
    started = time.monotonic()
    status, body = await send_tx(http, sim, 14, order_tx(0, 1))
    assert body["code"] == codes.OK
    assert time.monotonic() - started >= 0.3  # a lower bound asyncio.sleep guarantees


async def test_bad_fault_bodies_are_refused(sim, http):
    for body in ({"http_429_fraction": 2}, {"no_such_knob": 1}, {"reject_codes": [200]}, {"skip_offset": -1}):
        async with http.post(f"{sim.url}/sim/faults", json=body) as resp:
            assert resp.status == 400, body
    assert sim.faults.config.http_429_fraction == 0.0


# =============================================================================================
# websocket
# =============================================================================================


async def test_order_book_snapshot_then_deltas_with_offsets_plus_one(sim, http, lighter_fixtures_dir):
    async with http.ws_connect(sim.ws_url) as ws:
        connected = await recv(ws)
        assert connected["type"] == "connected" and connected["session_id"]
        snapshot = await subscribe(ws, "order_book/2")
        fixture = load_fixture(lighter_fixtures_dir, "ws_order_book_subscribed.json")
        assert_keys_cover(snapshot, fixture, "subscribed/order_book")
        assert_keys_cover(snapshot["order_book"], fixture["order_book"], "subscribed/order_book state")
        assert snapshot["channel"] == "order_book:2"
        bids, asks = book_levels(snapshot["order_book"]["bids"]), book_levels(snapshot["order_book"]["asks"])
        assert bids == {"149.900": "10.000", "149.800": "20.000"}
        assert asks == {"150.100": "10.000", "150.200": "20.000"}
        offset = snapshot["offset"]

        # a new external book: one level resized, one removed, one added
        await sim.inject(SourceBook(ts_ns=T0_NS + 10 * MS, bids=[(149.9, 12.0)], asks=[(150.1, 10.0), (150.3, 5.0)]))
        update = await recv_type(ws, "update/order_book")
        assert_keys_cover(update, load_fixture(lighter_fixtures_dir, "ws_order_book_update.json"), "update")
        assert update["offset"] == update["order_book"]["offset"] == offset + 1
        assert book_levels(update["order_book"]["bids"]) == {"149.900": "12.000", "149.800": "0.000"}
        assert book_levels(update["order_book"]["asks"]) == {"150.200": "0.000", "150.300": "5.000"}

        # a simulator order shows in the merged book and its cancel removes it again
        async with http.post(f"{sim.url}/api/v1/sendTx", data={"tx_type": "14", "tx_info": order_tx(0, 1)}):
            pass
        update = await recv_type(ws, "update/order_book")
        assert update["offset"] == offset + 2
        assert book_levels(update["order_book"]["bids"]) == {"149.000": "1.000"}
        cancel = {"AccountIndex": ACCOUNT, "ApiKeyIndex": KEY, "MarketIndex": 2, "Index": 1, "Nonce": 1}
        assert (await send_tx(http, sim, 15, json.dumps(cancel)))[1]["code"] == codes.OK  # by client index
        update = await recv_type(ws, "update/order_book")
        assert update["offset"] == offset + 3
        assert book_levels(update["order_book"]["bids"]) == {"149.000": "0.000"}


async def test_skip_offset_knob_makes_a_gap_of_one(sim, http):
    async with http.ws_connect(sim.ws_url) as ws:
        offset = (await subscribe(ws, "order_book/2"))["offset"]
        await set_faults(http, sim, skip_offset=1)
        await sim.inject(SourceBook(ts_ns=T0_NS + 10 * MS, bids=[(149.9, 11.0)], asks=BOOK.asks))
        await sim.inject(SourceBook(ts_ns=T0_NS + 20 * MS, bids=[(149.9, 12.0)], asks=BOOK.asks))
        first = await recv_type(ws, "update/order_book")
        second = await recv_type(ws, "update/order_book")
        assert first["offset"] == offset + 2  # the skipped one
        assert first["order_book"]["begin_nonce"] != offset  # a nonce-chained client sees it too
        assert second["offset"] == offset + 3


async def test_freeze_knob_stops_the_feed_until_thawed(sim, http):
    async with http.ws_connect(sim.ws_url) as ws:
        offset = (await subscribe(ws, "order_book/2"))["offset"]
        await subscribe(ws, "trade/2")
        await set_faults(http, sim, freeze_feed=True)
        await sim.inject(SourceBook(ts_ns=T0_NS + 10 * MS, bids=[(149.9, 11.0)], asks=BOOK.asks))
        await sim.inject(SourceTrade(ts_ns=T0_NS + 11 * MS, price=150.1, size=0.2, taker_is_buyer=True))
        # anything published would be queued before the reply to this ping: the pong comes first
        await ws.send_json({"type": "ping"})
        assert (await recv(ws))["type"] == "pong"

        await set_faults(http, sim, freeze_feed=False)
        await sim.inject(SourceBook(ts_ns=T0_NS + 20 * MS, bids=[(149.9, 13.0)], asks=BOOK.asks))
        update = await recv(ws)
        assert update["type"] == "update/order_book" and update["offset"] == offset + 1
        # one delta catches up from the last published book, skipping the frozen states
        assert book_levels(update["order_book"]["bids"]) == {"149.900": "13.000", "149.800": "0.000"}


async def test_trade_channel_snapshot_and_updates(sim, http, lighter_fixtures_dir):
    async with http.ws_connect(sim.ws_url) as ws:
        snapshot = await subscribe(ws, "trade/2")
        fixture = load_fixture(lighter_fixtures_dir, "ws_trade_subscribed.json")
        assert_keys_cover(snapshot, fixture, "subscribed/trade")
        assert_keys_cover(snapshot["trades"][0], fixture["trades"][0], "trade")
        assert [t["price"] for t in snapshot["trades"]] == ["150.100"]

        await sim.inject(SourceTrade(ts_ns=T0_NS + 10 * MS, price=149.9, size=1.5, taker_is_buyer=False))
        update = await recv_type(ws, "update/trade")
        assert update["channel"] == "trade:2"
        [trade] = update["trades"]
        assert (trade["price"], trade["size"], trade["is_maker_ask"]) == ("149.900", "1.500", False)
        sdk.Trade.model_validate(trade)


async def test_account_all_channel_follows_orders_and_fills(sim, http, lighter_fixtures_dir):
    async with http.ws_connect(sim.ws_url) as ws:
        snapshot = await subscribe(ws, f"account_all/{ACCOUNT}")
        assert snapshot["channel"] == f"account_all:{ACCOUNT}" and snapshot["orders"] == {}
        assert snapshot["positions"]["2"]["position"] == "0.000"

        await send_tx(http, sim, 14, order_tx(0, 41, price=150_100, size=400, tif=0))  # IOC buy at the ask
        update = await recv_type(ws, "update/account_all")
        assert update["account"] == ACCOUNT
        position = update["positions"]["2"]
        assert_keys_cover(position, load_fixture(lighter_fixtures_dir, "ws_account_all_positions_update.json")
                          ["positions"]["0"], "position")
        assert (position["position"], position["sign"], position["avg_entry_price"]) == ("0.400", 1, "150.100")
        [order] = update["orders"]["2"]
        assert_keys_cover(order, load_fixture(lighter_fixtures_dir, "ws_account_orders_update.json")
                          ["orders"]["0"][0], "order")
        assert (order["client_order_index"], order["status"], order["filled_base_amount"]) == (41, "filled", "0.400")
        [trade] = update["trades"]["2"]
        assert_keys_cover(trade, load_fixture(lighter_fixtures_dir, "ws_account_all_trades_update.json")
                          ["trades"]["0"][0], "trade")
        assert (trade["bid_account_id"], trade["size"], trade["taker_position_size_before"]) == (ACCOUNT, "0.400",
                                                                                                  "0.000")

        # a resting bid that the external market later trades through fills as a maker
        await send_tx(http, sim, 14, order_tx(1, 42, price=149_950, size=300))
        opened = await recv_type(ws, "update/account_all")
        assert opened["orders"]["2"][0]["status"] == "open"
        await sim.inject(SourceTrade(ts_ns=T0_NS + 10 * MS, price=149.9, size=1.0, taker_is_buyer=False))
        filled = await recv_type(ws, "update/account_all")
        assert filled["orders"]["2"][0]["status"] == "filled"
        [fill] = filled["trades"]["2"]
        assert (fill["price"], fill["maker_position_size_before"], fill["is_maker_ask"]) == ("149.950", "0.400", False)
        assert filled["positions"]["2"]["position"] == "0.700"


async def test_ping_pong_server_pings_and_idle_close():
    async with SimServer(source=[BOOK], speed=0, ping_interval_s=0.05, idle_timeout_s=0.5) as sim, \
            aiohttp.ClientSession() as http, http.ws_connect(sim.ws_url) as ws:
        assert (await recv(ws))["type"] == "connected"
        await ws.send_json({"type": "ping"})
        assert (await recv_type(ws, "pong")) == {"type": "pong"}
        assert (await recv_type(ws, "ping")) == {"type": "ping"}  # the server's own keepalive
        # silent from now on: the server closes the connection after idle_timeout_s
        while True:
            msg = await ws.receive(timeout=RECV_TIMEOUT)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                break
            assert msg.type == aiohttp.WSMsgType.TEXT
        assert sim.publisher.closed_idle == 1


async def test_malformed_websocket_messages_are_counted_and_dropped(sim, http):
    async with http.ws_connect(sim.ws_url) as ws:
        await recv(ws)
        for bad in ("not json", "[1, 2]", json.dumps({"type": "subscribe", "channel": "order_book/99"}),
                    json.dumps({"type": "dance"})):
            await ws.send_str(bad)
            assert (await recv(ws))["type"] == "error"
        await ws.send_json({"type": "ping"})
        assert (await recv(ws))["type"] == "pong"  # still connected
    assert sim.counters.ws_malformed == 4


async def test_drop_connections_knob(sim, http):
    async with http.ws_connect(sim.ws_url) as ws1, http.ws_connect(sim.ws_url) as ws2:
        await subscribe(ws1, "order_book/2")
        await subscribe(ws2, "trade/2")
        state = await set_faults(http, sim, drop_connections_now=True)
        assert state["dropped_connections"] == 2
        for ws in (ws1, ws2):
            msg = await ws.receive(timeout=RECV_TIMEOUT)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    status, state = await get_json(http, f"{sim.url}/sim/state")
    assert state["counters"]["ws_dropped_fault"] == 2 and state["counters"]["ws_clients"] == 0


async def test_drop_probability_knob_drops_connections():
    faults_sim = SimServer(source=[BOOK], speed=0)
    async with faults_sim as sim, aiohttp.ClientSession() as http, http.ws_connect(sim.ws_url) as ws:
        await recv(ws)
        await set_faults(http, sim, drop_connections_prob_per_s=1.0)
        while True:  # the housekeeping tick (about once a second) drops it
            msg = await ws.receive(timeout=RECV_TIMEOUT)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
        assert sim.publisher.dropped_fault == 1


async def test_a_client_that_stops_reading_is_dropped_without_holding_back_others():
    """A reader that never reads fills its socket; the server drops it and keeps feeding the rest."""
    server = SimServer(source="synthetic", speed=0, max_client_queue=200, stall_timeout_s=1.0)
    async with server as sim, aiohttp.ClientSession() as http:
        reader, writer = await asyncio.open_connection(sim.host, sim.port, limit=1024)
        writer.transport.set_write_buffer_limits(0)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 4096)
        writer.write(
            b"GET /stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        payload = b'{"type":"subscribe","channel":"order_book/2"}'
        mask = b"\x01\x02\x03\x04"
        writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        await writer.drain()
        async with http.ws_connect(sim.ws_url) as ws:
            offset = (await subscribe(ws, "order_book/2"))["offset"]
            deadline = time.monotonic() + 60
            while sim.publisher.dropped_slow == 0:  # the healthy client keeps receiving meanwhile
                assert time.monotonic() < deadline, "the stuck client was never dropped"
                message = await recv_type(ws, "update/order_book")
                assert message["offset"] == offset + 1
                offset = message["offset"]
            assert len(sim.publisher.clients) == 1
        writer.close()


# =============================================================================================
# CLI
# =============================================================================================


def test_cli_port_zero_prints_the_url_and_serves():
    proc = subprocess.Popen(
        [sys.executable, "-m", "venue.sim", "--port", "0", "--speed", "max", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _readline_with_timeout(proc, 30.0)
        match = re.fullmatch(r"LIGHTER_SIM_URL=http://127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}/api/v1/orderBooks", timeout=10) as resp:
            assert json.loads(resp.read())["order_books"][0]["market_id"] == SOL_DEFAULT.market_id
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _readline_with_timeout(proc: subprocess.Popen[str], timeout: float) -> str:
    import threading

    stdout = proc.stdout
    assert stdout is not None, "the simulator was started without stdout=PIPE"
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert result, "the simulator printed no URL in time"
    return result[0]


def test_cli_refuses_a_non_loopback_host():
    done = subprocess.run(
        [sys.executable, "-m", "venue.sim", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "loopback" in lines[0]
    assert done.stdout == ""


async def test_a_simulator_started_again_never_reuses_a_trade_id(http):
    # storage keeps fills unique on the trade id: a paper venue restarted by its supervisor must
    # not hand out ids it handed out before, or the fills after the restart would be dropped
    trade_ids = []
    for _ in range(2):
        server = SimServer(source=[BOOK, TRADE], speed=0, ping_interval_s=30.0)
        async with server:
            await asyncio.wait_for(server.source_done.wait(), RECV_TIMEOUT)
            async with http.ws_connect(server.ws_url) as ws:
                await subscribe(ws, f"account_all/{ACCOUNT}")
                await send_tx(http, server, 14, order_tx(0, 41, price=150_100, size=400, tif=0))
                update = await recv_type(ws, "update/account_all")
                [trade] = update["trades"]["2"]
                trade_ids.append(trade["trade_id"])
    assert trade_ids[1] > trade_ids[0], trade_ids


async def test_the_source_is_read_off_the_event_loop():
    # a file source takes seconds to read on a busy machine; meanwhile the loop must answer (the
    # supervisor's heartbeat): this source is read only once a task on the loop has run
    import threading

    loop_ran = threading.Event()

    class SlowSource:
        def events(self) -> list[Any]:
            assert loop_ran.wait(RECV_TIMEOUT), "the source was read on the event loop, which stood still"
            return [BOOK, TRADE]

    async def on_the_loop() -> None:
        loop_ran.set()

    server = SimServer(source=SlowSource(), speed=0, ping_interval_s=30.0)
    task = asyncio.ensure_future(on_the_loop())
    async with server:
        await asyncio.wait_for(server.source_done.wait(), RECV_TIMEOUT)
    await task
