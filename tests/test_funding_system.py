"""Hourly funding end to end (issue 13): a strategy holds a position across several hours of event
time in a 1000x replay; the paper venue charges it every hour, and the venue's accumulated funding,
risk's and the sum stored in SQLite agree (to 1e-9), non-zero - also after the router was killed
and its new account snapshot delivered the recent payments a second time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, wait_until
from tests.test_kill import wait_restarted

ray_session = ray_fixtures.ray_session

SPEED = 1000.0  # an hour of market time every 3.6 s
RATE = 0.001  # 0.1% an hour: a 0.1 SOL position pays about 0.017 USDC an hour
ACCOUNT, MARKET = 2001, 2


@pytest.mark.timeout(150)
def test_funding_of_a_held_position_is_the_same_at_the_venue_in_risk_and_in_storage(
    ray_session: Any, tmp_path: Path, sol_candles_path: Path
) -> None:
    import ray

    from storage import StorageReader

    settings = make_settings(tmp_path, source="candles", source_path=sol_candles_path, speed=SPEED,
                             venue={"sim": {"funding_rate_per_hour": RATE}}, risk={"reconcile_interval_s": 2.0})
    with SystemRun(settings) as run:
        def venue() -> dict[str, Any]:
            return dict(run.call("venue-sim", "funding", ACCOUNT))

        def payments_on_held() -> int:
            return sum(1 for market, _, change in venue()["payments"] if market == MARKET and change)

        def frozen_in_a_position() -> bool:
            """The market data frozen (the strategy sees nothing, so it cannot exit) while the venue
            holds its position and nothing is in flight; event time goes on at the venue."""
            run.call("venue-sim", "set_faults", {"freeze_feed": True})
            quiet = not any(run.call("router", "open_orders").values()) and not run.call("risk", "status")["inflight"]
            if quiet and run.call("venue-sim", "positions", ACCOUNT).get(MARKET, 0.0) != 0.0:
                return True
            run.call("venue-sim", "set_faults", {"freeze_feed": False})
            return False

        try:
            def position_at_venue() -> bool:
                return run.call("venue-sim", "positions", ACCOUNT).get(MARKET, 0.0) != 0.0

            for _attempt in range(3):  # an exit decided just before the freeze may still close it: again
                wait_until(frozen_in_a_position, 60, interval_s=0.05, message="a position at the venue, data frozen")
                held = payments_on_held()

                def two_hours_or_closed(start: int = held) -> bool:
                    return payments_on_held() >= start + 2 or not position_at_venue()

                wait_until(two_hours_or_closed, 30, interval_s=0.2, message="two hours of funding on the held position")
                if payments_on_held() >= held + 2:
                    break
                run.call("venue-sim", "set_faults", {"freeze_feed": False})
            assert payments_on_held() >= held + 2, "the position closed before two hours of funding, three times"
            # a new router subscribes again: the snapshot repeats the recent payments
            before = run.stats("router")
            ray.kill(run.system.handle("router"), no_restart=False)
            wait_restarted(run, "router", before)
            wait_until(lambda: payments_on_held() >= held + 3, 30, interval_s=0.2, message="another hour")
            run.call("venue-sim", "set_faults", {"freeze_feed": False})
            run.quiesce()
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{run.diagnose()}") from None

        def three_views() -> tuple[dict[str, Any], float, list[Any]] | None:
            """The venue's, risk's and storage's funding read within one hour of event time (the
            position may still be open, so funding goes on): None when an hour fell between."""
            first = venue()
            risk = run.call("risk", "position", ACCOUNT, MARKET)["funding"]
            run.call("persistence", "flush")
            with StorageReader(settings.storage.db_path) as db:
                stored = db.funding_since(0, account_index=ACCOUNT)
            if venue()["payments"] != first["payments"]:
                return None
            paid_out = first["paid_out"][MARKET]
            if abs(risk + paid_out) > 1e-9 or abs(sum(p.change for p in stored) + paid_out) > 1e-9:
                return None  # a payment on its way to risk or storage
            return first, risk, stored

        try:
            at_venue, risk_funding, stored = wait_until(three_views, 30, interval_s=0.2,
                                                        message="the same funding at the venue, in risk, in storage")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nvenue {venue()}\n{run.diagnose()}") from None
        paid_out = at_venue["paid_out"][MARKET]
        assert paid_out != 0.0 and risk_funding == pytest.approx(-paid_out, abs=1e-9)
        # every payment stored once, the venue's own (its hours and amounts), nothing else
        venue_rows = sorted((market, ts_ms * 1_000_000, change) for market, ts_ms, change in at_venue["payments"])
        assert sorted((p.market_id, p.ts_event, p.change) for p in stored) == venue_rows
        assert len({(p.market_id, p.ts_event) for p in stored}) == len(stored) >= 3
        assert {p.strategy for p in stored} == {"fast"}
        status = run.call("risk", "status")
        assert status["funding_mismatches"] == 0, status
        assert status["strategies"]["fast"]["funding"] == pytest.approx(-paid_out, abs=1e-9)
        assert run.stats("persistence")["duplicate_funding"] >= 1  # the new router's snapshot repeated some
        run.check_invariants()
