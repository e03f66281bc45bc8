"""The pure parts of the router's and risk's hardening: an approval's deadline (risk.approval) and
the send gate that applies it (actors.router_orders), the back-off after a venue error
(venue.backoff), and the simulator's deterministic 429 knob (venue.sim.faults)."""

from __future__ import annotations

import asyncio

import pytest

from actors.router_orders import ROUTER_SHUT_DOWN, NotSent, SendGate
from messages.orders import CancelIntent, ModifyIntent, OrderCommand, OrderIntent
from risk.approval import STALE_APPROVAL, approval_deadline_ns, approval_refusal
from venue import codes
from venue.backoff import next_delay_s, rate_limited
from venue.rest import VenueError
from venue.sim.faults import Faults

MS = 1_000_000
T0 = 1_800_000_000_000_000_000


def entry(**kw: object) -> OrderIntent:
    fields: dict[str, object] = dict(strategy="s", account_index=1, market_id=2, client_order_index=7, side="buy",
                                     size=0.1, kind="limit", tif="gtt", reason="t", price=100.0, ts_event=1, seq=1)
    fields.update(kw)
    return OrderIntent(**fields)  # type: ignore[arg-type]


def command(intent: object, approved_ns: int = T0, max_age_ms: int = 1000) -> OrderCommand:
    return OrderCommand(intent=intent, ts_event=approved_ns, seq=1, approved_ns=approved_ns,  # type: ignore[arg-type]
                        max_age_ms=max_age_ms)


def test_an_entry_is_refused_once_its_approval_is_older_than_its_max_age() -> None:
    cmd = command(entry())
    assert approval_deadline_ns(cmd) == T0 + 1000 * MS
    assert approval_refusal(cmd, T0) is None
    assert approval_refusal(cmd, T0 + 1000 * MS) is None  # the deadline itself is still in time
    reason = approval_refusal(cmd, T0 + 3200 * MS)
    assert reason is not None and "approval expired" in reason and "3200 ms" in reason and "1000 ms" in reason


def test_exits_cancels_modifies_and_commands_without_a_deadline_are_never_refused_for_age() -> None:
    late = T0 + 60_000 * MS
    assert approval_refusal(command(entry(is_exit=True)), late) is None
    assert approval_refusal(command(entry(reduce_only=True)), late) is None
    cancel = CancelIntent(strategy="s", account_index=1, market_id=2, client_order_index=7, reason="t",
                          ts_event=1, seq=2)
    assert approval_refusal(command(cancel), late) is None
    modify = ModifyIntent(strategy="s", account_index=1, market_id=2, client_order_index=7, side="buy", price=99.0,
                          size=0.1, reason="t", ts_event=1, seq=3)
    assert approval_refusal(command(modify), late) is None
    assert approval_refusal(command(entry(), max_age_ms=0), late) is None  # risk.approval_ttl_ms = 0: none
    assert approval_refusal(OrderCommand(intent=entry(), ts_event=T0, seq=1), late) is None  # an older risk


async def test_the_send_gate_waits_for_the_journal_then_refuses_a_stale_approval_or_a_shutdown() -> None:
    now = [T0]
    closing = [False]
    journal: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    gate = SendGate(journal, command(entry()), lambda: closing[0], clock=lambda: now[0])
    waiting = asyncio.ensure_future(_await(gate))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # nothing is sent before the journal's write returned
    now[0] = T0 + 1500 * MS  # the journal was slow: the approval expired meanwhile
    journal.set_result(None)
    with pytest.raises(NotSent) as refused:
        await waiting
    assert refused.value.code == STALE_APPROVAL and "approval expired" in refused.value.reason
    now[0] = T0 + 10 * MS
    await gate  # awaited again (a re-send after nothing left): checked again, in time now
    closing[0] = True
    with pytest.raises(NotSent) as refused:
        await gate
    assert refused.value.code == ROUTER_SHUT_DOWN and "never sent" in refused.value.reason
    exit_gate = SendGate(journal, command(entry(is_exit=True)), lambda: False, clock=lambda: T0 + 60_000 * MS)
    await exit_gate  # an exit is never refused for age


async def _await(gate: SendGate) -> None:
    await gate


