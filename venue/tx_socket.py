"""Signed transactions over Lighter's websocket (`jsonapi/sendtx` on wss://.../stream).

Lighter takes a transaction over its websocket as well as over REST `sendTx`:
    -> {"type": "jsonapi/sendtx", "data": {"id": "7", "tx_type": 14, "tx_info": {...}}}
    <- {"type": "jsonapi/sendtx", "id": "7", "code": 200, "tx_hash": "..."}   (or a code and message)
and a batch (at most 15) as `jsonapi/sendtxbatch`, whose data carries `tx_types` and `tx_infos`
as JSON strings, as REST sendTxBatch takes them; the answer has sendTxBatch's fields.
The OrderClient sends over this socket while it is connected and over REST otherwise.

Why: on one persistent connection a transaction costs one websocket frame each way. Measured on
the 2-core machine: the transport alone (an aiohttp server in another process, 2,000 calls) round
trips in 140-160 us against 340-350 us for an HTTP POST on a keep-alive connection, with about half
the CPU on both sides; a signed order to the simulator's answer (`scripts/bench_venue.py`, 2
clients, 2,000 orders) p50 1.45 ms against 1.72, 1,323 orders/s against 1,072, 793 us of client
CPU per order against 970.

One transaction in flight per socket: the OrderClient serializes the transactions of an API key
(nonces count up by one), and owns one socket per key. So an answer is the in-flight one's; its
`id`, when the venue echoes it, is checked. Outcomes of `send`:
- the answer's JSON (the fields of a sendTx answer: code, message, tx_hash),
- `NotSent`: the socket is not connected; nothing left this process (the caller uses REST),
- `FateUnknown`: the connection broke or no answer came in time after the frame was written.
The socket reconnects in the background (at most every `reconnect_s`), answers the venue's
application-level pings and sends protocol-level ones, which keep the connection alive (Lighter
closes a silent one after 2 minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import aiohttp
import msgspec
from loguru import logger

from venue import codes

_PONG = msgspec.json.encode({"type": "pong"}).decode()


class NotSent(ConnectionError):
    """The socket is not connected: nothing was sent."""


class FateUnknown(ConnectionError):
    """Sent, but no answer (the connection broke or the answer is late): the venue may have it."""


class _Frame(msgspec.Struct):
    type: str = ""
    id: str | int | None = None
    code: int | None = None
    message: str | None = None
    tx_hash: str | list[str] | None = None
    results: list[Any] | None = None
    error: Any = None
    data: Any = None


def http_status_for(code: int) -> int:
    """The HTTP status REST sendTx would have answered with this code, which tells whether the
    venue sequenced the transaction (its nonce is spent): 200 for acceptance and for refusals
    by the engine (21xxx), 400 for refusals at the gate (20xxx request validation, a wrong nonce),
    429 for the rate limit. A 21xxx code that was in fact a gate refusal costs one invalid-nonce
    answer and a nonce refresh on the next transaction, never a lost order."""
    if code == codes.OK:
        return 200
    if code == codes.TOO_MANY_REQUESTS:
        return 429
    if 20000 <= code < 21000 or code in (codes.INVALID_NONCE, codes.INVALID_BATCH_NONCES):
        return 400
    return 200


class TxSocket:
    def __init__(self, ws_url: str, session: aiohttp.ClientSession, *, reconnect_s: float = 1.0) -> None:
        self.ws_url = ws_url
        self._session = session
        self._reconnect_s = reconnect_s
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._waiting: tuple[str, asyncio.Future[bytes]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        self._closed = False
        self.connects = 0
        self.sent = 0
        self._log = logger.bind(component="tx_socket")

    @property
    def up(self) -> bool:
        return self._ws is not None and not self._ws.closed

    def start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.ensure_future(self._run())

    async def wait_up(self, timeout_s: float) -> bool:
        self.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), timeout=timeout_s)
        return self.up

    async def send(self, tx_type: int, tx_info: str, timeout_s: float) -> bytes:
        """Send one signed transaction; the venue's answer (JSON bytes). See the module docstring."""
        return await self._request("jsonapi/sendtx", {"tx_type": tx_type, "tx_info": msgspec.Raw(tx_info.encode())},
                                   timeout_s)  # fmt: skip

    async def send_batch(self, tx_types: list[int], tx_infos: list[str], timeout_s: float) -> bytes:
        """Send signed transactions as one batch; the venue's answer (JSON bytes: code, message,
        tx_hash list and, from the simulator, each transaction's result)."""
        return await self._request("jsonapi/sendtxbatch", {
            "tx_types": msgspec.json.encode(tx_types).decode(),
            "tx_infos": msgspec.json.encode(tx_infos).decode()}, timeout_s)  # fmt: skip

    async def _request(self, kind: str, data: dict[str, Any], timeout_s: float) -> bytes:
        ws = self._ws
        if ws is None or ws.closed:
            raise NotSent("the transaction socket is not connected")
        if self._waiting is not None:
            raise RuntimeError("one transaction at a time per socket")
        request_id = str(next(self._ids))
        frame = msgspec.json.encode({"type": kind, "data": {"id": request_id, **data}})
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting = (request_id, answer)
        try:
            try:
                await ws.send_str(frame.decode())
            except (ConnectionError, RuntimeError) as exc:  # closing under us: the frame did not go out
                raise NotSent(f"the transaction socket closed ({type(exc).__name__})") from None
            self.sent += 1
            try:
                return await asyncio.wait_for(answer, timeout=timeout_s)
            except TimeoutError:
                raise FateUnknown(f"no answer within {timeout_s:g} s") from None
        finally:
            self._waiting = None

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._ws is not None:
            await self._ws.close()

    # --- the connection ------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._closed:
            try:
                # heartbeat: protocol-level pings every 30 s, so the venue never sees the socket idle
                # (Lighter drops a connection silent for 2 minutes) between orders
                async with self._session.ws_connect(self.ws_url, autoping=True, heartbeat=30.0, compress=0,
                                                    max_msg_size=4 * 1024 * 1024) as ws:
                    self._ws = ws
                    self.connects += 1
                    self._up.set()
                    await self._read(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the venue is unreachable or dropped us: REST carries the orders
                self._log.debug("transaction socket down: {}", type(exc).__name__)
            finally:
                self._ws = None
                self._up.clear()
                self._fail_waiting("the transaction socket closed")
            await asyncio.sleep(self._reconnect_s)  # at most one connection attempt per period

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                continue
            raw = msg.data.encode() if isinstance(msg.data, str) else msg.data
            try:
                frame = msgspec.json.decode(raw, type=_Frame)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue  # not an answer we can read: a late or foreign frame
            if frame.type == "ping":
                await ws.send_str(_PONG)
            elif frame.type.startswith("jsonapi/") or frame.type == "error":
                self._answer(frame)

    def _answer(self, frame: _Frame) -> None:
        if self._waiting is None:
            return  # an answer nobody waits for any more (it came after the timeout)
        request_id, future = self._waiting
        nested = frame.data if isinstance(frame.data, dict) else {}  # some answers nest their fields in data
        echoed = frame.id if frame.id is not None else nested.get("id")
        if (echoed is not None and str(echoed) != request_id) or future.done():
            return
        code = frame.code if frame.code is not None else nested.get("code")
        message = frame.message if frame.message is not None else nested.get("message")
        tx_hash = frame.tx_hash if frame.tx_hash is not None else nested.get("tx_hash")
        error = frame.error if frame.error is not None else nested.get("error")
        if code is None and (error is not None or frame.type == "error"):
            detail = error if isinstance(error, dict) else {}
            code = detail.get("code") if isinstance(detail.get("code"), int) else codes.INVALID_PARAM
            message = message or detail.get("message") or (str(error) if error is not None else "error")
        if not isinstance(code, int):
            if tx_hash is None:
                future.set_exception(FateUnknown("an answer without a code"))
                return
            code = codes.OK
        results = frame.results if frame.results is not None else nested.get("results")
        reply: dict[str, Any] = {"code": code, "message": message, "tx_hash": tx_hash}
        if results is not None:
            reply["results"] = results
        future.set_result(msgspec.json.encode(reply))

    def _fail_waiting(self, reason: str) -> None:
        if self._waiting is not None and not self._waiting[1].done():
            self._waiting[1].set_exception(FateUnknown(reason))
