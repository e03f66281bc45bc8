"""Websocket fan-out of the simulator: each message is encoded once, framed once (server frames are
unmasked, so one frame's bytes serve every client) and queued to every subscriber; a per-client
writer task hands everything queued to the socket in one write, so a burst of updates costs one
system call per client rather than one per message.

A slow client never blocks the loop or the other clients: its queue is bounded and a client whose
queue overflows, whose writer makes no progress, or that stays behind for `stall_timeout_s` is
disconnected and counted. At maximum replay speed the producer waits for the queues to drain
(`wait_drained`), so a replay runs as fast as its clients read, but no client can hold it back
for longer than the stall timeout.

BookFeed keeps the last published top-N book of one market and turns a new merged book into a
Lighter `update/order_book` delta (only changed levels; removed levels with size zero) with an
offset that rises by one per update, so clients can detect gaps.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections import deque
from typing import Any

import msgspec
from aiohttp import web
from loguru import logger

from venue.markets import MarketSpec

ENCODER = msgspec.json.Encoder()
Level = tuple[int, int]


WRITE_BATCH = 1024  # frames handed to the socket per write at most
WRITE_BUFFER_LIMIT = 1 << 20  # bytes pending in a transport before its writer stops adding more


def encode(message: dict[str, Any]) -> bytes:
    return ENCODER.encode(message)


def text_frame(payload: bytes) -> bytes:
    """A complete, final, unmasked, uncompressed websocket text frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload


class Client:
    """One websocket connection: its queue of encoded messages, its channels and liveness."""

    __slots__ = (
        "id",
        "ws",
        "transport",
        "queue",
        "wake",
        "task",
        "channels",
        "last_rx_s",
        "sent",
        "progress_mark",
        "stalled_since_s",
        "closed",
    )

    def __init__(
        self, client_id: int, ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None
    ) -> None:
        self.id = client_id
        self.ws = ws
        self.transport = transport
        self.queue: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.channels: set[str] = set()
        self.last_rx_s = asyncio.get_running_loop().time()
        self.sent = 0
        self.progress_mark = 0  # `sent` at the last stall check
        self.stalled_since_s: float | None = None
        self.closed = False


