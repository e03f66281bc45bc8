"""The simulator's websocket (/stream), speaking Lighter's protocol.

On connect the server sends {"type":"connected","session_id":...}. Clients subscribe with a slash
and get replies on a colon channel, as on Lighter:
  {"type":"subscribe","channel":"order_book/2"}  -> subscribed/order_book snapshot, then
                                                    update/order_book deltas (offset +1 each)
  {"type":"subscribe","channel":"trade/2"}       -> subscribed/trade (recent), update/trade
  {"type":"subscribe","channel":"account_all/7"} -> subscribed/account_all, update/account_all
  ticker/2, market_stats/2, market_stats/all, candle/2/1m: see venue.sim.market_channels
  {"type":"unsubscribe","channel":...}           -> {"type":"unsubscribed","channel":...}
  {"type":"ping"}                                 -> {"type":"pong"}
  {"type":"jsonapi/sendtx","data":{"id":..,"tx_type":14,"tx_info":{..} or "{..}"}}
                                                  -> {"type":"jsonapi/sendtx","id":..,"code":200,
                                                      "tx_hash":..} (a refusal: its code and message),
                                                     the same transaction handling as REST sendTx
  {"type":"jsonapi/sendtxbatch","data":{"id":..,"tx_types":"[14,15]" or [..],"tx_infos":"[..]" or [..]}}
                                                  -> {"type":"jsonapi/sendtxbatch","id":..,"code":200,
                                                      "tx_hash":[..],"results":[..]}: REST sendTxBatch
Private channels (account_all/{a}) need the account's auth token as "auth" in the subscribe frame
(venue.sim.auth): a missing, malformed, foreign or expired one is answered with an error frame
{"type":"error","channel":..,"error":{"code":2001x,"message":..}} and no subscription. When a
subscription's token expires the server ends it: the same error frame (code AUTH_EXPIRED), then
{"type":"unsubscribed","channel":"account_all:7"}; a client that wants more subscribes again with
a fresh token (subscribing again to a channel it holds replaces the token and sends a new
snapshot). Public channels take no token. The server pings ({"type":"ping"}) every
ping_interval_s and closes a connection it has heard nothing from for idle_timeout_s. Malformed
messages are counted and answered with an error; they never close the connection.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from venue import codes
from venue.sim import market_channels
from venue.sim.auth import AuthRefused
from venue.sim.publisher import Client, encode
from venue.sim.rest_api import SIM_KEY
from venue.sim.shapes import account_snapshot_message
from venue.sim.tx_api import submit_batch, submit_tx
from venue.sim.venue_protocol import SimVenue

RECENT_TRADES_ON_SUBSCRIBE = 50
MAX_CLIENT_MESSAGE = 64 * 1024
_PONG = encode({"type": "pong"})
_tx_tasks: set[asyncio.Task[None]] = set()  # transactions being applied (the loop keeps only weak references)
PRIVATE_CHANNELS = frozenset({"account_all"})
# each connection's private subscriptions: channel -> the timer that ends it when its token expires
_expiry_timers: dict[Client, dict[str, asyncio.TimerHandle]] = {}


def _error(message: str, code: int = codes.INVALID_PARAM, channel: str | None = None) -> bytes:
    frame: dict[str, Any] = {"type": "error", "error": {"code": code, "message": message}}
    if channel is not None:
        frame["channel"] = channel
    return encode(frame)


def parse_channel(channel: Any) -> tuple[str, int] | None:
    """("order_book", 2) from "order_book/2" or "order_book:2"; None if malformed."""
    if not isinstance(channel, str):
        return None
    for sep in ("/", ":"):
        kind, found, arg = channel.partition(sep)
        if found:
            try:
                return kind, int(arg)
            except ValueError:
                return None
    return None


async def stream(request: web.Request) -> web.WebSocketResponse:
    sim = request.app[SIM_KEY]
    if sim.faults.config.refuse_ws:  # the refuse-websockets fault: clients stay away until it is lifted
        return web.Response(status=503, text="websocket connections refused (the refuse_ws fault)")  # type: ignore[return-value]
    ws = web.WebSocketResponse(compress=False, autoping=True, max_msg_size=MAX_CLIENT_MESSAGE)
    await ws.prepare(request)
    publisher = sim.publisher
    client = publisher.add(ws, request.transport)
    publisher.send(client, encode({"type": "connected", "session_id": f"sim-{client.id}-{secrets.token_hex(4)}"}))
    loop = asyncio.get_running_loop()
    try:
        async for msg in ws:
            client.last_rx_s = loop.time()
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                on_message(sim, client, msg.data, received_ns=time.time_ns())
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        for timer in _expiry_timers.pop(client, {}).values():
            timer.cancel()
        publisher.remove(client)
    return ws


def on_message(sim: SimVenue, client: Client, data: str | bytes, received_ns: int | None = None) -> None:
    publisher = sim.publisher
    try:
        message = msgspec.json.decode(data)
    except msgspec.DecodeError:
        message = None
    if not isinstance(message, dict):
        sim.counters.ws_malformed += 1
        publisher.send(client, _error("message must be a JSON object"))
        return
    kind = message.get("type")
    if kind == "ping":
        publisher.send(client, _PONG)
    elif kind == "pong":
        pass  # liveness is noted on receipt of any message
    elif kind in ("jsonapi/sendtx", "jsonapi/sendtxbatch"):
        request = message.get("data")
        if not isinstance(request, dict):
            sim.counters.ws_malformed += 1
            publisher.send(client, _error(f"{kind} needs a data object"))
            return
        sim.counters.ws_txs += 1
        # a task per request, started in arrival order: without the delay fault or a speed bump it
        # runs to completion at once, so transactions are applied in the order they came
        task = asyncio.ensure_future(_send_tx(sim, client, kind, request, received_ns or time.time_ns()))
        _tx_tasks.add(task)
        task.add_done_callback(_tx_tasks.discard)
    elif kind in ("subscribe", "unsubscribe"):
        if market_channels.handles(message.get("channel")):  # ticker, market_stats, candle
            market_channels.on_subscription(sim, client, kind, message.get("channel"))
            return
        parsed = parse_channel(message.get("channel"))
        if parsed is None or not _valid(sim, *parsed):
            sim.counters.ws_malformed += 1
            publisher.send(client, _error(f"invalid channel {message.get('channel')!r}"))
            return
        channel = f"{parsed[0]}:{parsed[1]}"
        if kind == "unsubscribe":
            _cancel_expiry(client, channel)
            publisher.unsubscribe(client, channel)
            publisher.send(client, encode({"type": "unsubscribed", "channel": channel}))
            return
        if parsed[0] in PRIVATE_CHANNELS:
            try:
                token = sim.auth.check(message.get("auth"), parsed[1])
            except AuthRefused as exc:
                publisher.send(client, _error(str(exc), exc.code, channel))
                return
            _cancel_expiry(client, channel)
            if token is not None:
                delay = max(0.0, token.expiry_s - sim.auth.clock())
                timer = asyncio.get_running_loop().call_later(delay, _on_expiry, sim, client, channel, token.expiry_s)
                _expiry_timers.setdefault(client, {})[channel] = timer
        publisher.subscribe(client, channel)
        publisher.send(client, _snapshot(sim, parsed[0], parsed[1]))
    else:
        sim.counters.ws_malformed += 1
        publisher.send(client, _error(f"unknown message type {kind!r}"))


def _cancel_expiry(client: Client, channel: str) -> None:
    timer = _expiry_timers.get(client, {}).pop(channel, None)
    if timer is not None:
        timer.cancel()


def _on_expiry(sim: SimVenue, client: Client, channel: str, expiry_s: int) -> None:
    """A private subscription's token ran out: the subscription ends, and the client is told."""
    timers = _expiry_timers.get(client, {})
    remaining = expiry_s - sim.auth.clock()
    if remaining > 0:  # the wall clock was set back (tests move it): wait for it again
        timers[channel] = asyncio.get_running_loop().call_later(remaining, _on_expiry, sim, client, channel, expiry_s)
        return
    timers.pop(channel, None)
    sim.auth.expired_subscriptions += 1
    sim.publisher.unsubscribe(client, channel)
    message = f"{codes.message_for(codes.AUTH_EXPIRED)}: subscription to {channel} ended"
    sim.publisher.send(client, _error(message, codes.AUTH_EXPIRED, channel))
    sim.publisher.send(client, encode({"type": "unsubscribed", "channel": channel}))


