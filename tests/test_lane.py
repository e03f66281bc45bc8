"""The data lane (actors.lane) without Ray: a real server and client on a loopback socket; the
Ray fallback is a recording coroutine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.lane import LaneClient, LaneRemoteError, LaneServer

pytestmark = pytest.mark.timeout(30)
TOKEN = "t" * 32


class Receiver:
    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.gate: asyncio.Event | None = None

    async def on_batch(self, data: bytes) -> str:
        if self.gate is not None:
            await self.gate.wait()
        self.seen.append(data)
        return f"got {len(data)}"

    async def on_intent(self, value: int, origin: int = 0) -> dict[str, int]:
        if value < 0:
            raise ValueError("negative")
        return {"value": value, "origin": origin}

    async def secret(self) -> str:  # not listed: never served
        return "no"


class Fallback:
    """What Ray would do: records the calls it carries and answers them itself."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def __call__(self, method: str, *args: Any) -> Any:
        self.calls.append((method, args))
        return ("ray", method)


async def _pair(receiver: Receiver, token: str = TOKEN) -> tuple[LaneServer, LaneClient, Fallback]:
    server = LaneServer("receiver", receiver, frozenset({"on_batch", "on_intent"}), TOKEN, "127.0.0.1")
    host, port = await server.start()
    fallback = Fallback()

    async def lookup() -> list[Any]:
        return [host, port, sorted(server.methods)]

    client = LaneClient("caller", "receiver", token, lookup=lookup, ray_call=fallback, clock=lambda: 0.0)
    return server, client, fallback


async def _connected(receiver: Receiver) -> tuple[LaneServer, LaneClient, Fallback]:
    """A pair whose lane is up (the first call went by the fallback, which is then forgotten)."""
    server, client, fallback = await _pair(receiver)
    client.call("on_batch", b"warm")
    await _until(lambda: client.up)
    fallback.calls.clear()
    return server, client, fallback


async def _until(predicate: Any, timeout_s: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout_s)


async def test_calls_go_by_ray_until_the_lane_is_up_then_by_the_lane() -> None:
    receiver = Receiver()
    server, client, fallback = await _pair(receiver)
    assert await client.call("on_batch", b"first") == ("ray", "on_batch")  # not connected yet
    await _until(lambda: client.up)
    assert await client.call("on_batch", b"abc") == "got 3"
    assert await client.call("on_intent", 7, 99) == {"value": 7, "origin": 99}
    assert receiver.seen == [b"abc"]
    assert fallback.calls == [("on_batch", (b"first",))]
    assert (client.lane_calls, client.ray_calls, server.calls) == (2, 1, 2)
    client.close()
    await server.stop()


async def test_a_handler_error_is_the_callers_and_is_not_sent_again() -> None:
    receiver = Receiver()
    server, client, fallback = await _connected(receiver)
    with pytest.raises(LaneRemoteError, match="ValueError: negative"):
        await client.call("on_intent", -1)
    assert fallback.calls == []
    client.close()
    await server.stop()


async def test_a_method_the_receiver_does_not_list_is_refused() -> None:
    receiver = Receiver()
    server, client, _fallback = await _connected(receiver)
    client.methods = frozenset({"secret"})  # a caller that asks anyway
    with pytest.raises(LaneRemoteError, match="not served on the lane"):
        await client.call("secret")
    client.close()
    await server.stop()


async def test_a_caller_without_the_token_is_refused() -> None:
    receiver = Receiver()
    server, client, fallback = await _pair(receiver, token="wrong" * 6)
    client.call("on_batch", b"x")
    await _until(lambda: server.refused == 1)
    await asyncio.sleep(0.05)
    assert not client.up
    assert await client.call("on_batch", b"y") == ("ray", "on_batch")
    assert receiver.seen == [] and server.calls == 0
    await server.stop()


async def test_calls_unanswered_when_the_connection_breaks_go_by_ray_in_order() -> None:
    receiver = Receiver()
    server, client, fallback = await _connected(receiver)
    receiver.gate = asyncio.Event()  # the receiver holds the calls: no answer comes
    answers = [client.call("on_batch", bytes([i])) for i in range(5)]
    await _until(lambda: server.calls == 5)
    assert client.writer is not None
    client.writer.transport.abort()  # the connection breaks (as when the receiver's process dies)
    results = await asyncio.wait_for(asyncio.gather(*answers), 5.0)
    assert results == [("ray", "on_batch")] * 5
    assert fallback.calls == [("on_batch", (bytes([i]),)) for i in range(5)]
    assert client.rerouted == 5 and not client.up
    receiver.gate.set()
    await server.stop()


async def test_a_restarted_receiver_is_found_again() -> None:
    receiver = Receiver()
    server, client, fallback = await _pair(receiver)
    client.call("on_batch", b"a")
    await _until(lambda: client.up)
    assert client.writer is not None
    client.writer.transport.abort()
    await _until(lambda: not client.up)
    await server.stop()
    # a new incarnation on another port; the client asks its lookup again
    second = LaneServer("receiver", receiver, frozenset({"on_batch"}), TOKEN, "127.0.0.1")
    host, port = await second.start()

    async def lookup() -> list[Any]:
        return [host, port, ["on_batch"]]

    client.lookup = lookup
    client.clock = lambda: 10.0  # past the pause between connection attempts
    assert await client.call("on_batch", b"b") == ("ray", "on_batch")
    await _until(lambda: client.up)
    assert await client.call("on_batch", b"cc") == "got 2"
    assert second.calls == 1
    client.close()
    await second.stop()


async def test_a_peer_without_the_token_cannot_make_the_receiver_read_a_big_frame() -> None:
    receiver = Receiver()
    server = LaneServer("receiver", receiver, frozenset({"on_batch"}), TOKEN, "127.0.0.1")
    host, port = await server.start()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write((64 * 1024 * 1024).to_bytes(4, "big"))  # announces 64 MiB before any hello
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5.0) == b""  # dropped at once
    assert server.calls == 0
    writer.close()
    await server.stop()


async def test_a_lane_opened_ahead_carries_the_first_call() -> None:
    receiver = Receiver()
    server, client, fallback = await _pair(receiver)
    client.connect_soon()  # what Sender.open_lanes does at an actor's start
    await _until(lambda: client.up)
    assert await client.call("on_batch", b"first") == "got 5"
    assert fallback.calls == [] and receiver.seen == [b"first"] and client.ray_calls == 0
    client.close()
    await server.stop()
