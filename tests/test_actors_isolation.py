"""Isolation (DESIGN invariant 5): two strategies on two accounts only ever trade on their own."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, strategy_entry, wait_until

ray_session = ray_fixtures.ray_session  # the session-wide Ray (a fixture)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_strategies_trade_only_on_their_own_accounts(
    ray_session: Any, tmp_path: Path, sol_candles_path: Path
) -> None:
    from messages.codec import INTENTS
    from messages.orders import OrderIntent
    from venue.order_client import client_order_index_for, strategy_tag

    settings = make_settings(tmp_path, source="candles", source_path=sol_candles_path, speed=60,
                             strategies=[strategy_entry("alpha", 4001), strategy_entry("beta", 4002)])
    with SystemRun(settings) as run:
        def both_traded() -> bool:
            return all(run.call(f"strategy:{n}", "status")["trades"] >= 2 for n in ("alpha", "beta"))

        wait_until(both_traded, 120, interval_s=0.5, message="both strategies to close trades")
        # a strategy asking for an order on the other's account is refused by risk
        top = run.call("feed", "book_top", 2)
        forged = OrderIntent(strategy="alpha", account_index=4002, market_id=2,
                             client_order_index=client_order_index_for("alpha", 888_888), side="buy", size=0.1,
                             kind="market", tif="ioc", reason="forged", worst_price=round(top[1] * 1.001, 3),
                             ts_event=time.time_ns(), seq=1)
        assert run.call("risk", "on_intent", INTENTS.encode(forged)) == "wrong_account"
        run.quiesce()
        facts = run.check_invariants()  # includes: every stored fill's strategy owns its account
        assert facts["fills"] >= 8
        # at the venue: each account's orders carry only its own strategy's client order index tag
        for account, name in ((4001, "alpha"), (4002, "beta")):
            tags = {(coi >> 32) & 0x7FFF for a, coi, _at, _code in facts["created"] if a == account}
            assert tags == {strategy_tag(name)}, (account, tags)
            trades = run.call("venue-sim", "account_trades", account)
            assert trades and {(t["client_order_index"] >> 32) & 0x7FFF for t in trades} == {strategy_tag(name)}
        assert not any(coi == forged.client_order_index for _a, coi, _t, _c in facts["created"])
