"""The router and risk against venue trouble (the whole paper system, one run, in this order):

- risk restarted while the venue answers 429 to its reconciliation's account call starts anyway,
  in that one incarnation (it retries with a rate-limit back-off instead of dying);
- the venue cuts the router's websocket and refuses it for a while, during which 70 of its orders
  fill: when the account subscription is back, its snapshot carries the last 50 fills and the
  router pages the rest out of the venue's trades; every fill is stored exactly once;
- an entry whose approval is older than risk.approval_ttl_ms is refused by the router (journaled,
  never sent); an exit with the same stale approval is sent;
- an order journaled while the router shuts down is never sent and ends rejected in storage: no
  order is left `pending`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, wait_until

ray_session = ray_fixtures.ray_session  # the session-wide Ray (a fixture)

ACCOUNT = 2001  # the fast strategy's (ray_fixtures.strategy_entry)
FILLED_AWAY = 70  # more than the account snapshot's 50


def command(coi: int, side: str, price: float, *, tif: str = "ioc", is_exit: bool = False,
            approved_ns: int | None = None) -> bytes:
    from messages.codec import COMMANDS
    from messages.orders import OrderCommand, OrderIntent

    now = time.time_ns()
    intent = OrderIntent(strategy="fast", account_index=ACCOUNT, market_id=2, client_order_index=coi, side=side,  # type: ignore[arg-type]
                         size=0.1, kind="limit", tif=tif, reason="test", price=round(price, 3), is_exit=is_exit,  # type: ignore[arg-type]
                         ts_event=now, seq=coi % 1_000_000)
    return COMMANDS.encode(OrderCommand(intent=intent, ts_event=now, seq=coi % 1_000_000,
                                        approved_ns=approved_ns or now, max_age_ms=1000))


def top_of_book(url: str) -> tuple[float, float]:
    from venue.rest import LighterRest

    async def read() -> tuple[float, float]:
        async with LighterRest(url) as rest:
            book = await rest.order_book_orders(2, 1)
        return book.bids[0].price, book.asks[0].price

    return asyncio.run(read())


def stored_orders(run: SystemRun) -> dict[int, Any]:
    from storage import StorageReader

    run.flush_all()
    with StorageReader(run.settings.storage.db_path) as db:
        return {o.client_order_index: o for o in db.orders(account_index=ACCOUNT)}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_router_and_risk_through_429s_a_lost_stream_stale_approvals_and_shutdown(
    ray_session: Any, tmp_path: Path
) -> None:
    import ray

    from actors.router_orders import ROUTER_SHUT_DOWN
    from risk.approval import STALE_APPROVAL

    settings = make_settings(tmp_path, source="synthetic", speed=1.0, venue={"auth_token_lifetime_s": 600})
    with SystemRun(settings) as run:
        run.call("venue-sim", "set_faults", {"freeze_feed": True})  # the strategy sees no market: no orders

        # 1. risk restarts; its limits' account call passes, its reconciliation's gets three 429s
        before = run.stats("risk")
        run.call("venue-sim", "set_faults", {"http_429_next": 3, "http_429_path": "/api/v1/account",
                                             "http_429_after": 1})
        os.kill(int(before["pid"]), signal.SIGKILL)

        def risk_back() -> dict[str, float] | None:
            try:
                stats = run.stats("risk")
            except Exception:  # not back yet
                return None
            return stats if stats["incarnation_ms"] != before["incarnation_ms"] and stats["ready"] == 1.0 else None

        after = wait_until(risk_back, 90, interval_s=0.3, message="risk to restart and be ready")
        assert run.call("venue-sim", "set_faults", {})["pending_429"] == 0  # every 429 was answered
        assert after["retried_rate_limited"] >= 3 and after["errors"] == 0  # this incarnation retried, never failed
        assert ACCOUNT in run.call("risk", "status")["reconciled"]

        # 2. the router's websocket cut and kept away while 70 of its orders fill
        bid, ask = top_of_book(settings.venue.url)
        run.call("venue-sim", "set_faults", {"refuse_ws": True, "drop_connections_now": True})
        wait_until(lambda: run.stats("venue-sim")["ws_clients"] == 0, 20, message="every websocket gone")
        resubscribed = run.stats("router")["resubscriptions"]
        cois = [8_000_000 + i for i in range(FILLED_AWAY)]
        for i, coi in enumerate(cois):
            sell = i % 2 == 1
            assert run.call("router", "on_command", command(coi, "sell" if sell else "buy",
                                                            bid * 0.995 if sell else ask * 1.005)) == "accepted"
        ours = [t for t in run.call("venue-sim", "account_trades", ACCOUNT) if t["client_order_index"] in set(cois)]
        assert len(ours) >= FILLED_AWAY
        assert not [f for f in run.db_fills() if f.client_order_index in set(cois)]  # the router heard nothing
        run.call("venue-sim", "set_faults", {"refuse_ws": False})

        def stored() -> list[Any]:
            return [f for f in run.db_fills() if f.client_order_index in set(cois)]

        wait_until(lambda: len(stored()) >= len(ours), 60, interval_s=0.3, message="the missed fills stored")
        assert sorted(f.fill.trade_id for f in stored()) == sorted(t["trade_id"] for t in ours)  # each once
        router_stats = run.stats("router")
        assert router_stats["resubscriptions"] > resubscribed
        assert router_stats["fills_recovered"] >= len(ours) - 50  # beyond the snapshot's last 50: paged

        # 3. an entry approved 3.2 s ago is refused; an exit with the same approval is sent
        bid, ask = top_of_book(settings.venue.url)
        stale = time.time_ns() - 3_200_000_000  # approved 3.2 s ago; the deadline is 1 s
        assert run.call("router", "on_command", command(9_000_001, "buy", ask * 1.005, approved_ns=stale)) == "rejected"
        assert run.call("router", "on_command", command(9_000_002, "sell", bid * 0.995, is_exit=True,
                                                        approved_ns=stale)) == "accepted"
        sent = {coi for _account, coi, _at, _code in run.call("venue-sim", "created_orders")}
        assert 9_000_001 not in sent and 9_000_002 in sent
        orders = stored_orders(run)
        assert (orders[9_000_001].status, orders[9_000_001].reject_code) == ("rejected", STALE_APPROVAL)
        assert "approval expired" in (orders[9_000_001].reject_reason or "")

        # 4. an order whose journal write is held (persistence stopped) when the router shuts down
        router = run.system.handle("router")
        persistence_pid = int(run.stats("persistence")["pid"])
        open_before = run.call("router", "open_orders").get("fast", 0)
        os.kill(persistence_pid, signal.SIGSTOP)
        try:
            placed = router.on_command.remote(command(9_000_003, "buy", bid * 0.99, tif="gtt"))
            wait_until(lambda: run.call("router", "open_orders").get("fast", 0) == open_before + 1, 20,
                       message="the order in the router, its journal write held")
            shut = router.shutdown.remote(False)
            wait_until(lambda: run.stats("router")["closing"] == 1.0, 20, message="the router shutting down")
        finally:
            os.kill(persistence_pid, signal.SIGCONT)
        assert ray.get(placed, timeout=60) == "rejected"
        ray.get(shut, timeout=60)
        assert 9_000_003 not in {coi for _a, coi, _at, _c in run.call("venue-sim", "created_orders")}
        orders = stored_orders(run)
        assert not [o.client_order_index for o in orders.values() if o.status == "pending"]
        assert (orders[9_000_003].status, orders[9_000_003].reject_code) == ("rejected", ROUTER_SHUT_DOWN)