async def _send_tx(sim: SimVenue, client: Client, kind: str, request: dict[str, Any], received_ns: int) -> None:
    if kind == "jsonapi/sendtx":
        _status, answer = await submit_tx(sim, request.get("tx_type"), request.get("tx_info"), received_ns)
    else:
        _status, answer = await submit_batch(sim, request.get("tx_types"), request.get("tx_infos"), received_ns)
    reply: dict[str, Any] = {"type": kind, **answer}
    if "id" in request:
        reply["id"] = request["id"]
    sim.publisher.send(client, encode(reply))


def _valid(sim: SimVenue, kind: str, arg: int) -> bool:
    if kind in ("order_book", "trade"):
        return arg in sim.markets
    return kind == "account_all" and arg >= 0


def _snapshot(sim: SimVenue, kind: str, arg: int) -> bytes:
    """The subscribed/* message, built from what has been published (so deltas continue it)."""
    if kind == "order_book":
        return sim.books[arg].snapshot(sim.now_ms)
    if kind == "trade":
        recent = list(sim.recent_trades[arg])[-RECENT_TRADES_ON_SUBSCRIBE:]
        return encode(
            {
                "channel": f"trade:{arg}",
                "liquidation_trades": [],
                "nonce": sim.block_height,
                "trades": recent,
                "timestamp": sim.now_ms,
                "type": "subscribed/trade",
            }
        )
    return encode(account_snapshot_message(sim, arg))
