"""End to end: the whole system (supervisor's System, every actor) on the paper venue replaying the
shared SOL 1-minute candles at 60x, with the test-only fast rsi_bb parameters (FAST_RSI_PARAMS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, wait_until

ray_session = ray_fixtures.ray_session  # the session-wide Ray (a fixture)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_places_fills_and_closes_trades_with_storage_risk_and_venue_agreeing(
    ray_session: Any, tmp_path: Path, sol_candles_path: Path
) -> None:
    settings = make_settings(tmp_path, source="candles", source_path=sol_candles_path, speed=60)
    with SystemRun(settings) as run:
        wait_until(lambda: run.trades_closed() >= 4, 120, interval_s=0.5, message="four closed trades")
        run.quiesce()
        facts = run.check_invariants()
        assert facts["fills"] >= 8
        # the closed trades reached storage with their records
        from storage import StorageReader

        with StorageReader(settings.storage.db_path) as db:
            trades = db.trades_since(0, strategy="fast")
            orders = db.orders(strategy="fast")
            candles = db.candles("fast", 2, 2)
        assert len(trades) >= 4
        assert all(t.exit_reason for t in trades)
        assert all(t.entry_ts < t.exit_ts for t in trades)
        # every order reaching the venue was journaled before it was sent
        journaled = {(o.account_index, o.client_order_index) for o in orders}
        assert {(a, coi) for a, coi, _t, _c in facts["created"]} <= journaled
        # the router sends over the venue's websocket (jsonapi/sendtx), the default
        venue_counters = run.call("venue-sim", "state")["counters"]
        assert venue_counters["ws_txs"] >= len(facts["created"]) > 0
        assert candles, "closed candles are persisted"
        status = run.call("risk", "status")
        assert status["counts"].get("approved", 0) >= 8
        # an online backup while the writer keeps writing
        backup = Path(run.call("persistence", "backup_now"))
        assert backup.is_file() and backup.parent == settings.storage.backup_dir.resolve()
        with StorageReader(backup) as copy:
            assert len(copy.fills_since(0)) >= facts["fills"]
