"""`lighter-trader flatten --strategy NAME` against a running system: a strategy that holds a position
at the venue, with the market frozen so that it cannot close the position itself, is flattened - the
venue's position goes to zero - and risk keeps it halted, refusing its new entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from messages.codec import INTENTS
from messages.orders import OrderIntent
from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, wait_until
from tests.test_operator_system import _cli

ray_session = ray_fixtures.ray_session


@pytest.mark.timeout(90)
def test_flatten_closes_the_position_at_the_venue_and_keeps_the_strategy_out(
        ray_session: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path)
    db = str(settings.storage.db_path)
    with SystemRun(settings, supervise=True) as run:
        def venue_position() -> float:
            return float(run.call("venue-sim", "positions", 2001).get(2, 0.0))

        def frozen_in_a_position() -> bool:
            """The market frozen (no event, so no exit of the strategy's own) while the venue holds
            its position and nothing of it is in flight; else thawed to try again."""
            run.call("venue-sim", "set_faults", {"freeze_feed": True})
            quiet = not any(run.call("router", "open_orders").values()) and not run.call("risk", "status")["inflight"]
            if quiet and venue_position() != 0.0:
                return True
            run.call("venue-sim", "set_faults", {"freeze_feed": False})
            return False

        wait_until(frozen_in_a_position, 60, interval_s=0.05, message="a position at the venue, the market frozen")
        rc, out, err = _cli(capsys, "flatten", "--db", db, "--strategy", "fast", "--reason", "flatten test")
        assert rc == 0 and out.strip() == "flatten (fast): fast", (out, err)
        wait_until(lambda: venue_position() == 0.0, 20, interval_s=0.1, message="the venue's position to be flat")
        risk = run.call("risk", "status")["strategies"]["fast"]
        assert risk["mode"] in ("flattening", "halted") and risk["halt_reason"] == "flatten test", risk
        assert run.call("strategy:fast", "status")["entries_allowed"] is False
        entry = OrderIntent(strategy="fast", account_index=2001, market_id=2, client_order_index=7, side="buy",
                            size=0.1, kind="limit", tif="gtt", reason="entry_long", price=100.0, ts_event=0, seq=1)
        assert run.call("risk", "on_intent", INTENTS.encode(entry)) == "halted"
        run.call("venue-sim", "set_faults", {"freeze_feed": False})
