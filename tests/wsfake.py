"""A scripted websocket server speaking Lighter's stream protocol, for the client's tests.

It keeps a real book per market (price string -> size string) with an offset that grows by one
per update, answers subscribe/unsubscribe/ping like Lighter (`connected` on open, snapshots on
`subscribed/order_book`, channels named with a colon in replies), and lets a test push updates,
skip offsets, send arbitrary frames, ping, drop every connection or stop listening.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

Levels = Iterable[tuple[str, str]]  # (price, size) venue strings; size "0" removes


async def wait_until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll a condition until it holds; fail the test with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


class FakeLighter:
    def __init__(self, books: dict[int, tuple[Levels, Levels]] | None = None) -> None:
        self.bids: dict[int, dict[str, str]] = {}
        self.asks: dict[int, dict[str, str]] = {}
        self.offsets: dict[int, int] = {}
        for m, (bids, asks) in (books or {}).items():
            self.bids[m] = dict(bids)
            self.asks[m] = dict(asks)
            self.offsets[m] = 100
        self.trades: dict[int, list[dict[str, Any]]] = {}
        self.accounts: dict[int, dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []  # every client frame, decoded
        self.connections: set[ServerConnection] = set()
        self.connections_total = 0
        self.subscriptions: dict[ServerConnection, set[str]] = {}
        self.pongs = 0
        self.pings_from_clients = 0
        self._server: Server | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self, port: int = 0) -> str:
        self._server = await serve(self._handler, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1] if port == 0 else port
        return self.url

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream"

    async def stop_listening(self) -> None:
        """Close the listening socket and every connection (a venue outage)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def stop(self) -> None:
        await self.stop_listening()

    def drop_all(self) -> None:
        """Abort every TCP connection without a close handshake (a network failure)."""
        for ws in list(self.connections):
            ws.transport.abort()

    # --- protocol ----------------------------------------------------------------------------
    async def _handler(self, ws: ServerConnection) -> None:
        self.connections.add(ws)
        self.connections_total += 1
        self.subscriptions[ws] = set()
        try:
            await ws.send(json.dumps({"type": "connected", "session_id": f"s{self.connections_total}"}))
            async for raw in ws:
                msg = json.loads(raw)
                self.received.append(msg)
                await self._on_client(ws, msg)
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(ws)
            self.subscriptions.pop(ws, None)

    async def _on_client(self, ws: ServerConnection, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "ping":
            self.pings_from_clients += 1
            await ws.send(json.dumps({"type": "pong"}))
        elif kind == "pong":
            self.pongs += 1
        elif kind == "unsubscribe":
            reply = msg["channel"].replace("/", ":")
            self.subscriptions[ws].discard(reply)
            await ws.send(json.dumps({"type": "unsubscribed", "channel": reply}))
        elif kind == "subscribe":
            channel = msg["channel"]
            reply = channel.replace("/", ":")
            name, _, index = channel.partition("/")
            self.subscriptions[ws].add(reply)
            if name == "order_book":
                await ws.send(self.snapshot_frame(int(index)))
            elif name == "trade":
                await ws.send(json.dumps({"type": "subscribed/trade", "channel": reply, "nonce": 1,
                                          "trades": self.trades.get(int(index), []),
                                          "liquidation_trades": []}))
            elif name == "account_all":
                body = self.accounts.get(int(index), {})
                await ws.send(json.dumps({"type": "subscribed/account_all", "channel": reply,
                                          "account": int(index), **body}))

    def snapshot_frame(self, m: int) -> str:
        return json.dumps({
            "type": "subscribed/order_book",
            "channel": f"order_book:{m}",
            "offset": self.offsets[m],
            "timestamp": 1_700_000_000_000 + self.offsets[m],
            "order_book": {
                "code": 0,
                "bids": [{"price": p, "size": s} for p, s in self.bids[m].items()],
                "asks": [{"price": p, "size": s} for p, s in self.asks[m].items()],
                "offset": self.offsets[m],
                "nonce": 0,
                "begin_nonce": 0,
                "last_updated_at": 0,
            },
        })

    # --- scripting ---------------------------------------------------------------------------
    async def update(self, m: int, bids: Levels = (), asks: Levels = (), *, skip_offsets: int = 0,
                     send: bool = True) -> int:
        """Change the book and send the delta with the next offset (after skip_offsets lost ones)."""
        bids, asks = list(bids), list(asks)
        for side, levels in ((self.bids[m], bids), (self.asks[m], asks)):
            for price, size in levels:
                if float(size) == 0:
                    side.pop(price, None)
                else:
                    side[price] = size
        self.offsets[m] += 1 + skip_offsets
        if send:
            await self.broadcast(f"order_book:{m}", self.delta_frame(m, bids, asks, self.offsets[m]))
        return self.offsets[m]

    @staticmethod
    def delta_frame(m: int, bids: Levels, asks: Levels, offset: int) -> str:
        return json.dumps({
            "type": "update/order_book",
            "channel": f"order_book:{m}",
            "offset": offset,
            "timestamp": 1_700_000_000_000 + offset,
            "order_book": {
                "code": 0,
                "bids": [{"price": p, "size": s} for p, s in bids],
                "asks": [{"price": p, "size": s} for p, s in asks],
                "offset": offset,
                "nonce": 0,
                "begin_nonce": 0,
                "last_updated_at": 0,
            },
        })

    async def broadcast(self, channel: str, frame: str | bytes) -> int:
        """Send to every connection subscribed to channel; returns how many got it."""
        sent = 0
        for ws, channels in list(self.subscriptions.items()):
            if channel in channels:
                try:
                    await ws.send(frame)
                    sent += 1
                except ConnectionClosed:
                    pass
        return sent

    async def send_all(self, frame: str | bytes) -> None:
        """Send a raw frame (possibly garbage) to every connection."""
        for ws in list(self.connections):
            try:
                await ws.send(frame)
            except ConnectionClosed:
                pass

    async def ping_clients(self) -> None:
        await self.send_all(json.dumps({"type": "ping"}))

    def levels(self, m: int) -> tuple[dict[float, float], dict[float, float]]:
        """The server's book as float maps, comparable with L2Book.levels()."""
        return ({float(p): float(s) for p, s in self.bids[m].items()},
                {float(p): float(s) for p, s in self.asks[m].items()})

    def subscribed(self, channel: str) -> int:
        """How many connections are subscribed to channel (reply form, `order_book:2`)."""
        return sum(channel in chans for chans in self.subscriptions.values())
