"""The market maker on the actor system, beside the three directional strategies, each on its own
account of the paper venue: it quotes both sides and is filled on both, stays within its inventory
cap, price band and cancel cap, and every fill in SQLite matches the venue. Its actor and then the
router are killed mid-run: afterwards no order rests at the venue that the maker does not know, and
its inventory comes back from SQLite and the venue, and its quotes move at the venue again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import ray_fixtures
from tests.ray_fixtures import FAST_RSI_PARAMS, SystemRun, make_settings, strategy_entry, wait_until
from tests.test_kill import kill, wait_restarted

ray_session = ray_fixtures.ray_session  # the session-wide Ray (a fixture)

MAKER, MAKER_ACCOUNT = "strategy:mm", 3004
BAND_BPS, MAX_UNITS, CANCEL_CAP = 50.0, 0.3, 30


# TEST-ONLY maker parameters that quote close to the touch and rarely pause, so that a short run of
# the synthetic market fills both sides (the defaults quote 3.5-6.5 bps out and pause when calm: on
# this market two runs of 40 market minutes filled them 4 times and not at all); every guard keeps its
# default
FAST_MAKER_PARAMS: dict[str, Any] = {
    "spread_bps": 2.0, "vol_band_min_bps": 1.0, "vol_band_max_bps": 3.0, "low_vol_pause_bps": 0.0,
    "low_vol_resume_bps": 0.0, "trend_down_bps": -1000.0, "trend_up_bps": 1000.0, "trend_resume_bps": 1000.0,
    "vol_warmup_samples": 5, "defensive_extra_bps": 0.0,
}


def settings(tmp_path: Path) -> Any:
    maker = {**strategy_entry("mm", MAKER_ACCOUNT, kind="market_maker", params=FAST_MAKER_PARAMS), "size_min": 0.061,
             "size_max": 0.15, "breakers": {"max_consecutive_losses": 1000, "daily_loss_pct": 100.0,
                                            "max_drawdown_pct": 100.0}}
    strategies = [strategy_entry("fast", 3001, params=FAST_RSI_PARAMS),
                  strategy_entry("renko", 3002, kind="renko_ao", params={}),
                  strategy_entry("breakout", 3003, kind="breakout", params={}), maker]
    # a lively synthetic market at 20x: several market minutes in a few seconds of the test
    return make_settings(tmp_path, speed=20.0, strategies=strategies)


def maker_view(run: SystemRun) -> dict[str, Any]:
    status = run.call(MAKER, "status")
    venue = run.call("venue-sim", "resting_orders", MAKER_ACCOUNT)
    return {"status": status, "venue": venue, "known": {o["coi"] for o in status["orders"]}}


def check_quotes(view: dict[str, Any]) -> None:
    """Inventory within the cap, every resting quote within the band of the mid, requotes within the
    cancel cap."""
    st = view["status"]
    assert abs(st["inventory"]) <= MAX_UNITS + 0.15 + 1e-9, st["inventory"]  # + one hedge clip in flight
    mid = st["mark"]
    for order in view["venue"]:
        assert abs(order["price"] - mid) / mid * 1e4 <= BAND_BPS + 1.0, (order, mid)
    # requotes never beyond the cap (cancels that take risk off go out whatever it says)
    assert st["requote_cancels_peak_minute"] <= CANCEL_CAP, st["requote_cancels_peak_minute"]


def no_orphans(run: SystemRun) -> bool:
    """Every order resting on the maker's account is one the maker knows."""
    view = maker_view(run)
    return {o["client_order_index"] for o in view["venue"]} <= view["known"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_maker_quotes_fills_both_sides_and_survives_kills_of_itself_and_the_router(ray_session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with SystemRun(settings(tmp_path), supervise=True) as run:
        def filled_both_sides() -> bool:
            sides = {t["side"] for t in run.call("venue-sim", "account_trades", MAKER_ACCOUNT)}
            check_quotes(maker_view(run))
            return sides == {"buy", "sell"}

        wait_until(filled_both_sides, 120, interval_s=0.5, message="maker fills on both sides")
        for victim, how in ((MAKER, "sigkill"), ("router", "ray.kill")):
            before = kill(run, victim, how)
            wait_restarted(run, victim, before)
            wait_until(lambda: no_orphans(run), 30, interval_s=0.3, message=f"no orphan quote after {victim} died")
            venue = run.call("venue-sim", "positions", MAKER_ACCOUNT).get(2, 0.0)
            wait_until(lambda v=venue: abs(run.call(MAKER, "status")["inventory"]  # type: ignore[misc]
                                           - run.call("venue-sim", "positions", MAKER_ACCOUNT).get(2, 0.0)) < 1e-9,
                       30, interval_s=0.3, message=f"the maker's inventory to match the venue's ({venue})")
            # quoting goes on: the venue sees the maker's quotes move (requotes through the new router)
            seen = {(o["client_order_index"], o["price"]) for o in maker_view(run)["venue"]}
            wait_until(lambda seen=seen: bool({(o["client_order_index"], o["price"])  # type: ignore[misc]
                                               for o in maker_view(run)["venue"]} - seen),
                       60, interval_s=0.3, message=f"the maker's quotes to move at the venue after {victim} died")
            check_quotes(maker_view(run))
        run.system.control("halt", "end of test")  # the maker cancels its quotes; nothing new goes out
        wait_until(lambda: not run.call("venue-sim", "resting_orders", MAKER_ACCOUNT), 30, interval_s=0.3,
                   message="the maker's quotes canceled on halt")
        run.quiesce()
        facts = run.check_invariants()  # every fill stored once and matching the venue; positions agree
        assert facts["fills"] > 0
        maker_fills = [f for f in run.db_fills() if f.account_index == MAKER_ACCOUNT]
        assert {f.side for f in maker_fills} == {"buy", "sell"}
        # its FIFO round trips are trades in storage (what query_pnl reports), their PnL the maker's own
        from storage import StorageReader

        with StorageReader(run.settings.storage.db_path) as db:
            trades = db.trades_since(0, strategy="mm")
        status = run.call(MAKER, "status")
        assert trades and all(t.exit_reason.startswith("fifo_") for t in trades)
        assert abs(sum(t.pnl_quote for t in trades) - status["fifo_realized_quote"]) < 1e-9
