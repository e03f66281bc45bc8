"""Auth tokens at the paper venue, with the real lighter-sdk: its tokens open an account's private
REST endpoints (the SDK's own OrderApi, the authorization header, the auth parameter) and its
account_all channel; missing, malformed, foreign and expired ones are refused with the venue's
error shape; a subscription ends when its token expires. And the account's trades and ended
orders page with a cursor over its whole history: no duplicates, no gaps.

The book is scripted and frozen (bids 149.900 x 100, asks 150.100 x 100): every IOC at the touch
fills once, so the fills are counted exactly. Keys are made at test time and never printed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import lighter
import pytest

from venue import codes
from venue.markets import SOL_DEFAULT
from venue.order_client import OrderClient, TxAccepted
from venue.rest import LighterRest, VenueError
from venue.sim.auth import AuthRefused, check_token, parse_token
from venue.sim.server import SimServer
from venue.sim.types import SourceBook

ACCOUNT = 4242
OTHER = 4343
KEY = 3
SOL = SOL_DEFAULT.market_id
TIMEOUT = 10.0
BOOK = SourceBook(ts_ns=1_700_000_000_000_000_000, bids=[(149.9, 100.0), (149.8, 20.0)],
                  asks=[(150.1, 100.0), (150.2, 20.0)])


@pytest.fixture
async def venue() -> AsyncIterator[SimServer]:
    async with SimServer(source=[BOOK], speed=0) as sim:
        await asyncio.wait_for(sim.source_done.wait(), TIMEOUT)
        yield sim


@pytest.fixture
async def client(venue: SimServer) -> AsyncIterator[OrderClient]:
    private_key, _public, error = lighter.create_api_key()
    assert error is None and private_key
    async with await OrderClient.create(venue.url, ACCOUNT, KEY, private_key, {SOL: SOL_DEFAULT},
                                        rate_limit=None) as c:
        yield c


async def fill(client: OrderClient, n: int) -> None:
    """n single fills at the touch, buys and sells in turn (the position stays within 0.1)."""
    for i in range(n):
        is_ask = i % 2 == 1
        outcome = await client.limit_order(SOL, is_ask, 0.1, 149.9 if is_ask else 150.1, tif="ioc")
        assert isinstance(outcome, TxAccepted), outcome


async def get(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with http.get(url, **kwargs) as resp:
        return resp.status, await resp.json()


# --- the token itself ------------------------------------------------------------------------
async def test_the_sdk_token_parses_and_is_checked_for_account_and_expiry(client: OrderClient) -> None:
    token = client.auth_token(600)
    parsed = parse_token(token)
    now = time.time()
    assert (parsed.account_index, parsed.api_key_index) == (ACCOUNT, KEY)
    assert now + 590 <= parsed.expiry_s <= now + 610
    assert check_token(token, ACCOUNT, now) == parsed
    for raw, code in [
        (None, codes.AUTH_MISSING), ("", codes.AUTH_MISSING),
        ("garbage", codes.AUTH_MALFORMED), (token + "0", codes.AUTH_MALFORMED),  # 161 hex digits
        (token.replace(":", ";", 1), codes.AUTH_MALFORMED), (token[:-2] + "zz", codes.AUTH_MALFORMED),
    ]:
        with pytest.raises(AuthRefused) as refused:
            check_token(raw, ACCOUNT, now)
        assert refused.value.code == code, raw
        assert token not in str(refused.value)  # a token is never repeated back
    with pytest.raises(AuthRefused) as foreign:
        check_token(token, OTHER, now)
    assert foreign.value.code == codes.AUTH_WRONG_ACCOUNT
    with pytest.raises(AuthRefused) as expired:
        check_token(token, ACCOUNT, parsed.expiry_s)
    assert expired.value.code == codes.AUTH_EXPIRED
    with pytest.raises(AuthRefused) as too_long:  # Lighter's limit: 8 hours
        check_token(client.auth_token(8 * 3600), ACCOUNT, now - 3600)
    assert too_long.value.code == codes.AUTH_MALFORMED


# --- REST -----------------------------------------------------------------------------------
async def test_private_rest_endpoints_open_with_the_sdk_token_only(venue: SimServer, client: OrderClient) -> None:
    await fill(client, 3)
    resting = await client.limit_order(SOL, False, 0.1, 149.0, tif="post_only")
    assert isinstance(resting, TxAccepted)
    token = client.auth_token(600)

    # the SDK's own API classes, the token as their authorization header
    api = lighter.ApiClient(configuration=lighter.Configuration(host=venue.url))
    try:
        order_api = lighter.OrderApi(api)
        active = await order_api.account_active_orders(authorization=token, account_index=ACCOUNT, market_id=SOL)
        assert [o.initial_base_amount for o in active.orders] == ["0.100"]
        trades = await order_api.trades(sort_by="trade_id", limit=100, authorization=token, account_index=ACCOUNT)
        assert [t.trade_id for t in trades.trades] == [t.trade_id for t in reversed(venue.engine.account_trades(ACCOUNT))]
        ended = await order_api.account_inactive_orders(authorization=token, account_index=ACCOUNT, limit=100)
        assert len(ended.orders) == 3 and {o.status for o in ended.orders} == {"filled"}
    finally:
        await api.close()

    async with aiohttp.ClientSession() as http:
        base = f"{venue.url}/api/v1"
        query = {"account_index": str(ACCOUNT), "market_id": str(SOL)}
        status, body = await get(http, f"{base}/accountActiveOrders", params={**query, "auth": token})
        assert (status, body["code"], len(body["orders"])) == (200, 200, 1)  # the auth parameter works too
        expired_token = client.auth_token(2)
        refusals = [
            ("accountActiveOrders", {}, codes.AUTH_MISSING),
            ("accountActiveOrders", {"authorization": "1:2:3"}, codes.AUTH_MALFORMED),
            ("accountInactiveOrders", {"authorization": OrderClient_token_of_other(token)}, codes.AUTH_WRONG_ACCOUNT),
            ("trades", {}, codes.AUTH_MISSING),
        ]
        for endpoint, headers, code in refusals:
            params = {**query, "limit": "10", "sort_by": "trade_id"}
            status, body = await get(http, f"{base}/{endpoint}", params=params, headers=headers)
            assert status == 400 and body["code"] == code and body["message"], (endpoint, body)
        # expiry is judged on the venue's wall clock (injectable): moved past the token's expiry
        venue.auth.clock = lambda: time.time() + 5
        status, body = await get(http, f"{base}/accountActiveOrders", params=query,
                                 headers={"authorization": expired_token})
        assert (status, body["code"]) == (400, codes.AUTH_EXPIRED)
        assert expired_token not in body["message"]
        status, body = await get(http, f"{base}/accountActiveOrders", params=query, headers={"authorization": token})
        assert status == 200  # the long-lived one still opens it
    assert venue.auth.refused == len(refusals) + 1

    # venue.rest: a refusal is a typed VenueError with the venue's code
    async with LighterRest(venue.url) as rest:
        with pytest.raises(VenueError) as refused:
            await rest.active_orders(ACCOUNT, SOL)
        assert (refused.value.code, refused.value.http_status) == (codes.AUTH_MISSING, 400)
        assert len(await rest.active_orders(ACCOUNT, SOL, auth=token)) == 1


def OrderClient_token_of_other(token: str) -> str:  # noqa: N802 - reads as what it makes
    """The same token, claiming another account (its signature would not match on Lighter)."""
    expiry, _account, key, signature = token.split(":")
    return f"{expiry}:{OTHER}:{key}:{signature}"


# --- websocket --------------------------------------------------------------------------------
async def recv_until(ws: aiohttp.ClientWebSocketResponse, wanted: set[str]) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(ws.receive_json(), TIMEOUT)
        if message.get("type") in wanted:
            return message


async def test_account_channel_needs_the_accounts_token_and_ends_when_it_expires(
    venue: SimServer, client: OrderClient
) -> None:
    channel = f"account_all/{ACCOUNT}"
    async with aiohttp.ClientSession() as http, http.ws_connect(venue.ws_url) as ws:
        stale = client.auth_token(2)
        venue.auth.clock = lambda: time.time() + 5
        for auth, code in [(None, codes.AUTH_MISSING), ("x:y", codes.AUTH_MALFORMED),
                           (OrderClient_token_of_other(client.auth_token(60)), codes.AUTH_WRONG_ACCOUNT),
                           (stale, codes.AUTH_EXPIRED)]:
            frame: dict[str, Any] = {"type": "subscribe", "channel": channel}
            if auth is not None:
                frame["auth"] = auth
            await ws.send_json(frame)
            error = await recv_until(ws, {"error", "subscribed/account_all"})
            assert error["type"] == "error" and error["error"]["code"] == code, error
            assert error["channel"] == f"account_all:{ACCOUNT}"
        venue.auth.clock = time.time
        assert not venue.publisher.has_subscribers(f"account_all:{ACCOUNT}")
        # public channels need nothing
        await ws.send_json({"type": "subscribe", "channel": f"trade/{SOL}"})
        assert (await recv_until(ws, {"subscribed/trade", "error"}))["type"] == "subscribed/trade"

        # a token with 2 s of life: the subscription works, then the venue ends it
        await ws.send_json({"type": "subscribe", "channel": channel, "auth": client.auth_token(2)})
        assert (await recv_until(ws, {"subscribed/account_all", "error"}))["type"] == "subscribed/account_all"
        await fill(client, 1)
        assert (await recv_until(ws, {"update/account_all"}))["trades"]
        error = await recv_until(ws, {"error"})
        assert (error["error"]["code"], error["channel"]) == (codes.AUTH_EXPIRED, f"account_all:{ACCOUNT}")
        assert (await recv_until(ws, {"unsubscribed"}))["channel"] == f"account_all:{ACCOUNT}"
        assert venue.auth.expired_subscriptions == 1
        # no more account updates: the fill's would be queued before the pong if it were sent
        await fill(client, 1)
        await ws.send_json({"type": "ping"})
        while (message := await asyncio.wait_for(ws.receive_json(), TIMEOUT))["type"] != "pong":
            assert message["type"] != "update/account_all", message
        # a fresh token subscribes again
        await ws.send_json({"type": "subscribe", "channel": channel, "auth": client.auth_token(60)})
        snapshot = await recv_until(ws, {"subscribed/account_all", "error"})
        assert snapshot["type"] == "subscribed/account_all" and len(snapshot["trades"][str(SOL)]) == 2


# --- pagination -------------------------------------------------------------------------------
@pytest.mark.timeout(60)
async def test_account_trades_and_ended_orders_page_without_gaps_or_duplicates(
    venue: SimServer, client: OrderClient
) -> None:
    await fill(client, 257)
    token = client.auth_token(600)
    engine_ids = [t.trade_id for t in venue.engine.account_trades(ACCOUNT)]
    assert len(engine_ids) == 257
    async with LighterRest(venue.url) as rest:
        for direction, expected in (("desc", engine_ids[::-1]), ("asc", engine_ids)):
            seen: list[int] = []
            cursor: str | None = None
            pages = 0
            while True:
                trades, cursor = await rest.account_trades(ACCOUNT, token, cursor=cursor, sort_dir=direction)
                pages += 1
                assert len(trades) == (100 if cursor else 57)
                seen.extend(t.trade_id for t in trades)
                if cursor is None:
                    break
            assert (pages, seen) == (3, expected), direction
        # a page of 7 at a time, by market: the same fills
        seen, cursor = [], None
        while True:
            trades, cursor = await rest.account_trades(ACCOUNT, token, market_id=SOL, limit=7, cursor=cursor)
            seen.extend(t.trade_id for t in trades)
            if cursor is None:
                break
        assert seen == engine_ids[::-1]

        ended_ids: list[int] = []
        cursor = None
        while True:
            orders, cursor = await rest.inactive_orders(ACCOUNT, token, limit=100, cursor=cursor)
            ended_ids.extend(o.order_index for o in orders)
            if cursor is None:
                break
        assert len(ended_ids) == len(set(ended_ids)) == 257 and ended_ids == sorted(ended_ids, reverse=True)
        assert set(ended_ids) == {o.order_index for o in venue.engine.inactive_orders(ACCOUNT)}

    # a row paged out of the history is the row the venue streamed when the fill happened
    async with aiohttp.ClientSession() as http:
        status, body = await get(http, f"{venue.url}/api/v1/trades", headers={"authorization": token},
                                 params={"account_index": str(ACCOUNT), "sort_by": "timestamp", "limit": "100"})
        assert status == 200
        streamed = {row["trade_id"]: row for row in venue.account_trade_log[ACCOUNT]}
        assert body["trades"] == [streamed[row["trade_id"]] for row in body["trades"]]
        assert lighter.Trades.model_validate(body).next_cursor == body["next_cursor"] != ""
        for params in ({"sort_by": "price"}, {"sort_by": "trade_id", "limit": "101"},
                       {"sort_by": "trade_id", "cursor": "abc"}):
            status, body = await get(http, f"{venue.url}/api/v1/trades", headers={"authorization": token},
                                     params={"account_index": str(ACCOUNT), "limit": "10", **params})
            assert (status, body["code"]) == (400, codes.INVALID_PARAM), params
