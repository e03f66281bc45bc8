"""The router against the auth-requiring paper venue (the whole system, every actor).

- Tokens of 3 s: the router's account subscription is renewed again and again, and not one fill
  is lost (the venue's fills of the account == storage's, positions agree).
- A router restart after 200 fills it never heard of: the router is stopped (SIGSTOP), 200
  orders it had journaled fill at the venue, it is killed (SIGKILL) and Ray starts it again; it
  stores every one of them exactly once: the account snapshot carries the last 50, the rest come
  from paging the account's trades.
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
MISSED = 200


def wait_restarted(run: SystemRun, before: dict[str, float], timeout_s: float = 60.0) -> dict[str, float]:
    def back() -> dict[str, float] | None:
        try:
            stats = run.stats("router")
        except Exception:  # not back yet
            return None
        return stats if stats["incarnation_ms"] != before["incarnation_ms"] and stats["ready"] == 1.0 else None

    return wait_until(back, timeout_s, interval_s=0.2, message="the router to restart")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_short_lived_tokens_are_renewed_and_no_fill_is_lost(
    ray_session: Any, tmp_path: Path, sol_candles_path: Path
) -> None:
    settings = make_settings(tmp_path, source="candles", source_path=sol_candles_path, speed=60,
                             venue={"auth_token_lifetime_s": 3})
    with SystemRun(settings) as run:
        started = time.monotonic()
        wait_until(lambda: run.stats("router")["account_renewals"] >= 6 and run.total_fills() >= 4, 90,
                   interval_s=0.5, message="six renewals and four fills")
        run.quiesce()  # venue fills == stored fills, nothing in flight
        facts = run.check_invariants()
        stats = run.stats("router")
        assert stats["account_subscriptions_ended"] == 0  # always renewed before the venue ended it
        assert stats["auth_tokens_made"] >= 4  # a new token every 2.4 s
        assert facts["fills"] >= 4
        assert time.monotonic() - started >= 6 * 3 * 0.5  # the renewals took their time: tokens lived


def _journal_and_fill(run: SystemRun, settings: Any) -> list[int]:
    """Journal MISSED IOC orders as the router would have, then fill them at the venue with an
    order client of the account's own (another API key): the router hears nothing of it."""
    import lighter

    from messages.codec import COMMANDS
    from messages.orders import OrderCommand, OrderIntent
    from venue.order_client import OrderClient, TxAccepted
    from venue.rest import LighterRest

    base_coi = 7_000_000
    now = time.time_ns()
    commands = []
    for i in range(MISSED):
        intent = OrderIntent(strategy="fast", account_index=ACCOUNT, market_id=2, client_order_index=base_coi + i,
                             side="sell" if i % 2 else "buy", size=0.1, kind="limit", tif="ioc", reason="test",
                             price=1.0 if i % 2 else 10_000.0, ts_event=now + i, seq=i + 1)
        commands.append(COMMANDS.encode(OrderCommand(intent=intent, ts_event=now + i, seq=i + 1)))
    assert all(run.call("persistence", "write_durable_many", commands))

    async def send() -> list[int]:
        key, _public, error = lighter.create_api_key()
        assert error is None and key
        async with LighterRest(settings.venue.url) as rest:
            markets = await rest.order_book_details()
            book = await rest.order_book_orders(2, 1)
        bid, ask = book.bids[0].price, book.asks[0].price
        async with await OrderClient.create(settings.venue.url, ACCOUNT, 9, key, {2: markets[2]},
                                            rate_limit=None) as client:
            for i in range(MISSED):
                is_ask = i % 2 == 1
                outcome = await client.limit_order(2, is_ask, 0.1, bid * 0.995 if is_ask else ask * 1.005, tif="ioc",
                                                   client_order_index=base_coi + i)
                assert isinstance(outcome, TxAccepted), outcome
        return [base_coi + i for i in range(MISSED)]

    return asyncio.run(send())


@pytest.mark.timeout(180)
def test_a_restarted_router_stores_every_fill_it_missed_exactly_once(ray_session: Any, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, source="synthetic", speed=1.0, venue={"auth_token_lifetime_s": 600})
    with SystemRun(settings) as run:
        run.call("venue-sim", "set_faults", {"freeze_feed": True})  # the strategy sees no market: no orders
        before = run.stats("router")
        os.kill(int(before["pid"]), signal.SIGSTOP)
        try:
            cois = set(_journal_and_fill(run, settings))
        finally:
            os.kill(int(before["pid"]), signal.SIGKILL)  # never heard of them: gone before it woke
        ours = [t for t in run.call("venue-sim", "account_trades", ACCOUNT) if t["client_order_index"] in cois]
        assert len(ours) >= MISSED and {t["client_order_index"] for t in ours} == cois
        after = wait_restarted(run, before)

        def stored() -> list[Any]:
            return [f for f in run.db_fills() if f.client_order_index in cois]

        wait_until(lambda: len(stored()) >= len(ours), 60, interval_s=0.3, message="the missed fills stored")
        fills = stored()
        assert sorted(f.fill.trade_id for f in fills) == sorted(t["trade_id"] for t in ours)  # each once
        assert after["fills_recovered"] >= len(ours) - 50  # beyond the snapshot's last 50: paged
        assert after["trade_pages"] >= 2
        run.quiesce()  # every fill of the account at the venue is stored
        # delivered once: risk's position is the venue's (a fill delivered twice would count twice)
        venue = run.call("venue-sim", "positions", ACCOUNT).get(2, 0.0)
        assert abs(run.call("risk", "status")["strategies"]["fast"]["position"] - venue) < 1e-9
