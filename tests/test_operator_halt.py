"""`lighter-trader halt` on a strategy that holds a position: its exit still reaches the venue (the
position goes to zero there) while risk refuses its new entries; `resume` lets it enter again."""

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


@pytest.mark.timeout(120)
def test_a_halted_strategy_exits_but_does_not_enter_until_resumed(ray_session: Any, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path)
    db = str(settings.storage.db_path)
    with SystemRun(settings, supervise=True) as run:
        def venue_position() -> float:
            return float(run.call("venue-sim", "positions", 2001).get(2, 0.0))

        def halted_in_a_position() -> bool:
            if venue_position() == 0.0:
                return False
            rc, _, err = _cli(capsys, "halt", "--db", db, "--strategy", "fast", "--reason", "lunch")
            assert rc == 0, err
            if venue_position() != 0.0:
                return True
            _cli(capsys, "resume", "--db", db, "--strategy", "fast")  # closed meanwhile: again
            return False

        wait_until(halted_in_a_position, 60, interval_s=0.05, message="a halt while the strategy holds a position")
        # the exit passes: the venue's position goes to zero
        wait_until(lambda: venue_position() == 0.0, 60, interval_s=0.1, message="the exit to reach the venue")
        assert run.call("risk", "status")["strategies"]["fast"]["mode"] == "halted"
        assert run.call("strategy:fast", "status")["entries_allowed"] is False  # told, it sends none
        # and an entry that reaches risk all the same is refused there
        entry = OrderIntent(strategy="fast", account_index=2001, market_id=2, client_order_index=7, side="buy",
                            size=0.1, kind="limit", tif="gtt", reason="entry_long", price=100.0, ts_event=0, seq=1)
        assert run.call("risk", "on_intent", INTENTS.encode(entry)) == "halted"
        rc, _, err = _cli(capsys, "resume", "--db", db, "--strategy", "fast")
        assert rc == 0, err
        wait_until(lambda: venue_position() != 0.0, 60, interval_s=0.1, message="an entry after resume")
