"""Transactions over the venue's websocket (venue.tx_socket) and the OrderClient's use of it.

Two venues: a scripted websocket server (each jsonapi/sendtx answered as the test says: an
answer in Lighter's shape, nested in `data`, an `error` frame, silence, or a dropped connection),
and the simulator, whose websocket takes transactions exactly as its REST sendTx does.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import lighter
import pytest
from aiohttp import WSMsgType, web

from venue import codes
from venue.markets import SOL_DEFAULT
from venue.order_client import NETWORK_ERROR, OrderClient, TxAccepted, TxRejected, client_order_index_for
from venue.rest import LighterRest
from venue.tx_socket import FateUnknown, NotSent, TxSocket, http_status_for

pytestmark = pytest.mark.timeout(60)

SOL = 2
KEY_INDEX = 3


class ScriptedVenue:
    """A websocket /stream that answers each jsonapi/sendtx with the next scripted reply."""

    def __init__(self) -> None:
        self.script: deque[Any] = deque()
        self.received: list[dict[str, Any]] = []
        self.url = ""
        self.pongs = 0
        self._runner: web.AppRunner | None = None

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"type": "connected"}))
        await ws.send_str(json.dumps({"type": "ping"}))  # the venue's application-level ping
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            message = json.loads(msg.data)
            if message.get("type") == "pong":
                self.pongs += 1
                continue
            self.received.append(message)
            reply = self.script.popleft() if self.script else "ok"
            request_id = message["data"].get("id")
            if reply == "ok":
                await ws.send_str(json.dumps({"type": "jsonapi/sendtx", "id": request_id, "code": 200,
                                              "tx_hash": "ab" * 20}))
            elif reply == "nested":
                await ws.send_str(json.dumps({"type": "jsonapi/sendtx", "data": {
                    "id": request_id, "code": codes.POST_ONLY_WOULD_CROSS, "message": "would cross"}}))
            elif reply == "error":
                await ws.send_str(json.dumps({"type": "error", "error": {"code": codes.INVALID_TX_INFO,
                                                                          "message": "bad tx_info"}}))
            elif reply == "other-id":  # an answer to some other request, then ours
                await ws.send_str(json.dumps({"type": "jsonapi/sendtx", "id": "elsewhere", "code": 200}))
                await ws.send_str(json.dumps({"type": "jsonapi/sendtx", "id": request_id, "code": 200,
                                              "tx_hash": "cd" * 20}))
            elif reply == "drop":
                await ws.close()
                break
            # "silent": no answer
        return ws

    async def __aenter__(self) -> ScriptedVenue:
        app = web.Application()
        app.router.add_get("/stream", self.stream)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/stream"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
async def venue() -> AsyncIterator[ScriptedVenue]:
    async with ScriptedVenue() as v:
        yield v


@pytest.fixture
async def socket(venue: ScriptedVenue) -> AsyncIterator[TxSocket]:
    async with aiohttp.ClientSession() as session:
        s = TxSocket(venue.url, session, reconnect_s=0.05)
        assert await s.wait_up(5.0)
        yield s
        await s.close()


async def test_answers_in_each_shape_are_read(socket: TxSocket, venue: ScriptedVenue) -> None:
    answer = json.loads(await socket.send(14, '{"Nonce": 1}', timeout_s=5.0))
    assert (answer["code"], answer["tx_hash"]) == (200, "ab" * 20)
    sent = venue.received[0]
    assert sent["type"] == "jsonapi/sendtx" and sent["data"]["tx_type"] == 14
    assert sent["data"]["tx_info"] == {"Nonce": 1}  # an object, as in Lighter's examples

    venue.script.extend(["nested", "error", "other-id"])
    assert json.loads(await socket.send(14, "{}", timeout_s=5.0))["code"] == codes.POST_ONLY_WOULD_CROSS
    error = json.loads(await socket.send(14, "{}", timeout_s=5.0))
    assert (error["code"], error["message"]) == (codes.INVALID_TX_INFO, "bad tx_info")
    assert json.loads(await socket.send(14, "{}", timeout_s=5.0))["tx_hash"] == "cd" * 20  # not "elsewhere"'s
    assert venue.pongs >= 1  # the venue's ping was answered


async def test_no_answer_or_a_dropped_connection_is_fate_unknown(socket: TxSocket, venue: ScriptedVenue) -> None:
    venue.script.extend(["silent", "drop"])
    with pytest.raises(FateUnknown, match="no answer"):
        await socket.send(14, "{}", timeout_s=0.3)
    with pytest.raises(FateUnknown, match="closed"):
        await socket.send(14, "{}", timeout_s=5.0)
    assert len(venue.received) == 2  # both left this process
    assert await socket.wait_up(5.0)  # reconnected in the background
    assert json.loads(await socket.send(14, "{}", timeout_s=5.0))["code"] == 200


async def test_a_socket_that_is_down_sends_nothing() -> None:
    async with aiohttp.ClientSession() as session:
        s = TxSocket("ws://127.0.0.1:9/stream", session, reconnect_s=0.05)  # nothing listens on port 9
        assert not await s.wait_up(0.3)
        with pytest.raises(NotSent):
            await s.send(14, "{}", timeout_s=1.0)
        await s.close()


def test_http_status_equivalents_tell_whether_the_nonce_was_spent() -> None:
    assert http_status_for(codes.OK) == 200
    assert http_status_for(codes.POST_ONLY_WOULD_CROSS) == 200  # sequenced, then refused
    assert http_status_for(codes.INVALID_TX_INFO) == 400 and http_status_for(codes.INVALID_NONCE) == 400
    assert http_status_for(codes.TOO_MANY_REQUESTS) == 429


# --- the OrderClient over the simulator's websocket -----------------------------------------------


@pytest.fixture(scope="module")
def private_key() -> str:
    key, _public, error = lighter.create_api_key()
    assert error is None and key is not None
    return str(key)


async def test_orders_go_over_the_simulators_websocket_with_the_same_outcomes(private_key: str) -> None:
    from venue.sim.server import SimServer
    from venue.sim.types import SourceBook

    book = SourceBook(ts_ns=1_750_000_000_000_000_000, bids=[(150.0, 5.0)], asks=[(150.2, 5.0)])
    account = 77
    async with SimServer([book], speed=1.0, initial_nonce=3) as sim, LighterRest(sim.url) as rest:
        markets = await rest.order_book_details()
        async with await OrderClient.create(sim.url, account, KEY_INDEX, private_key, markets,
                                            rate_limit=None, ws_url=sim.ws_url) as client:
            await client.warm_up()  # connects the socket
            coi = client_order_index_for("ws-test", 1)
            placed = await client.limit_order(SOL, False, 0.1, 149.5, tif="post_only", client_order_index=coi)
            assert isinstance(placed, TxAccepted) and placed.nonce == 3
            assert sim.counters.ws_txs == 1
            (order,) = await rest.active_orders(account, SOL, auth=client.auth_token(60))
            assert order.client_order_index == coi

            # refused by the engine after sequencing: the same typed outcome as over REST, nonce spent
            cross = await client.limit_order(SOL, False, 0.1, 150.3, tif="post_only", client_order_index=coi + 1)
            assert isinstance(cross, TxRejected) and (cross.code, cross.sent) == (codes.POST_ONLY_WOULD_CROSS, True)

            # another client of the same key spends a nonce: ours is stale, the venue says so over
            # the socket, the client refreshes and sends again with the same client order index
            async with await OrderClient.create(sim.url, account, KEY_INDEX, private_key, markets,
                                                rate_limit=None) as other:
                assert isinstance(await other.cancel(SOL, 999), TxRejected)  # REST, spends nonce 5
            cancelled = await client.cancel(SOL, order.order_index)
            assert isinstance(cancelled, TxAccepted) and cancelled.nonce == 6
            assert sim.counters.invalid_nonce == 1 and sim.counters.ws_txs == 4
            assert await rest.active_orders(account, SOL, auth=client.auth_token(60)) == []


async def test_without_the_socket_orders_go_over_rest(private_key: str) -> None:
    from venue.sim.server import SimServer
    from venue.sim.types import SourceBook

    book = SourceBook(ts_ns=1_750_000_000_000_000_000, bids=[(150.0, 5.0)], asks=[(150.2, 5.0)])
    async with SimServer([book], speed=1.0) as sim, LighterRest(sim.url) as rest:
        markets = {SOL: (await rest.order_book_details()).get(SOL, SOL_DEFAULT)}
        async with await OrderClient.create(sim.url, 78, KEY_INDEX, private_key, markets, rate_limit=None,
                                            ws_url="ws://127.0.0.1:9/stream") as client:
            outcome = await client.limit_order(SOL, False, 0.1, 149.5, client_order_index=11)
            assert isinstance(outcome, TxAccepted)
            assert sim.counters.ws_txs == 0 and sim.counters.orders == 1  # REST carried it


async def test_a_transaction_lost_on_the_socket_is_fate_unknown(private_key: str, venue: ScriptedVenue) -> None:
    # the scripted venue has no REST: the nonce comes from a fetcher that never fails
    async with aiohttp.ClientSession() as session:
        client = await OrderClient.create("http://127.0.0.1:9", 79, KEY_INDEX, private_key, {SOL: SOL_DEFAULT},
                                          rate_limit=None, ws_url=venue.url, session=session)
        client.nonces._fetch = _fixed_nonce  # type: ignore[attr-defined]  # noqa: SLF001
        assert client._tx_socket is not None and await client._tx_socket.wait_up(5.0)  # noqa: SLF001
        venue.script.append("drop")
        outcome = await client.limit_order(SOL, False, 0.1, 149.5, client_order_index=12)
        assert isinstance(outcome, TxRejected) and (outcome.code, outcome.sent) == (NETWORK_ERROR, True)
        assert client.nonces.known_next is None  # re-read from the venue before the next transaction
        await client.close()


async def _fixed_nonce(*_args: Any) -> int:
    return 41
