"""The kill switch and the breakers through the actors (issue 12, item 6).

- A daily-loss trip clears when event time reaches the next UTC day, and the strategy trades
  again, also when it is SIGKILLed right after the reset (it takes its mode from risk at start).
- A persisted Halt(all) followed by a Resume of one strategy restores as it was when risk is
  killed: that strategy trades, the other stays halted.
- Halt, Resume, and a SIGKILL of the strategy 5 ms after the Resume: it comes back allowed.
- flatten_on_exit: after stop the venue shows no position.
"""

from __future__ import annotations

import csv
import gzip
import os
import signal
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from messages.codec import CONTROL, STATE
from messages.control import Halt, Resume
from messages.state import TradeRecord
from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, strategy_entry, wait_until

ray_session = ray_fixtures.ray_session  # the session-wide Ray (a fixture)

NS_PER_S = 1_000_000_000
MIDNIGHT_MS = int(datetime(2025, 5, 6, tzinfo=UTC).timestamp() * 1000)


def candles_around_midnight(source: Path, target: Path, before_min: int, after_min: int) -> Path:
    """The shared SOL candles from `before_min` minutes before 2025-05-06 00:00 UTC to `after_min` after."""
    lo, hi = MIDNIGHT_MS - before_min * 60_000, MIDNIGHT_MS + after_min * 60_000
    with gzip.open(source, "rt", newline="") as f, target.open("w", newline="") as out:
        reader, writer = csv.reader(f), csv.writer(out)
        writer.writerow(next(reader))
        for row in reader:
            if lo <= int(row[0]) < hi:
                writer.writerow(row)
    return target


def sigkill(run: SystemRun, name: str) -> dict[str, float]:
    before = run.stats(name)
    os.kill(int(before["pid"]), signal.SIGKILL)
    return before


def wait_restarted(run: SystemRun, name: str, before: dict[str, float], timeout_s: float = 20.0) -> None:
    def back() -> bool:
        try:
            stats = run.stats(name)
        except Exception:
            return False
        return stats["incarnation_ms"] != before["incarnation_ms"] and stats["ready"] == 1.0

    wait_until(back, timeout_s, interval_s=0.05, message=f"{name} to restart")


def entries_allowed(run: SystemRun, name: str) -> bool:
    return bool(run.call(f"strategy:{name}", "status")["entries_allowed"])


def wait_trading(run: SystemRun, name: str, timeout_s: float = 15.0) -> None:
    """The strategy sends an entry that risk approves: its trade count moves on."""
    start = int(run.call(f"strategy:{name}", "status")["trades"])
    wait_until(lambda: int(run.call(f"strategy:{name}", "status")["trades"]) > start, timeout_s, interval_s=0.1,
               message=f"{name} to trade")


def control(run: SystemRun, command: Halt | Resume) -> list[str]:
    return list(run.call("risk", "control", CONTROL.encode(command)))


def halt(scope: str) -> Halt:
    return Halt(reason="test", scope=scope, issued_by="operator", ts_event=time.time_ns(), seq=1)


def resume(scope: str) -> Resume:
    return Resume(reason="test", scope=scope, issued_by="operator", ts_event=time.time_ns(), seq=2)


@pytest.mark.timeout(60)
def test_a_daily_loss_reset_at_midnight_lets_the_strategy_trade_again_even_killed_right_after(
    ray_session: Any, tmp_path: Path, sol_candles_path: Path
) -> None:
    candles = candles_around_midnight(sol_candles_path, tmp_path / "midnight.csv", before_min=2, after_min=30)
    settings = make_settings(tmp_path, source="candles", source_path=candles, speed=15,
                             venue={"sim": {"history_hours": 0}},
                             risk={"breakers": {"daily_loss_pct": 2.0}})
    with SystemRun(settings) as run:
        now_ns = run.call("risk", "status")["event_time_ns"]
        assert 0 < now_ns < MIDNIGHT_MS * 1_000_000, "the system started after midnight of event time"
        # the strategy's own report of a closed trade (as it sends them to risk): 25 lost, 2.5% of 1000
        trade = TradeRecord(strategy="fast", account_index=2001, market_id=2, side="long", entry_price=150.0,
                            exit_price=149.0, entry_ts=now_ns - NS_PER_S, exit_ts=now_ns, size=0.1, fees=0.0,
                            pnl_quote=-25.0, pnl_pct=-0.7, exit_reason="stop_loss", mfe_bps=0.0, mae_bps=70.0,
                            ts_event=now_ns, seq=1)
        assert run.call("risk", "on_trade_closed", STATE.encode(trade)) == "daily_loss"
        wait_until(lambda: not entries_allowed(run, "fast"), 5, message="the strategy halted by the trip")
        before = run.stats("strategy:fast")  # read first: the kill must follow the reset at once
        wait_until(lambda: not run.call("risk", "status")["strategies"]["fast"]["breaker_tripped"], 30,
                   interval_s=0.002, message="the daily loss reset at midnight")
        os.kill(int(before["pid"]), signal.SIGKILL)
        assert run.call("risk", "status")["event_time_ns"] >= MIDNIGHT_MS * 1_000_000
        wait_restarted(run, "strategy:fast", before)
        assert entries_allowed(run, "fast")
        wait_trading(run, "fast")


