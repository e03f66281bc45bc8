"""OrderClient (real lighter-sdk signing) and LighterRest against a scripted Lighter-like server.

The server below speaks the two endpoints the order side needs (nextNonce, sendTx) the way
the simulator (venue/sim) does: nonces per API key counted strictly up by one; a wrong nonce is
HTTP 400 {"code": 21104, "message": "invalid nonce"}; a transaction refused at the gate (HTTP
4xx, 429) leaves the nonce unused, one refused in an HTTP-200 body has consumed it. Each sendTx
answer can be scripted (a refusal code in an HTTP-200 body, 400, 429, 5xx, a dropped connection),
and every arrival is recorded with its decoded tx_info so tests assert on what reached the venue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lighter
import msgspec
import pytest
from aiohttp import web
from loguru import logger

from venue import codes
from venue.markets import SOL_DEFAULT, MarketSpec, OrderRefused
from venue.order_client import (
    MAX_CLIENT_ORDER_INDEX,
    NO_CLIENT_ORDER_INDEX,
    TX_CANCEL_ALL_ORDERS,
    TX_CANCEL_ORDER,
    TX_CREATE_ORDER,
    OrderClient,
    TxAccepted,
    TxOutcome,
    TxRejected,
    client_order_index_for,
)
from venue.ratelimit import RateLimiter
from venue.rest import LighterRest, VenueError

ACCOUNT = 4242
KEY_INDEX = 3
FIRST_NONCE = 1000
SOL = 2
MARKETS = {SOL: SOL_DEFAULT}


@dataclass
class Arrival:
    tx_type: int
    info: dict[str, Any]
    answer: str


@dataclass
class FakeLighter:
    """A scripted venue: `script` holds the answers of the next sendTx calls (default "accept")."""

    expected: dict[tuple[int, int], int] = field(default_factory=dict)
    script: deque[Any] = field(default_factory=deque)
    arrivals: list[Arrival] = field(default_factory=list)
    consumed: list[int] = field(default_factory=list)  # nonces the venue sequenced, in order
    nonce_calls: int = 0
    headers_seen: list[dict[str, str]] = field(default_factory=list)
    overrides: dict[str, str] = field(default_factory=dict)  # endpoint -> fixture file, "429", "refused"
    fixtures: Path | None = None
    url: str = ""

    def next_nonce_of(self, account: int = ACCOUNT, key: int = KEY_INDEX) -> int:
        return self.expected.setdefault((account, key), FIRST_NONCE)

    def accepted_nonces(self) -> list[int]:
        return [a.info["Nonce"] for a in self.arrivals if a.answer == "accept"]

    async def next_nonce(self, request: web.Request) -> web.Response:
        self.nonce_calls += 1
        account = int(request.query["account_index"])
        key = int(request.query["api_key_index"])
        return web.json_response({"code": 200, "nonce": self.next_nonce_of(account, key)})

    async def send_tx(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        tx_type = int(str(form["tx_type"]))
        info = json.loads(str(form["tx_info"]))
        action = self.script.popleft() if self.script else "accept"
        self.arrivals.append(Arrival(tx_type, info, str(action)))
        if action == "429":  # the gateway refuses before anything is sequenced
            return web.json_response(
                {"code": codes.TOO_MANY_REQUESTS, "message": "too many requests"}, status=429
            )
        if action == "500":
            return web.Response(status=502, text="<html>bad gateway</html>")
        if isinstance(action, tuple):  # ("400", code): a malformed transaction, refused at the gate
            return web.json_response({"code": action[1], "message": codes.message_for(action[1])}, status=400)
        key = (info["AccountIndex"], info["ApiKeyIndex"])
        if action == "bad-nonce" or info["Nonce"] != self.next_nonce_of(*key):
            self.arrivals[-1].answer = "invalid nonce"
            return web.json_response({"code": codes.INVALID_NONCE, "message": "invalid nonce"}, status=400)
        self.expected[key] += 1  # sequenced: the nonce is spent whatever happens next
        self.consumed.append(info["Nonce"])
        if isinstance(action, int):  # refused after sequencing (as the simulator's engine does)
            return web.json_response({"code": action, "message": codes.message_for(action)})
        if action == "accept-then-drop":  # sequenced, but the answer never arrives
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        assert action == "accept", action
        return web.json_response(
            {"code": 200, "tx_hash": f"hash-{info['Nonce']}", "predicted_execution_time_ms": 1}
        )

    async def fixture(self, request: web.Request) -> web.Response:
        self.headers_seen.append(dict(request.headers))
        name = request.match_info["name"]
        override = self.overrides.get(name)
        if override == "429":
            return web.json_response({"code": 23000, "message": "too many requests"}, status=429)
        if override == "refused":
            return web.json_response({"code": 21600, "message": "invalid market index"})
        if override == "garbage":
            return web.Response(text="<html>not json</html>")
        if override == "nan-price":
            assert self.fixtures is not None
            payload = json.loads((self.fixtures / "http_recent_trades.json").read_text())
            payload["trades"][0]["price"] = "NaN"
            return web.json_response(payload)
        assert self.fixtures is not None
        files = {
            "orderBookDetails": "http_order_book_details.json",
            "recentTrades": "http_recent_trades.json",
            "account": "http_account.json",
            "accountActiveOrders": "http_orders.json",
            "candles": "http_candles.json",
            "orderBookOrders": "http_order_book_orders.json",
        }
        path = self.fixtures / (override or files[name])
        return web.Response(body=path.read_bytes(), content_type="application/json")


@pytest.fixture
async def venue(lighter_fixtures_dir: Path) -> AsyncIterator[FakeLighter]:
    fake = FakeLighter(fixtures=lighter_fixtures_dir)
    app = web.Application()
    app.router.add_get("/api/v1/nextNonce", fake.next_nonce)
    app.router.add_post("/api/v1/sendTx", fake.send_tx)
    app.router.add_get("/api/v1/{name}", fake.fixture)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


@pytest.fixture(scope="module")
def private_key() -> str:
    key, _public, err = lighter.create_api_key()
    assert err is None and key
    return key


@pytest.fixture
async def client(venue: FakeLighter, private_key: str) -> AsyncIterator[OrderClient]:
    c = await OrderClient.create(venue.url, ACCOUNT, KEY_INDEX, private_key, MARKETS, rate_limit=None)
    yield c
    await c.close()


def accepted(outcome: TxOutcome) -> TxAccepted:
    assert isinstance(outcome, TxAccepted), outcome
    return outcome


def rejected(outcome: TxOutcome) -> TxRejected:
    assert isinstance(outcome, TxRejected), outcome
    return outcome


# --- client order indices ---------------------------------------------------------------------


def test_client_order_index_is_deterministic_and_bounded() -> None:
    # a golden value: the same in every process and every Python (no salted hash())
    assert client_order_index_for("mm-sol", 1) == 222487895867393
    assert client_order_index_for("mm-sol", 1) == client_order_index_for("mm-sol", 1)
    assert client_order_index_for("mm-sol", 2) == client_order_index_for("mm-sol", 1) + 1
    assert client_order_index_for("trend", 1) != client_order_index_for("mm-sol", 1)
    for strategy in ("", "a", "mm-sol", "x" * 200, "ünïcode"):
        for seq in (0, 1, 2**32 - 1):
            index = client_order_index_for(strategy, seq)
            assert 0 < index <= MAX_CLIENT_ORDER_INDEX
    with pytest.raises(ValueError):
        client_order_index_for("mm-sol", 2**32)
    with pytest.raises(ValueError):
        client_order_index_for("mm-sol", -1)


# --- scaling and pre-trade checks ---------------------------------------------------------------


async def test_limit_orders_scale_exactly_and_never_more_aggressively(
    client: OrderClient, venue: FakeLighter
) -> None:
    buy = accepted(await client.limit_order(SOL, False, 0.1, 150.1234, tif="gtt", client_order_index=11))
    sell = accepted(
        await client.limit_order(SOL, True, 0.1239, 150.1234, tif="post_only", client_order_index=12)
    )
    ioc = accepted(await client.limit_order(SOL, False, 0.2, 150.0, tif="ioc", client_order_index=13))
    b, s, i = (a.info for a in venue.arrivals)
    assert (b["BaseAmount"], b["Price"], b["IsAsk"], b["Type"], b["TimeInForce"]) == (100, 150123, 0, 0, 1)
    assert (s["BaseAmount"], s["Price"], s["IsAsk"], s["Type"], s["TimeInForce"]) == (123, 150124, 1, 0, 2)
    assert (i["BaseAmount"], i["Price"], i["TimeInForce"], i["OrderExpiry"]) == (200, 150000, 0, 0)
    assert b["OrderExpiry"] > 0  # the SDK turned "28-day default" (-1) into a timestamp
    assert [a.info["ClientOrderIndex"] for a in venue.arrivals] == [11, 12, 13]
    assert all(
        a.info["AccountIndex"] == ACCOUNT and a.info["ApiKeyIndex"] == KEY_INDEX for a in venue.arrivals
    )
    assert [buy.client_order_index, sell.client_order_index, ioc.client_order_index] == [11, 12, 13]
    assert buy.tx_hash == f"hash-{buy.nonce}" and buy.tx_type == TX_CREATE_ORDER
    assert buy.ts_sent_ns <= buy.ts_ack_ns


async def test_explicit_gtt_expiry_is_sent(client: OrderClient, venue: FakeLighter) -> None:
    expiry = 1_900_000_000_000
    accepted(await client.limit_order(SOL, False, 0.1, 150.0, expiry_ms=expiry, client_order_index=1))
    assert venue.arrivals[0].info["OrderExpiry"] == expiry


async def test_market_order_worst_price_rounds_outward(client: OrderClient, venue: FakeLighter) -> None:
    accepted(await client.market_order(SOL, False, 0.1, 150.1234, client_order_index=21))
    accepted(await client.market_order(SOL, True, 0.1, 150.1234, reduce_only=True, client_order_index=22))
    buy, sell = (a.info for a in venue.arrivals)
    assert (buy["Price"], buy["Type"], buy["TimeInForce"], buy["OrderExpiry"]) == (150124, 1, 0, 0)
    assert (sell["Price"], sell["IsAsk"], sell["ReduceOnly"]) == (150123, 1, 1)


@pytest.mark.parametrize(
    ("size", "price", "code", "units"),
    [
        (0.04, 150.0, codes.INVALID_BASE_AMOUNT, (40, 150000)),  # below 0.050 SOL
        (0.0499, 150.0, codes.INVALID_BASE_AMOUNT, (49, 150000)),  # rounds DOWN to 49 units
        (0.0, 150.0, codes.INVALID_BASE_AMOUNT, (0, 150000)),
        (0.05, 100.0, codes.NOTIONAL_TOO_SMALL, (50, 100000)),  # 5 USDC < 10
        (0.1, 0.0, codes.INVALID_PRICE, (100, 0)),
        (float("nan"), 150.0, codes.INVALID_BASE_AMOUNT, None),  # refused while scaling
        (0.1, float("inf"), codes.INVALID_PRICE, None),
    ],
)
async def test_below_minimum_is_refused_before_signing(
    client: OrderClient,
    venue: FakeLighter,
    size: float,
    price: float,
    code: int,
    units: tuple[int, int] | None,
) -> None:
    outcome = rejected(await client.limit_order(SOL, False, size, price, client_order_index=5))
    assert (outcome.code, outcome.sent, outcome.client_order_index) == (code, False, 5)
    if units is not None:  # the reason is MarketSpec.check_order's own message
        with pytest.raises(OrderRefused) as refused:
            SOL_DEFAULT.check_order(*units)
        assert outcome.reason == str(refused.value)
    else:
        assert outcome.reason
    assert venue.arrivals == [] and venue.nonce_calls == 0  # nothing signed, nothing sent


async def test_market_order_below_minimum_is_refused(client: OrderClient, venue: FakeLighter) -> None:
    outcome = rejected(await client.market_order(SOL, True, 0.05, 150.0, client_order_index=9))
    assert outcome.code == codes.NOTIONAL_TOO_SMALL  # 0.05 * 150 = 7.5 < 10
    assert "notional" in outcome.reason
    assert not outcome.sent and venue.arrivals == []


async def test_bad_arguments_become_typed_refusals(client: OrderClient, venue: FakeLighter) -> None:
    unknown = rejected(await client.limit_order(99, False, 1.0, 150.0, client_order_index=1))
    bad_tif = rejected(await client.limit_order(SOL, False, 1.0, 150.0, tif="fok", client_order_index=1))  # type: ignore[arg-type]
    ioc_expiry = rejected(
        await client.limit_order(SOL, False, 1.0, 150.0, tif="ioc", expiry_ms=1, client_order_index=1)
    )
    too_big = rejected(await client.limit_order(SOL, False, 1.0, 150.0, client_order_index=2**48))
    cancel_unknown = rejected(await client.cancel(99, 5))
    assert unknown.code == codes.INVALID_MARKET
    assert bad_tif.code == ioc_expiry.code == too_big.code == codes.INVALID_PARAM
    assert cancel_unknown.code == codes.INVALID_MARKET and cancel_unknown.tx_type == TX_CANCEL_ORDER
    assert venue.arrivals == []


async def test_a_size_the_signer_cannot_encode_is_refused_unsent(
    client: OrderClient, venue: FakeLighter
) -> None:
    outcome = rejected(await client.limit_order(SOL, False, 1e20, 150.0, client_order_index=4))
    assert (outcome.code, outcome.sent) == (codes.INVALID_TX_INFO, False)
    assert outcome.reason.startswith("signing failed")
    assert venue.arrivals == []
    assert (
        accepted(await client.limit_order(SOL, False, 0.1, 150.0, client_order_index=5)).nonce == FIRST_NONCE
    )


async def test_orders_without_an_index_get_distinct_ones(client: OrderClient, venue: FakeLighter) -> None:
    first = accepted(await client.limit_order(SOL, False, 0.1, 150.0))
    second = accepted(await client.limit_order(SOL, False, 0.1, 150.0))
    assert first.client_order_index != second.client_order_index
    assert 0 < first.client_order_index <= MAX_CLIENT_ORDER_INDEX
    assert [a.info["ClientOrderIndex"] for a in venue.arrivals] == [
        first.client_order_index,
        second.client_order_index,
    ]


# --- venue answers, nonces --------------------------------------------------------------------------


async def test_scripted_answers_are_typed_and_nonces_gapless(client: OrderClient, venue: FakeLighter) -> None:
    venue.script.extend(
        ["accept", codes.POST_ONLY_WOULD_CROSS, "accept", "429", ("400", codes.INVALID_TX_INFO), "accept"]
    )
    outcomes = [
        await client.limit_order(SOL, False, 0.1, 150.0, tif="post_only", client_order_index=100 + i)
        for i in range(6)
    ]
    a0, r1, a2, r3, r4, a5 = outcomes
    assert accepted(a0).nonce == FIRST_NONCE
    cross = rejected(r1)
    assert (cross.code, cross.sent, cross.http_status, cross.client_order_index) == (21720, True, 200, 101)
    assert cross.reason == codes.message_for(21720)
    assert accepted(a2).nonce == FIRST_NONCE + 2  # the refused order had spent FIRST_NONCE + 1
    limited = rejected(r3)
    assert (limited.code, limited.http_status, limited.sent) == (codes.TOO_MANY_REQUESTS, 429, True)
    malformed = rejected(r4)
    assert (malformed.code, malformed.http_status, malformed.sent) == (codes.INVALID_TX_INFO, 400, True)
    assert accepted(a5).nonce == FIRST_NONCE + 3  # the gate refusals gave their nonce back
    assert [a.info["Nonce"] for a in venue.arrivals] == [1000, 1001, 1002, 1003, 1003, 1003]
    assert venue.consumed == [1000, 1001, 1002, 1003]  # gapless and increasing at the venue
    assert venue.nonce_calls == 1  # fetched once, then counted locally
    assert not any(a.answer == "invalid nonce" for a in venue.arrivals)


async def test_invalid_nonce_hard_refreshes_and_retries_with_the_same_index(
    client: OrderClient, venue: FakeLighter
) -> None:
    accepted(await client.limit_order(SOL, False, 0.1, 150.0, client_order_index=1))
    venue.expected[(ACCOUNT, KEY_INDEX)] += 7  # another process used the key meanwhile
    coi = client_order_index_for("mm-sol", 42)
    outcome = accepted(await client.limit_order(SOL, True, 0.1, 151.0, client_order_index=coi))
    first_try, retry = venue.arrivals[-2:]
    assert first_try.answer == "invalid nonce" and retry.answer == "accept"
    assert first_try.info["ClientOrderIndex"] == retry.info["ClientOrderIndex"] == coi
    assert (first_try.info["Nonce"], retry.info["Nonce"]) == (FIRST_NONCE + 1, FIRST_NONCE + 8)
    assert outcome.nonce == FIRST_NONCE + 8 and outcome.client_order_index == coi
    assert venue.nonce_calls == 2  # the first fetch and the hard refresh
    accepted(await client.limit_order(SOL, True, 0.1, 151.0, client_order_index=coi + 1))
    assert venue.arrivals[-1].info["Nonce"] == FIRST_NONCE + 9  # counted locally again


async def test_invalid_nonce_is_retried_only_once(client: OrderClient, venue: FakeLighter) -> None:
    venue.script.extend(["bad-nonce", "bad-nonce", "bad-nonce"])
    outcome = rejected(await client.limit_order(SOL, False, 0.1, 150.0, client_order_index=77))
    assert (outcome.code, outcome.sent, outcome.http_status) == (codes.INVALID_NONCE, True, 400)
    assert len(venue.arrivals) == 2
    assert {a.info["ClientOrderIndex"] for a in venue.arrivals} == {77}


async def test_429_is_retried_after_backoff_when_asked(venue: FakeLighter, private_key: str) -> None:
    c = await OrderClient.create(
        venue.url, ACCOUNT, KEY_INDEX, private_key, MARKETS, rate_limit=None, retry_429=2, backoff_429_s=0.0
    )
    try:
        venue.script.extend(["429", "429"])
        outcome = accepted(await c.limit_order(SOL, False, 0.1, 150.0, client_order_index=5))
        assert [a.answer for a in venue.arrivals] == ["429", "429", "accept"]
        assert {a.info["Nonce"] for a in venue.arrivals} == {FIRST_NONCE} == {outcome.nonce}
        venue.script.extend(["429", "429", "429"])
        gave_up = rejected(await c.limit_order(SOL, False, 0.1, 150.0, client_order_index=6))
        assert gave_up.code == codes.TOO_MANY_REQUESTS and len(venue.arrivals) == 6
    finally:
        await c.close()


async def test_a_dropped_answer_is_fate_unknown_and_refreshes_the_nonce(
    client: OrderClient, venue: FakeLighter
) -> None:
    venue.script.append("accept-then-drop")
    lost = rejected(await client.limit_order(SOL, False, 0.1, 150.0, client_order_index=8))
    assert (lost.code, lost.sent, lost.http_status) == (-1, True, 0)
    assert lost.reason == "ServerDisconnectedError"  # the exception's class name, nothing else
    nxt = accepted(await client.limit_order(SOL, False, 0.1, 150.0, client_order_index=9))
    assert nxt.nonce == FIRST_NONCE + 1  # asked the venue again instead of reusing 1000
    assert venue.nonce_calls == 2


async def test_a_5xx_is_fate_unknown(client: OrderClient, venue: FakeLighter) -> None:
    venue.script.append("500")
    outcome = rejected(await client.limit_order(SOL, False, 0.1, 150.0, client_order_index=8))
    assert (outcome.code, outcome.sent, outcome.http_status) == (-1, True, 502)
    accepted(await client.limit_order(SOL, False, 0.1, 150.0, client_order_index=9))
    assert venue.nonce_calls == 2


async def test_no_venue_means_not_sent(private_key: str, venue: FakeLighter) -> None:
    # a port that was just listening and is closed now: connection refused
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    await runner.cleanup()
    c = await OrderClient.create(f"http://127.0.0.1:{port}", ACCOUNT, KEY_INDEX, private_key, MARKETS)
    try:
        outcome = rejected(await c.limit_order(SOL, False, 0.1, 150.0, client_order_index=3))
        assert (outcome.code, outcome.sent) == (-1, False)
        assert outcome.reason == "no nonce: ClientConnectorError"
    finally:
        await c.close()


async def test_concurrent_orders_reach_the_venue_in_nonce_order(
    client: OrderClient, venue: FakeLighter
) -> None:
    outcomes = await asyncio.gather(
        *(client.limit_order(SOL, i % 2 == 0, 0.1, 150.0, client_order_index=500 + i) for i in range(40))
    )
    assert all(isinstance(o, TxAccepted) for o in outcomes)
    arrived = [a.info["Nonce"] for a in venue.arrivals]
    assert arrived == list(range(FIRST_NONCE, FIRST_NONCE + 40))  # one at a time, in order, no gaps
    assert sorted(a.info["ClientOrderIndex"] for a in venue.arrivals) == list(range(500, 540))
    assert venue.nonce_calls == 1


async def test_cancel_and_cancel_all(client: OrderClient, venue: FakeLighter) -> None:
    one = accepted(await client.cancel(SOL, 281476929510110))
    everything = accepted(await client.cancel_all())
    cancel, cancel_all = venue.arrivals
    assert cancel.tx_type == TX_CANCEL_ORDER and cancel_all.tx_type == TX_CANCEL_ALL_ORDERS
    assert (cancel.info["MarketIndex"], cancel.info["Index"]) == (SOL, 281476929510110)
    assert (cancel_all.info["TimeInForce"], cancel_all.info["Time"]) == (0, 0)
    assert (one.tx_type, everything.tx_type) == (TX_CANCEL_ORDER, TX_CANCEL_ALL_ORDERS)
    assert one.client_order_index == everything.client_order_index == NO_CLIENT_ORDER_INDEX
    assert (one.nonce, everything.nonce) == (FIRST_NONCE, FIRST_NONCE + 1)


async def test_the_rate_limiter_delays_the_61st_order(venue: FakeLighter, private_key: str) -> None:
    now = [0.0]
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(60, 60.0, clock=lambda: now[0], sleep=fake_sleep)
    c = await OrderClient.create(venue.url, ACCOUNT, KEY_INDEX, private_key, MARKETS, rate_limit=limiter)
    try:
        for i in range(60):
            accepted(await c.limit_order(SOL, False, 0.1, 150.0, client_order_index=i))
        assert sleeps == []
        accepted(await c.limit_order(SOL, False, 0.1, 150.0, client_order_index=60))
        assert sleeps == [pytest.approx(60.0)]
        assert len(venue.arrivals) == 61
    finally:
        await c.close()


async def test_default_rate_limits_are_per_client(venue: FakeLighter, private_key: str) -> None:
    a = await OrderClient.create(venue.url, ACCOUNT, KEY_INDEX, private_key, MARKETS)
    b = await OrderClient.create(venue.url, ACCOUNT + 1, KEY_INDEX, private_key, MARKETS)
    try:
        assert a.rate_limit is not None and b.rate_limit is not None
        assert a.rate_limit is not b.rate_limit
        assert (a.rate_limit.max_requests, a.rate_limit.per_seconds) == (60, 60.0)
    finally:
        await a.close()
        await b.close()


async def test_outcomes_round_trip_through_msgspec() -> None:
    outcomes: list[TxOutcome] = [
        TxAccepted(client_order_index=1, tx_hash="h", nonce=2, ts_sent_ns=3, ts_ack_ns=4),
        TxRejected(client_order_index=1, code=21720, reason="cross", sent=True, http_status=200),
    ]
    raw = msgspec.msgpack.encode(outcomes)
    assert msgspec.msgpack.decode(raw, type=list[TxOutcome]) == outcomes


async def test_closing_while_calls_wait_for_the_rate_limiter(venue: FakeLighter, private_key: str) -> None:
    now = [0.0]
    gate = asyncio.Event()

    async def held_sleep(seconds: float) -> None:
        await gate.wait()  # released by the test, after the client is closed
        now[0] += seconds

    limiter = RateLimiter(1, 60.0, clock=lambda: now[0], sleep=held_sleep)
    c = await OrderClient.create(venue.url, ACCOUNT, KEY_INDEX, private_key, MARKETS, rate_limit=limiter)
    accepted(await c.limit_order(SOL, False, 0.1, 150.0, client_order_index=1))
    waiting = asyncio.create_task(c.limit_order(SOL, False, 0.1, 150.0, client_order_index=2))
    await asyncio.sleep(0)  # it runs up to the limiter's sleep and parks there
    await c.close()
    gate.set()
    outcome = rejected(await waiting)
    assert (outcome.code, outcome.sent, outcome.reason) == (-1, False, "OrderClient closed")
    assert len(venue.arrivals) == 1


async def test_a_closed_client_refuses_to_send(venue: FakeLighter, private_key: str) -> None:
    c = await OrderClient.create(venue.url, ACCOUNT, KEY_INDEX, private_key, MARKETS, rate_limit=None)
    await c.close()
    await c.close()  # idempotent
    with pytest.raises(RuntimeError):
        await c.limit_order(SOL, False, 0.1, 150.0, client_order_index=1)


# --- secrets -------------------------------------------------------------------------------------


class Vault:
    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Vault(***)"


async def test_the_private_key_never_appears(
    venue: FakeLighter, private_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    bare = private_key.removeprefix("0x")
    captured: list[str] = []
    sink = logger.add(
        captured.append, level="TRACE", backtrace=True, diagnose=True, format="{message} {extra}"
    )
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    try:
        c = await OrderClient.create(venue.url, ACCOUNT, KEY_INDEX, private_key, MARKETS, rate_limit=None)
        texts += [repr(c), str(c), f"{c}", repr(c.nonces)]
        venue.script.extend(["accept", codes.POST_ONLY_WOULD_CROSS, "bad-nonce", "accept-then-drop", "500"])
        for i in range(5):
            texts.append(repr(await c.limit_order(SOL, False, 0.1, 150.0, client_order_index=i)))
        texts.append(repr(await c.limit_order(SOL, False, 0.01, 150.0)))
        with pytest.raises(TypeError) as no_pickle:
            pickle.dumps(c)
        texts += [str(no_pickle.value), repr(no_pickle.value)]
        await c.close()

        # A malformed key (the real one plus junk): the error names the problem, not the key. The
        # caller keeps its key behind a method (as a pydantic SecretStr does): a traceback that
        # prints local values (loguru's diagnose) must then show the key in none of OUR frames.
        for bad in (Vault(private_key + "00"), Vault(bare + "zz")):
            with pytest.raises(ValueError) as refused:
                await OrderClient.create(venue.url, ACCOUNT, KEY_INDEX, bad.reveal(), MARKETS)
            texts += [str(refused.value), repr(refused.value)]
            try:
                raise refused.value
            except ValueError:
                logger.exception("create failed")
                logging.getLogger("test").exception("create failed")
    finally:
        logger.remove(sink)
    outputs = texts + captured + [caplog.text]
    assert any("create failed" in text for text in captured)  # the capture did work
    for text in outputs:
        assert bare not in text
        assert bare[:40] not in text and bare[40:] not in text


# --- REST ----------------------------------------------------------------------------------------


async def test_rest_reads_the_fixtures(venue: FakeLighter) -> None:
    async with LighterRest(venue.url + "/api/v1/") as rest:
        markets = await rest.order_book_details()
        assert markets[0] == MarketSpec(
            market_id=0, symbol="ETH", size_decimals=4, price_decimals=2, min_base_amount=0.005,
            min_quote_amount=10.0, maker_fee=0.0, taker_fee=0.0, status="active",
        )  # fmt: skip
        trades = await rest.recent_trades(0, 10)
        assert (trades[0].trade_id, trades[0].price, trades[0].size, trades[0].is_maker_ask) == (
            19211490282, 2361.31, 0.0005, False,
        )  # fmt: skip
        account = await rest.account(123456)
        assert account.account_index == 123456 and account.collateral == 0.0
        assert account.position(1) is not None and account.position(1).size == 0.0  # type: ignore[union-attr]
        orders = await rest.active_orders(712440, 0, auth="token-abc")
        assert (orders[0].order_index, orders[0].client_order_index, orders[0].price) == (
            281476929510110,
            42,
            2352.74,
        )
        assert venue.headers_seen[-1].get("Authorization") == "token-abc"
        candles = await rest.candles(0, "1m", 1_700_000_000_000, 1_700_000_060_000, 2)
        assert [c.close for c in candles] == [2361.31, 2362.50]
        book = await rest.order_book_orders(0, 1)
        assert (book.asks[0].price, book.asks[0].remaining_size) == (2361.32, 0.0317)
        assert (book.bids[0].price, book.bids[0].order_index) == (2361.17, 562947905454787)
        assert await rest.next_nonce(ACCOUNT, KEY_INDEX) == FIRST_NONCE


async def test_rest_null_or_missing_lists_are_empty(venue: FakeLighter) -> None:
    async with LighterRest(venue.url) as rest:
        venue.overrides["recentTrades"] = "http_recent_trades_null.json"
        assert await rest.recent_trades(0) == []
        venue.overrides["recentTrades"] = "http_recent_trades_missing.json"
        assert await rest.recent_trades(0) == []
        venue.overrides["candles"] = "http_candles_null.json"
        assert await rest.candles(0, "1m", 0, 1, 1) == []
        venue.overrides["account"] = "http_recent_trades_missing.json"  # no "accounts" at all
        with pytest.raises(VenueError) as missing:
            await rest.account(5)
        assert missing.value.code == codes.INVALID_ACCOUNT


async def test_rest_errors_are_typed(venue: FakeLighter) -> None:
    async with LighterRest(venue.url) as rest:
        venue.overrides["recentTrades"] = "429"
        with pytest.raises(VenueError) as limited:
            await rest.recent_trades(0)
        assert (limited.value.code, limited.value.http_status) == (codes.TOO_MANY_REQUESTS, 429)
        venue.overrides["orderBookOrders"] = "refused"
        with pytest.raises(VenueError) as refused:
            await rest.order_book_orders(99)
        assert (refused.value.code, refused.value.message, refused.value.http_status) == (
            21600, "invalid market index", 200,
        )  # fmt: skip
        venue.overrides["orderBookOrders"] = "garbage"
        with pytest.raises(VenueError) as malformed:
            await rest.order_book_orders(0)
        assert (malformed.value.code, malformed.value.http_status) == (codes.INVALID_PARAM, 200)
        venue.overrides["recentTrades"] = "nan-price"
        with pytest.raises(VenueError) as bad_number:
            await rest.recent_trades(0)
        assert bad_number.value.code == codes.INVALID_PARAM and "NaN" in bad_number.value.message
    async with LighterRest("http://127.0.0.1:1") as dead:
        with pytest.raises(VenueError) as down:
            await dead.next_nonce(1, 2)
        assert (down.value.code, down.value.message, down.value.http_status) == (
            -1,
            "ClientConnectorError",
            0,
        )


# --- against the simulator -----------------------------------------------------------------------


async def test_place_and_cancel_against_the_simulator(private_key: str) -> None:
    from venue.sim.server import SimServer
    from venue.sim.types import SourceBook

    book = SourceBook(ts_ns=1_750_000_000_000_000_000, bids=[(150.0, 5.0)], asks=[(150.2, 5.0)])
    account = 77
    async with SimServer([book], speed=1.0, initial_nonce=3) as sim, LighterRest(sim.url) as rest:
        markets = await rest.order_book_details()
        async with await OrderClient.create(sim.url, account, KEY_INDEX, private_key, markets) as c:
            coi = client_order_index_for("sim-test", 1)
            placed = accepted(
                await c.limit_order(SOL, False, 0.1, 149.5004, tif="post_only", client_order_index=coi)
            )
            assert placed.nonce == 3  # fetched from the simulator's nextNonce
            (order,) = await rest.active_orders(account, SOL, auth=c.auth_token(60))
            assert (order.client_order_index, order.price, order.remaining_size, order.is_ask) == (
                coi, 149.5, 0.1, False,
            )  # fmt: skip

            # refused by the engine after sequencing: typed, and the next nonce still lines up
            cross = rejected(
                await c.limit_order(SOL, False, 0.1, 150.3, tif="post_only", client_order_index=coi + 1)
            )
            assert (cross.code, cross.sent) == (codes.POST_ONLY_WOULD_CROSS, True)

            cancelled = accepted(await c.cancel(SOL, order.order_index))
            assert cancelled.nonce == 5 and cancelled.tx_type == TX_CANCEL_ORDER
            assert await rest.active_orders(account, SOL, auth=c.auth_token(60)) == []
            assert sim.counters.invalid_nonce == 0


async def test_the_gate_holds_the_post_until_it_opens_and_a_failed_gate_sends_nothing(
    client: OrderClient, venue: FakeLighter
) -> None:
    # the router's durable journal write: signing happens meanwhile, the POST only after it
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    order = asyncio.ensure_future(client.limit_order(SOL, False, 0.1, 150.0, client_order_index=7, gate=gate))
    await asyncio.sleep(0.2)  # time enough to sign and post, were it not for the gate
    assert venue.arrivals == [] and not order.done()
    gate.set_result(None)
    assert accepted(await asyncio.wait_for(order, 5.0)).nonce == FIRST_NONCE
    assert len(venue.arrivals) == 1

    failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    failed.set_exception(TimeoutError("journal write timed out"))
    with pytest.raises(TimeoutError, match="journal"):
        await client.limit_order(SOL, False, 0.1, 150.0, client_order_index=8, gate=failed)
    assert len(venue.arrivals) == 1  # nothing left this process
    assert accepted(await client.limit_order(SOL, False, 0.1, 150.0, client_order_index=9)).nonce == FIRST_NONCE + 1
    assert venue.nonce_calls == 1  # the unsent signature gave its nonce back


async def test_warm_up_fetches_the_nonce_and_spends_none(client: OrderClient, venue: FakeLighter) -> None:
    await client.warm_up()
    assert venue.nonce_calls == 1 and venue.arrivals == []  # asked once; the throwaway signature is not sent
    assert client.nonces.known_next == FIRST_NONCE
    accepted(await client.limit_order(2, False, 0.1, 150.0, client_order_index=5))
    await client.warm_up()  # the count is known: nothing asked
    accepted(await client.limit_order(2, False, 0.1, 150.0, client_order_index=6))
    assert venue.nonce_calls == 1 and venue.accepted_nonces() == [FIRST_NONCE, FIRST_NONCE + 1]


async def test_clients_can_share_one_signing_thread(venue: FakeLighter, private_key: str) -> None:
    # the router signs for every account on one thread; closing one client leaves it to the others
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1)
    first = await OrderClient.create(venue.url, ACCOUNT, KEY_INDEX, private_key, MARKETS, rate_limit=None,
                                     sign_pool=pool)
    second = await OrderClient.create(venue.url, ACCOUNT + 1, KEY_INDEX, private_key, MARKETS, rate_limit=None,
                                      sign_pool=pool)
    both = await asyncio.gather(first.limit_order(SOL, False, 0.1, 150.0, client_order_index=1),
                                second.limit_order(SOL, True, 0.1, 151.0, client_order_index=2))
    assert [accepted(o).client_order_index for o in both] == [1, 2]
    await first.close()
    accepted(await second.limit_order(SOL, False, 0.1, 150.0, client_order_index=3))  # the pool still runs
    await second.close()
    pool.shutdown(wait=True)
    assert {a.info["AccountIndex"] for a in venue.arrivals} == {ACCOUNT, ACCOUNT + 1}
