"""The data lane: direct actor-to-actor calls over one TCP connection per (caller, receiver) pair,
for the hot path (market batches, intents, commands, journal writes).

Why: on the 2-core machine a Ray actor call costs about 1.6 ms of latency and about 1 ms of CPU,
and the tick-to-order path has four of them. A length-prefixed msgpack frame over a loopback socket
costs a few tens of microseconds. Ray stays the control plane: it creates, restarts and names the
actors, carries heartbeats, queries and everything not listed below, and it is the fallback of the
lane, so the lane changes the cost of a call and nothing else:

- A receiver serves only the methods it lists in `LANE_METHODS` (the same coroutine methods Ray
  calls), on 127.0.0.1 when Ray runs on this machine alone, else on the node's address. Its
  address is asked for through Ray (`lane_address`), so a restarted receiver is found again.
- A connection opens with the system's lane token (made by the supervisor, handed to every actor
  in its context): a peer that cannot present it is disconnected before any call is read.
- A caller uses the lane only while a connection is up; otherwise the call goes through Ray and a
  connection is attempted in the background. When a connection breaks, every call on it that has
  no answer yet is made again through Ray, in the order it was made (Ray queues calls for an actor
  that is restarting). The receiver may have run some of them already: handlers are idempotent
  (they dedupe on seq, client order index or trade id), as Ray's own retries already require.
- An exception raised by a handler is the caller's (as with Ray), never a reason to call again.

Frames: 4-byte big-endian length, then msgpack. Call: [id, method, args]; answer: [id, ok, value]
with value the handler's result, or "TypeName: message" when ok is false.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from loguru import logger

HEADER = 4
MAX_FRAME = 256 * 1024 * 1024
HELLO_MAX = 1024  # a peer that has not shown the token yet gets no bigger frame read
RECONNECT_AFTER_S = 0.5  # at most one connection attempt per receiver this often after a failure
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


class LaneBroken(ConnectionError):
    """The connection went away before the answer came: the call may or may not have run."""


class LaneRemoteError(RuntimeError):
    """The receiver's handler raised (its type and message, never a traceback with locals)."""


def _frame(payload: list[Any]) -> bytes:
    body = _encode(payload)
    return len(body).to_bytes(HEADER, "big") + body


async def _read_frame(reader: asyncio.StreamReader, max_size: int = MAX_FRAME) -> Any:
    size = int.from_bytes(await reader.readexactly(HEADER), "big")
    if size > max_size:
        raise ValueError(f"lane frame of {size} bytes")
    return _decode(await reader.readexactly(size))


# ---------------------------------------------------------------------------------------------
# the receiver's side
# ---------------------------------------------------------------------------------------------


class LaneServer:
    """Serves `target`'s methods named in `methods` to callers that present `token`."""

    def __init__(self, owner: str, target: object, methods: frozenset[str], token: str, host: str) -> None:
        self.owner = owner
        self.target = target
        self.methods = methods
        self.token = token.encode()
        self.host = host
        self.port = 0
        self.calls = 0
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.host, self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hello = await asyncio.wait_for(_read_frame(reader, max_size=HELLO_MAX), timeout=5.0)
            if not (isinstance(hello, list) and len(hello) == 2 and hello[0] == "hello"
                    and isinstance(hello[1], str) and hmac.compare_digest(hello[1].encode(), self.token)):
                self.refused += 1
                logger.bind(actor=self.owner).warning("lane: a connection without the system's token was refused")
                return
            writer.write(_frame(["welcome"]))
            while True:
                call_id, method, args = await _read_frame(reader)
                if method not in self.methods:
                    writer.write(_frame([call_id, False, f"LookupError: {method!r} is not served on the lane"]))
                    continue
                self.calls += 1
                # one task per call, started in arrival order (as Ray starts an async actor's calls)
                task = asyncio.ensure_future(self._run(writer, call_id, getattr(self.target, method), args))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass  # the caller went away: what it had in flight it sends again through Ray
        except Exception as exc:  # a malformed frame: drop the connection, not the actor
            logger.bind(actor=self.owner).warning("lane: connection dropped ({}: {})", type(exc).__name__, exc)
        finally:
            writer.close()

    @staticmethod
    async def _run(writer: asyncio.StreamWriter, call_id: int, handler: Callable[..., Awaitable[Any]],
                   args: list[Any]) -> None:
        try:
            result = await handler(*args)
            answer = [call_id, True, result]
        except Exception as exc:
            answer = [call_id, False, f"{type(exc).__name__}: {exc}"]
        if not writer.is_closing():
            writer.write(_frame(answer))