def market_settings(tmp_path: Path, sol_candles_path: Path, **overrides: Any) -> Any:
    """SOL candles at 15x (the fast test strategy trades within seconds), no past to serve."""
    candles = candles_around_midnight(sol_candles_path, tmp_path / "sol.csv", before_min=0, after_min=60)
    return make_settings(tmp_path, source="candles", source_path=candles, speed=15,
                         venue={"sim": {"history_hours": 0}}, **overrides)


@pytest.mark.timeout(60)
def test_a_halt_of_all_then_a_resume_of_one_restores_as_it_was_when_risk_is_killed(
    ray_session: Any, tmp_path: Path, sol_candles_path: Path
) -> None:
    settings = market_settings(tmp_path, sol_candles_path,
                               strategies=[strategy_entry("fast", 2001), strategy_entry("other", 2002)])
    with SystemRun(settings) as run:
        assert sorted(control(run, halt("all"))) == ["fast", "other"]
        time.sleep(0.002)  # the Resume is issued after the Halt (their order is their issue time)
        assert control(run, resume("fast")) == ["fast"]
        before = sigkill(run, "risk")
        wait_restarted(run, "risk", before)
        modes = {name: s["mode"] for name, s in run.call("risk", "status")["strategies"].items()}
        assert modes == {"fast": "running", "other": "halted"}
        assert entries_allowed(run, "fast") and not entries_allowed(run, "other")
        wait_trading(run, "fast")


@pytest.mark.timeout(60)
def test_a_strategy_killed_5_ms_after_a_resume_comes_back_allowed(
    ray_session: Any, tmp_path: Path, sol_candles_path: Path
) -> None:
    with SystemRun(market_settings(tmp_path, sol_candles_path)) as run:
        assert control(run, halt("fast")) == ["fast"]
        wait_until(lambda: not entries_allowed(run, "fast"), 5, message="the strategy halted")
        run.call("strategy:fast", "flush")  # its snapshot says halted, durably
        before = run.stats("strategy:fast")
        assert control(run, resume("fast")) == ["fast"]
        time.sleep(0.005)
        os.kill(int(before["pid"]), signal.SIGKILL)
        wait_restarted(run, "strategy:fast", before)
        assert entries_allowed(run, "fast")
        wait_trading(run, "fast")


@pytest.mark.timeout(60)
def test_flatten_on_exit_leaves_no_position_at_the_venue(
    ray_session: Any, tmp_path: Path, sol_candles_path: Path
) -> None:
    import ray

    settings = market_settings(tmp_path, sol_candles_path, flatten_on_exit=True)
    run = SystemRun(settings)
    run.__enter__()
    try:
        wait_until(lambda: run.call("venue-sim", "positions", 2001).get(2, 0.0) != 0.0, 20, interval_s=0.02,
                   message="a position open at the venue")
        run.system.stop(cancel_orders=False, kill=False)
        # the venue's book of the account, read from the simulator after it stopped serving
        assert run.call("venue-sim", "positions", 2001).get(2, 0.0) == 0.0
    finally:
        for child in run.system.children.values():
            ray.kill(child.handle, no_restart=True)
    with sqlite3.connect(settings.storage.db_path) as db:  # not a kill switch the next start restores
        assert db.execute("SELECT count(*) FROM kill_switch").fetchone() == (0,)