def test_back_off_after_a_rate_limit_starts_at_half_a_second_and_doubles_to_eight() -> None:
    limited = VenueError(codes.TOO_MANY_REQUESTS, "too many requests", 429)
    delays, delay = [], 0.025
    for _ in range(7):
        delay = next_delay_s(limited, delay)
        delays.append(delay)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    other, delay, delays = VenueError(-1, "ClientConnectorError", 0), 0.025, []
    for _ in range(7):
        delay = next_delay_s(other, delay)
        delays.append(delay)
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert not rate_limited(VenueError(codes.INVALID_ACCOUNT, "no such account", 200))
    assert rate_limited(VenueError(codes.TOO_MANY_REQUESTS, "in a 200 body", 200))

    class Wrapped(Exception):  # how Ray hands a peer's exception to its caller (RayTaskError.cause)
        cause = limited

    assert rate_limited(Wrapped()) and next_delay_s(Wrapped(), 0.025) == 0.5


def test_the_next_n_requests_to_a_path_are_answered_429_after_the_first_k_pass() -> None:
    faults = Faults()
    assert not faults.update({"http_429_next": 2, "http_429_path": "/api/v1/account", "http_429_after": 1})
    answers = [faults.http_429(p) for p in ("/api/v1/account", "/api/v1/trades", "/api/v1/account",
                                            "/api/v1/orderBookDetails", "/api/v1/account", "/api/v1/account")]
    assert answers == [False, False, True, False, True, False]
    assert faults.snapshot()["pending_429"] == 0
    faults.update({"http_429_next": 2})  # any /api path
    assert [faults.http_429(p) for p in ("/api/v1/trades", "/api/v1/account", "/api/v1/account")] == \
        [True, True, False]
    for bad in ({"http_429_next": -1}, {"http_429_next": True}, {"http_429_path": "/sim/faults", "http_429_next": 1},
                {"http_429_after": "2"}):
        with pytest.raises(ValueError, match="http_429"):
            faults.update(bad)
    assert faults.update({"refuse_ws": True}) is False and faults.config.refuse_ws


def test_a_venue_trade_becomes_the_orders_fill_event_and_a_canceled_status_its_end() -> None:
    from types import SimpleNamespace

    from actors.router_orders import RouterOrder, coi_of, ended_event, fill_event
    from messages.orders import OrderCanceled, OrderExpired, OrderFilled, OrderPartiallyFilled

    order = RouterOrder("s", 5, 2, 77, "sell", 0.3, False, state="sent")
    trade = SimpleNamespace(trade_id=9, market_id=2, price=100.0, size=0.1, ts_ms=1_700_000_000_000,
                            ask_account_id=5, ask_client_id=77, ask_id=1234, bid_account_id=6, bid_client_id=1,
                            bid_id=99, is_maker_ask=True, maker_fee=20, taker_fee=200)
    assert coi_of(5, trade) == 77 and coi_of(6, trade) == 1 and coi_of(7, trade) == -1
    first = fill_event(order, trade, seq=1)
    assert isinstance(first, OrderPartiallyFilled) and first.side == "sell" and order.order_index == 1234
    assert first.fill.is_maker and first.fill.fee == pytest.approx(100.0 * 0.1 * 20 / 1e6)
    assert (first.filled_total, first.remaining, first.ts_event) == (pytest.approx(0.1), pytest.approx(0.2),
                                                                     1_700_000_000_000 * 1_000_000)
    last = fill_event(order, SimpleNamespace(**{**vars(trade), "trade_id": 10, "size": 0.2}), seq=2)
    assert isinstance(last, OrderFilled) and last.remaining == 0.0
    canceled = ended_event(order, "canceled-post-only", 1_700_000_000_500, seq=3)
    assert isinstance(canceled, OrderCanceled) and canceled.reason == "canceled-post-only"
    assert isinstance(ended_event(order, "canceled-expired", 1, seq=4), OrderExpired)


def test_preflight_asks_a_refusing_venue_again_before_calling_it_unreachable() -> None:
    import socket
    import threading
    import time

    from venue.preflight import unreachable_reason

    with socket.socket() as probe:  # a free port, closed again: connections to it are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    reason = unreachable_reason(f"http://127.0.0.1:{port}", timeout_s=2.0, refused_retries_s=(0.1, 0.2))
    assert reason is not None and f"127.0.0.1:{port}" in reason
    assert time.monotonic() - started >= 0.3  # asked three times, with the waits between

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def come_up() -> None:  # a venue restarting: it listens 0.3 s from now
        time.sleep(0.3)
        server.bind(("127.0.0.1", port))
        server.listen()

    riser = threading.Thread(target=come_up)
    riser.start()
    try:
        assert unreachable_reason(f"http://127.0.0.1:{port}", timeout_s=2.0, refused_retries_s=(0.2, 0.4, 0.8)) is None
    finally:
        riser.join()
        server.close()