# ---------------------------------------------------------------------------------------------
# the caller's side
# ---------------------------------------------------------------------------------------------


class _Call:
    __slots__ = ("method", "args", "future")

    def __init__(self, method: str, args: tuple[Any, ...], future: asyncio.Future[Any]) -> None:
        self.method = method
        self.args = args
        self.future = future


class LaneClient:
    """Calls to one receiver. `ray_call(method, *args)` makes the same call through Ray: the path
    taken while no connection is up, and for the calls a broken connection leaves unanswered."""

    def __init__(self, owner: str, target: str, token: str, lookup: Callable[[], Awaitable[Any]],
                 ray_call: Callable[..., Awaitable[Any]], clock: Callable[[], float]) -> None:
        self.owner = owner
        self.target = target
        self.token = token
        self.lookup = lookup
        self.ray_call = ray_call
        self.clock = clock
        self.methods: frozenset[str] = frozenset()
        self.writer: asyncio.StreamWriter | None = None
        self.pending: dict[int, _Call] = {}
        self.ids = itertools.count(1)
        self.connecting: asyncio.Task[None] | None = None
        self.reading: asyncio.Task[None] | None = None
        self.next_attempt = 0.0
        self.lane_calls = 0
        self.ray_calls = 0
        self.rerouted = 0
        self.breaks = 0

    @property
    def up(self) -> bool:
        return self.writer is not None and not self.writer.is_closing()

    def call(self, method: str, *args: Any) -> Awaitable[Any]:
        """The answer of target.method(*args), by the lane if it is up and serves the method."""
        if self.up and method in self.methods:
            assert self.writer is not None
            call_id = next(self.ids)
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self.pending[call_id] = _Call(method, args, future)
            self.writer.write(_frame([call_id, method, list(args)]))
            self.lane_calls += 1
            return future
        self.connect_soon()
        self.ray_calls += 1
        return asyncio.ensure_future(self.ray_call(method, *args))

    def connect_soon(self) -> None:
        if self.connecting is not None or self.up or self.clock() < self.next_attempt:
            return
        self.next_attempt = self.clock() + RECONNECT_AFTER_S
        self.connecting = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        try:
            address = await self.lookup()
            if address is None:
                return  # the receiver serves no lane (yet): Ray carries its calls
            host, port, methods = address
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=5.0)
            writer.write(_frame(["hello", self.token]))
            welcome = await asyncio.wait_for(_read_frame(reader), timeout=5.0)
            if welcome != ["welcome"]:
                writer.close()
                return
            self.methods = frozenset(methods)
            self.writer = writer
            self.reading = asyncio.ensure_future(self._read_answers(reader, writer))  # held: the loop keeps weak refs
        except Exception as exc:  # the receiver is restarting or unreachable: Ray carries the calls
            logger.bind(actor=self.owner).debug("lane to {} not up: {}: {}", self.target, type(exc).__name__, exc)
        finally:
            self.connecting = None

    async def _read_answers(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                call_id, ok, value = await _read_frame(reader)
                call = self.pending.pop(call_id, None)
                if call is None or call.future.done():
                    continue
                if ok:
                    call.future.set_result(value)
                else:
                    call.future.set_exception(LaneRemoteError(f"{self.target}.{call.method}: {value}"))
        except Exception as exc:
            if not isinstance(exc, (asyncio.IncompleteReadError, ConnectionError)):
                logger.bind(actor=self.owner).warning("lane to {} dropped: {}: {}", self.target,
                                                      type(exc).__name__, exc)
        finally:
            writer.close()
            if self.writer is writer:
                self.writer = None
            self.breaks += 1
            self._reroute()

    def _reroute(self) -> None:
        """The calls left without an answer go through Ray, in the order they were made."""
        calls = [self.pending.pop(k) for k in sorted(self.pending)]
        for call in calls:
            if call.future.done():
                continue
            self.rerouted += 1
            self.ray_calls += 1
            rerouted = asyncio.ensure_future(self.ray_call(call.method, *call.args))
            rerouted.add_done_callback(functools.partial(_copy_outcome, target=call.future))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _copy_outcome(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())  # type: ignore[arg-type]
    else:
        target.set_result(source.result())