class Publisher:
    def __init__(
        self, *, max_queue: int = 50_000, soft_queue: int = 2_000, stall_timeout_s: float = 10.0
    ) -> None:
        if max_queue < 1 or not 0 < soft_queue <= max_queue:
            raise ValueError(f"need 0 < soft_queue <= max_queue, got {soft_queue} and {max_queue}")
        self.max_queue = max_queue
        self.soft_queue = soft_queue
        self.stall_timeout_s = stall_timeout_s
        self.clients: dict[int, Client] = {}
        self.channels: dict[str, set[Client]] = {}
        self._ids = itertools.count(1)
        self._drain_waiter: asyncio.Future[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()  # polite closes in flight (kept referenced)
        # counters for /sim/state
        self.connected_total = 0
        self.dropped_slow = 0
        self.dropped_fault = 0
        self.closed_idle = 0
        self.messages_queued = 0

    # --- connections ---------------------------------------------------------------------------
    def add(self, ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None) -> Client:
        client = Client(next(self._ids), ws, transport)
        client.task = asyncio.get_running_loop().create_task(
            self._writer(client), name=f"ws-writer-{client.id}"
        )
        self.clients[client.id] = client
        self.connected_total += 1
        return client

    def remove(self, client: Client) -> None:
        if self.clients.pop(client.id, None) is None:
            return
        client.closed = True
        for channel in client.channels:
            subscribers = self.channels.get(channel)
            if subscribers is not None:
                subscribers.discard(client)
                if not subscribers:
                    del self.channels[channel]
        client.channels.clear()
        client.queue.clear()
        if client.task is not None and not client.task.done():
            client.task.cancel()
        self._maybe_wake_producer()

    def drop(self, client: Client, reason: str) -> None:
        """Cut the connection at once (no close handshake: a slow or 'failed' peer gets nothing more)."""
        if client.closed:
            return
        if reason == "slow":
            self.dropped_slow += 1
        elif reason == "fault":
            self.dropped_fault += 1
        logger.info(
            "dropping websocket client {} ({}), {} messages queued", client.id, reason, len(client.queue)
        )
        self.remove(client)
        if client.transport is not None and not client.transport.is_closing():
            client.transport.abort()  # type: ignore[attr-defined]

    def close_idle(self, client: Client) -> None:
        """Close a silent connection politely (a close frame), without waiting for the peer."""
        if client.closed:
            return
        self.closed_idle += 1
        self.remove(client)
        ws = client.ws

        async def close() -> None:
            try:
                await asyncio.wait_for(ws.close(code=1000, message=b"idle timeout"), timeout=2.0)
            except (TimeoutError, ConnectionError, RuntimeError):
                if client.transport is not None:
                    client.transport.abort()  # type: ignore[attr-defined]

        task = asyncio.get_running_loop().create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def drop_all(self, reason: str) -> int:
        clients = list(self.clients.values())
        for client in clients:
            self.drop(client, reason)
        return len(clients)

    # --- channels ------------------------------------------------------------------------------
    def subscribe(self, client: Client, channel: str) -> None:
        self.channels.setdefault(channel, set()).add(client)
        client.channels.add(channel)

    def unsubscribe(self, client: Client, channel: str) -> bool:
        subscribers = self.channels.get(channel)
        if subscribers is None or client not in subscribers:
            return False
        subscribers.discard(client)
        if not subscribers:
            del self.channels[channel]
        client.channels.discard(channel)
        return True

    def has_subscribers(self, channel: str) -> bool:
        return channel in self.channels

    def publish(self, channel: str, data: bytes) -> int:
        """Queue the same frame to every subscriber of the channel; returns how many got it."""
        subscribers = self.channels.get(channel)
        if not subscribers:
            return 0
        frame = text_frame(data)
        count = len(subscribers)
        for client in list(subscribers):
            self._enqueue(client, frame)
        return count

    def send(self, client: Client, data: bytes) -> None:
        """Queue one message to one client (replies, snapshots, pings)."""
        self._enqueue(client, text_frame(data))

    def _enqueue(self, client: Client, frame: bytes) -> None:
        if client.closed:
            return
        queue = client.queue
        if len(queue) >= self.max_queue:
            self.drop(client, "slow")
            return
        queue.append(frame)
        self.messages_queued += 1
        if not client.wake.is_set():
            client.wake.set()

    def kick(self) -> None:
        """Wake the writers that hold frames (one may have paused on a full socket buffer)."""
        for client in self.clients.values():
            if client.queue and not client.wake.is_set():
                client.wake.set()

    # --- flow control ---------------------------------------------------------------------------
    def max_backlog(self) -> int:
        return max((len(c.queue) for c in self.clients.values()), default=0)

    async def wait_drained(self, timeout_s: float) -> None:
        """Wait (at most timeout_s) until every queue is below half the soft limit."""
        if self.max_backlog() <= self.soft_queue // 2:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiter = waiter
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            pass
        finally:
            self._drain_waiter = None

    def _maybe_wake_producer(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done() and self.max_backlog() <= self.soft_queue // 2:
            waiter.set_result(None)

    def check_stalls(self, now_s: float) -> None:
        """Drop clients that are stuck or behind for stall_timeout_s (called about once a second).

        Stuck: frames queued and none written since the last check. Behind: more than half the
        soft limit queued at every check; such a client would otherwise hold a maximum-speed
        replay (which waits for the queues to drain) to its own pace for good.
        """
        for client in list(self.clients.values()):
            stuck = bool(client.queue) and client.sent == client.progress_mark
            behind = len(client.queue) > self.soft_queue // 2
            if stuck or behind:
                if client.stalled_since_s is None:
                    client.stalled_since_s = now_s
                elif now_s - client.stalled_since_s >= self.stall_timeout_s:
                    self.drop(client, "slow")
                    continue
            else:
                client.stalled_since_s = None
            client.progress_mark = client.sent

    async def _writer(self, client: Client) -> None:
        queue, transport = client.queue, client.transport
        while not client.closed:
            if queue:
                if transport is None or transport.is_closing():
                    self.remove(client)  # the peer is gone: the connection handler ends too
                    return
                if transport.get_write_buffer_size() < WRITE_BUFFER_LIMIT:  # type: ignore[attr-defined]
                    if len(queue) <= WRITE_BATCH:
                        frames = list(queue)
                        queue.clear()
                    else:
                        frames = [queue.popleft() for _ in range(WRITE_BATCH)]
                    transport.write(b"".join(frames))  # type: ignore[attr-defined]
                    client.sent += len(frames)
                    if self._drain_waiter is not None:
                        self._maybe_wake_producer()
                    await asyncio.sleep(0)  # one batch at a time: other clients and the feed go on
                    continue
                # the socket is backed up: wait for a kick or new frames; the stall check watches
            client.wake.clear()
            await client.wake.wait()


class _LevelWriter:
    """Book levels to JSON text, with memoised fragments: `{"price":"P","size":"` per price and
    `S"}` per size. Levels repeat the same prices and sizes over and over, and formatting them
    is the hot spot of publishing a book at full speed."""

    __slots__ = ("_spec", "_prices", "_sizes", "_limit")

    def __init__(self, spec: MarketSpec, limit: int = 200_000) -> None:
        self._spec = spec
        self._prices: dict[int, str] = {}
        self._sizes: dict[int, str] = {}
        self._limit = limit  # bounded memory over a long replay

    @staticmethod
    def _text(units: int, decimals: int, exact: Any) -> str:
        # below 2**52 units the float quotient printed at `decimals` is exactly the decimal
        if -(2**52) < units < 2**52:
            return f"{units / 10**decimals:.{decimals}f}"
        return exact(units)

    def write(self, levels: list[Level]) -> msgspec.Raw:
        prices, sizes, spec = self._prices, self._sizes, self._spec
        if len(prices) > self._limit:
            prices.clear()
        if len(sizes) > self._limit:
            sizes.clear()
        for p, s in levels:
            if p not in prices:
                prices[p] = '{"price":"' + self._text(p, spec.price_decimals, spec.format_price) + '","size":"'
            if s not in sizes:
                sizes[s] = self._text(s, spec.size_decimals, spec.format_size) + '"}'
        body = ",".join([prices[p] + sizes[s] for p, s in levels])
        return msgspec.Raw(f"[{body}]".encode())


class BookFeed:
    """The last published top-`depth` book of one market and the offset of its updates."""

    def __init__(self, spec: MarketSpec, depth: int = 50) -> None:
        self.spec = spec
        self.depth = depth
        self.channel = f"order_book:{spec.market_id}"
        self.offset = 0
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.last_updated_us = 0
        self._writer = _LevelWriter(spec)

    def _levels(self, levels: list[Level]) -> msgspec.Raw:
        """[{"price": "...", "size": "..."}, ...] as pre-encoded JSON."""
        return self._writer.write(levels)

    @staticmethod
    def _diff(old: dict[int, int], levels: list[Level], descending: bool) -> tuple[dict[int, int], list[Level]]:
        new = dict(levels)
        get = old.get
        changed = [(p, s) for p, s in levels if get(p) != s]
        if len(new) != len(old) or changed:
            removed = [(p, 0) for p in old if p not in new]
            if removed:
                changed.extend(removed)
                changed.sort(reverse=descending)
        return new, changed

    def update(self, bids: list[Level], asks: list[Level], ts_ms: int, skip_offset: bool = False) -> bytes | None:
        """The encoded delta from the last published book to this one, or None if nothing changed.

        bids and asks are best first, integer units, already cut to `depth`.
        """
        new_bids, changed_bids = self._diff(self.bids, bids, descending=True)
        new_asks, changed_asks = self._diff(self.asks, asks, descending=False)
        if not changed_bids and not changed_asks:
            return None
        self.bids, self.asks = new_bids, new_asks
        self.offset += 2 if skip_offset else 1
        self.last_updated_us = ts_ms * 1000
        return encode(
            {
                "channel": self.channel,
                "offset": self.offset,
                "order_book": {
                    "code": 0,
                    "asks": self._levels(changed_asks),
                    "bids": self._levels(changed_bids),
                    "offset": self.offset,
                    "nonce": self.offset,
                    "last_updated_at": self.last_updated_us,
                    # claims continuity from offset - 1, so a skipped offset shows in both fields
                    "begin_nonce": self.offset - 1,
                },
                "last_updated_at": self.last_updated_us,
                "timestamp": ts_ms,
                "type": "update/order_book",
            }
        )

    def snapshot(self, ts_ms: int) -> bytes:
        """`subscribed/order_book`: the whole published book at the current offset."""
        bids = sorted(self.bids.items(), reverse=True)
        asks = sorted(self.asks.items())
        return encode(
            {
                "channel": self.channel,
                "last_updated_at": self.last_updated_us,
                "offset": self.offset,
                "order_book": {
                    "code": 0,
                    "asks": self._levels(asks),
                    "bids": self._levels(bids),
                    "offset": self.offset,
                    "nonce": self.offset,
                    "last_updated_at": self.last_updated_us,
                    "begin_nonce": 0,
                },
                "timestamp": ts_ms,
                "type": "subscribed/order_book",
            }
        )
