"""The router when storage refuses a write (no Ray, no venue: its peers answer from this test).

- A fill whose durable write fails is not counted: the order is left as it was, and the fill comes
  round again until it is stored, then is delivered once (before, `order.filled` had grown already,
  so the replayed fill counted twice and could end an order still resting at the venue).
- An order whose journal write fails was never sent: it ends at once with a rejection to risk and
  its strategy (before, the error left `on_command` and the order stayed in flight for ever).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import actors.router as router_module
from actors.common import ActorContext, Peers, settings_dump
from actors.router import ROUTER_ERROR, RouterActor
from actors.router_orders import RouterOrder, SendGate
from messages.codec import COMMANDS, ORDER_EVENTS
from messages.orders import OrderCommand, OrderFilled, OrderIntent, OrderRejected
from tests.ray_fixtures import make_settings, strategy_entry
from venue.order_client import TxRejected
from venue.wire import Trade

pytestmark = pytest.mark.timeout(60)
ACCOUNT = 2001


class StorageDown(Exception):
    """Stands in for the storage fault persistence raises (disk full)."""


class _Call:
    def __init__(self, peers: FaultyPeers, target: str, method: str) -> None:
        self.peers, self.target, self.method = peers, target, method

    def remote(self, *args: Any) -> asyncio.Future[Any]:
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.target == "persistence" and self.method == "write_durable" and self.peers.storage_down:
            answer.set_exception(StorageDown("disk full"))
        else:
            self.peers.calls.append((self.target, self.method, args))
            answer.set_result(True)
        return answer


class _Peer:
    def __init__(self, peers: FaultyPeers, name: str) -> None:
        self._peers, self._name = peers, name

    def __getattr__(self, method: str) -> _Call:
        return _Call(self._peers, self._name, method)


class FaultyPeers(Peers):
    def __init__(self) -> None:
        super().__init__("test-router-storage")
        self.calls: list[tuple[str, str, tuple[Any, ...]]] = []
        self.storage_down = False

    def get(self, name: str) -> Any:
        return _Peer(self, name)

    def events_to(self, target: str) -> list[Any]:
        return [ORDER_EVENTS.decode(args[0]) for t, m, args in self.calls if t == target and m == "on_order_event"]


class OfflineRouter(RouterActor):
    async def _start(self) -> None:
        """No venue, no keys: the test hands the router its trades and orders."""


async def started_router(tmp_path: Path) -> tuple[OfflineRouter, FaultyPeers]:
    settings = settings_dump(make_settings(tmp_path, strategies=[strategy_entry("fast", ACCOUNT)]))
    router = OfflineRouter(ActorContext(name="router", settings=settings))
    peers = FaultyPeers()
    router.peers = router.sender.peers = peers
    await router.ready()
    return router, peers


def a_fill(trade_id: int, size: float) -> Trade:
    return Trade(trade_id=trade_id, market_id=2, price=150.0, size=size, ts_ms=1_746_000_000_000, is_maker_ask=True,
                 ask_account_id=9, bid_account_id=ACCOUNT, ask_client_id=1, bid_client_id=7, ask_id=11, bid_id=22)


async def _until(condition: Any, what: str, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_a_fill_that_could_not_be_stored_is_stored_and_counted_once_when_storage_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(router_module, "FILL_RETRY_S", 0.05)
    router, peers = await started_router(tmp_path)
    consumer = asyncio.ensure_future(router._consume())
    try:
        order = RouterOrder("fast", ACCOUNT, 2, 7, "buy", 1.0, False, state="open")
        router.orders[(ACCOUNT, 7)] = order
        peers.storage_down = True
        await router._on_trade(ACCOUNT, a_fill(501, 0.4))
        assert order.filled == 0.0 and order.order_index is None, "an unstored fill changed the order"
        assert (ACCOUNT, 501) not in router.seen_fills and peers.events_to("risk") == []
        await asyncio.sleep(0.2)  # retries while storage is still down change nothing either
        assert order.filled == 0.0 and (ACCOUNT, 501) in router.unstored_fills
        peers.storage_down = False
        await _until(lambda: (ACCOUNT, 501) in router.seen_fills, "the fill stored once storage returned")
        await router._on_trade(ACCOUNT, a_fill(501, 0.4))  # the venue's replay of it after a re-subscription
        fills = [e for e in peers.events_to("risk") if e.fill.trade_id == 501]
        assert len(fills) == 1 and fills[0].filled_total == pytest.approx(0.4)
        assert order.filled == pytest.approx(0.4) and not isinstance(fills[0], OrderFilled)
        assert not router.unstored_fills and router.counts["fills_unstored"] == 1
    finally:
        consumer.cancel()


async def test_an_order_whose_journal_write_fails_ends_rejected_and_is_never_sent(tmp_path: Path) -> None:
    router, peers = await started_router(tmp_path)
    intent = OrderIntent(strategy="fast", account_index=ACCOUNT, market_id=2, client_order_index=8, side="buy",
                         size=0.1, kind="limit", tif="gtt", reason="t", price=150.0, ts_event=1, seq=1)
    command = OrderCommand(intent=intent, ts_event=1, seq=1)
    order = RouterOrder("fast", ACCOUNT, 2, 8, "buy", 0.1, False)
    router.orders[(ACCOUNT, 8)] = order
    sent: list[int] = []

    class GatedClient:
        """Awaits the gate as the order client does after signing; records a send that passed it."""

        async def limit_order(self, *_args: Any, gate: Any = None, **_kwargs: Any) -> Any:
            await gate
            sent.append(8)
            return TxRejected(client_order_index=8, code=0, reason="not reached", sent=False)

    peers.storage_down = True
    journal = router.sender.call_now("persistence", "write_durable", COMMANDS.encode(command), timeout_s=5.0)
    outcome = await router._send(order, intent, GatedClient(), journal, SendGate(journal, command, lambda: False))
    assert outcome == "rejected" and sent == [], "an order that was not journaled reached the venue"
    assert order.done
    rejected = [e for e in peers.events_to("risk") if isinstance(e, OrderRejected)]
    assert len(rejected) == 1 and rejected[0].code == ROUTER_ERROR and "not journaled" in rejected[0].reason
    assert [e.client_order_index for e in peers.events_to("strategy:fast")] == [8]
